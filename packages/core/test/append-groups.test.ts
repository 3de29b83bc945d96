import { describe, expect, it } from 'vitest';
import { mergeAppends, takeGroup } from '../src/store/append-groups.js';
import { checkEventAppends } from '../src/store/feed-arguments.js';
import type { EventWrites } from '../src/store/store-backend.js';

/** An append of one event with key `key`, as a store has it after checking. */
function append(key: string, writes: EventWrites = {}) {
  return checkEventAppends(
    [{ key, value: '{}', feed: { intentId: 'int_a', seq: 1, assignees: [] } }],
    writes,
  );
}

describe('takeGroup', () => {
  it('takes appends that write no row in common, and leaves the others queued in order', () => {
    const queue = [
      { id: 1, append: append('ev:a:1', { records: [{ key: 'rec:a', value: '1' }] }) },
      { id: 2, append: append('ev:a:1') },
      { id: 3, append: append('ev:b:1', { indexAdd: [{ index: 'list', member: 'b', score: 1 }] }) },
      // Shares its key with 1 (taken) and with 2 (left): it stays too, behind 2.
      { id: 4, append: append('ev:a:1') },
      { id: 5, append: append('ev:d:1', { indexRemove: [{ index: 'list', member: 'b' }] }) },
      { id: 6, append: append('ev:e:1', { counters: [{ counter: 'count', delta: 1 }] }) },
    ];
    expect(takeGroup(queue, 10).map((item) => item.id)).toEqual([1, 3, 6]);
    expect(queue.map((item) => item.id)).toEqual([2, 4, 5]);
    expect(takeGroup(queue, 10).map((item) => item.id)).toEqual([2, 5]);
    expect(takeGroup(queue, 10).map((item) => item.id)).toEqual([4]);
    expect(queue).toEqual([]);
  });

  it('takes at most `max`, and leaves the rest in order', () => {
    const queue = ['a', 'a', 'b', 'c', 'd'].map((name, id) => ({ id, append: append(`ev:${name}:1`) }));
    expect(takeGroup(queue, 2).map((item) => item.id)).toEqual([0, 2]);
    expect(queue.map((item) => item.id)).toEqual([1, 3, 4]);
  });
});

describe('mergeAppends', () => {
  it('puts the rows side by side in key order, sums counters and keeps each message', () => {
    const merged = mergeAppends([
      append('ev:b:1', {
        indexAdd: [{ index: 'list', member: 'b', score: 2 }],
        counters: [
          { counter: 'pending', delta: 1 },
          { counter: 'done', delta: -1 },
        ],
        records: [{ key: 'rec:b', value: 'b' }],
        message: 'wake:b',
      }),
      append('ev:a:1', {
        indexAdd: [{ index: 'list', member: 'a', score: 1 }],
        counters: [
          { counter: 'pending', delta: 1 },
          { counter: 'done', delta: 1 },
        ],
        records: [{ key: 'rec:a', value: 'a' }],
      }),
    ]);
    expect(merged.events.map((event) => event.key)).toEqual(['ev:b:1', 'ev:a:1']);
    expect(merged.writes.indexAdd.map((entry) => entry.member)).toEqual(['a', 'b']);
    expect(merged.writes.records.map((record) => record.key)).toEqual(['rec:a', 'rec:b']);
    // `done` sums to zero: not written.
    expect(merged.writes.counters).toEqual([{ counter: 'pending', delta: 2 }]);
    expect(merged.messages).toEqual(['wake:b']);
  });
});
