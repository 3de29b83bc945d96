// What an event writes besides itself (task-lists.ts) and how listTasks reads (task-queries.ts):
// pure functions of the intent's states, a query and the time, without a store.
import { describe, expect, it } from 'vitest';
import { normalizeDecision } from '../src/engine/options.js';
import {
  everAssigned,
  feedRecordOf,
  listEntries,
  listWrites,
  taskCounters,
} from '../src/engine/task-lists.js';
import {
  compareEntries,
  decodeListCursor,
  encodeListCursor,
  listIndexOf,
  normalizeListQuery,
  taskMatches,
} from '../src/engine/task-queries.js';
import { type Change, deadlinePassed, decideTask } from '../src/engine/task-rules.js';
import type { AuditEvent } from '../src/index.js';
import { layout, taskEntry } from '../src/store/layout.js';
import { apply, hour, t0, withTask } from './helpers/rules.js';

const ann = 'ann@acme.test';
const deputy = 'deputy@acme.test';

/** A pending task with a deadline and an escalation step; the same task escalated; then decided by the delegate. */
function lifecycle() {
  const { state: created, task } = withTask({ timeout: '1h', escalateTo: [deputy] });
  const escalated = apply(created, deadlinePassed(created, task.id, 0, t0 + hour) as Change, t0 + hour);
  const decision = normalizeDecision({ outcome: 'approved', actor: deputy });
  const decided = apply(
    escalated,
    decideTask(escalated, task.id, decision, t0 + 2 * hour) as Change,
    t0 + 2 * hour,
  );
  return { created, escalated, decided, taskId: task.id };
}

describe('the list entries and counters of a task', () => {
  it('puts a pending task in its status, type and assignee lists, and by deadline', () => {
    const { created, taskId } = lifecycle();
    const task = created.tasks[taskId];
    if (!task) throw new Error('no task');
    const { member, score } = taskEntry(task);
    const deadline = Date.parse(task.deadlineAt as string);
    expect(listEntries(task)).toEqual([
      { index: layout.listAll, member, score },
      { index: layout.listStatus('pending'), member, score },
      { index: layout.listType('approval'), member, score },
      { index: layout.listTypeStatus('approval', 'pending'), member, score },
      { index: layout.listAssignee(ann), member, score },
      { index: layout.listAssigneeStatus('pending', ann), member, score },
      { index: layout.listDeadline, member, score: deadline },
      { index: layout.listAssigneeDeadline(ann), member, score: deadline },
    ]);
    expect(taskCounters(task)).toEqual([
      layout.countStatus('pending'),
      layout.countAssigneeStatus('pending', ann),
    ]);
  });

  it('moves a task between lists and counters exactly as an event changes it', () => {
    const { created, escalated, decided, taskId } = lifecycle();
    const member = taskId;
    // Created: every entry and counter added, nothing removed.
    const first = listWrites(undefined, created);
    expect(first.indexRemove).toEqual([]);
    expect(first.indexAdd?.map((entry) => entry.index)).toHaveLength(8);
    expect(first.counters).toEqual([
      { counter: layout.countStatus('pending'), delta: 1 },
      { counter: layout.countAssigneeStatus('pending', ann), delta: 1 },
    ]);
    // Escalated: the delegate joins the pending lists and counts; the deadline moves.
    const second = listWrites(created, escalated);
    expect(second.indexRemove).toEqual([]);
    expect(second.indexAdd?.map((entry) => entry.index).sort()).toEqual(
      [
        layout.listAssignee(deputy),
        layout.listAssigneeStatus('pending', deputy),
        layout.listDeadline,
        layout.listAssigneeDeadline(ann),
        layout.listAssigneeDeadline(deputy),
      ].sort(),
    );
    expect(second.counters).toEqual([{ counter: layout.countAssigneeStatus('pending', deputy), delta: 1 }]);
    // Decided: out of every pending and deadline list, into the decided ones of everyone it was given to.
    const third = listWrites(escalated, decided);
    expect(third.indexRemove?.map((entry) => entry.index).sort()).toEqual(
      [
        layout.listStatus('pending'),
        layout.listTypeStatus('approval', 'pending'),
        layout.listAssigneeStatus('pending', ann),
        layout.listAssigneeStatus('pending', deputy),
        layout.listDeadline,
        layout.listAssigneeDeadline(ann),
        layout.listAssigneeDeadline(deputy),
      ].sort(),
    );
    expect(third.indexRemove?.every((entry) => entry.member === member)).toBe(true);
    expect(third.indexAdd?.map((entry) => entry.index).sort()).toEqual(
      [
        layout.listStatus('decided'),
        layout.listTypeStatus('approval', 'decided'),
        layout.listAssigneeStatus('decided', ann),
        layout.listAssigneeStatus('decided', deputy),
      ].sort(),
    );
    expect([...(third.counters ?? [])].sort((a, b) => (a.counter < b.counter ? -1 : 1))).toEqual(
      [
        { counter: layout.countStatus('pending'), delta: -1 },
        { counter: layout.countStatus('decided'), delta: 1 },
        { counter: layout.countAssigneeStatus('pending', ann), delta: -1 },
        { counter: layout.countAssigneeStatus('pending', deputy), delta: -1 },
        { counter: layout.countAssigneeStatus('decided', ann), delta: 1 },
        { counter: layout.countAssigneeStatus('decided', deputy), delta: 1 },
      ].sort((a, b) => (a.counter < b.counter ? -1 : 1)),
    );
    expect(everAssigned(decided.tasks[taskId] as NonNullable<(typeof decided.tasks)[string]>)).toEqual([
      ann,
      deputy,
    ]);
  });

  it('gives the feed record everyone assigned to the tasks the event changed', () => {
    const { escalated, decided, taskId } = lifecycle();
    const event = { intentId: 'int_rules', seq: decided.intent.seq, taskId } as AuditEvent;
    expect(feedRecordOf(escalated, decided, event)).toEqual({
      intentId: 'int_rules',
      seq: decided.intent.seq,
      taskId,
      assignees: [ann, deputy],
    });
  });
});

describe('how listTasks reads', () => {
  const now = t0 + 2 * hour;

  it('picks the list that answers each query, and none where nothing can match', () => {
    const query = (options: Parameters<typeof normalizeListQuery>[0]) =>
      listIndexOf(normalizeListQuery(options), now);
    expect(query({})).toEqual({ index: layout.listAll });
    expect(query({ status: 'decided' })).toEqual({ index: layout.listStatus('decided') });
    expect(query({ assignee: ann })).toEqual({ index: layout.listAssignee(ann) });
    expect(query({ assignee: ann, status: 'pending', type: 'review' })).toEqual({
      index: layout.listAssigneeStatus('pending', ann),
    });
    expect(query({ type: 'review', status: 'canceled' })).toEqual({
      index: layout.listTypeStatus('review', 'canceled'),
    });
    expect(query({ overdue: true })).toEqual({ index: layout.listDeadline, max: now });
    expect(query({ overdue: true, assignee: ann })).toEqual({
      index: layout.listAssigneeDeadline(ann),
      max: now,
    });
    expect(query({ overdue: true, status: 'decided' })).toEqual({});
  });

  it('checks a task against every filter, the assignee by who may decide while it is pending', () => {
    const { escalated, decided, taskId } = lifecycle();
    const pending = escalated.tasks[taskId] as NonNullable<(typeof escalated.tasks)[string]>;
    const done = decided.tasks[taskId] as NonNullable<(typeof decided.tasks)[string]>;
    const matches = (task: typeof pending, options: Parameters<typeof normalizeListQuery>[0], at = now) =>
      taskMatches(task, normalizeListQuery(options), at);
    expect(matches(pending, { assignee: deputy, status: 'pending' })).toBe(true);
    expect(matches(pending, { type: 'review' })).toBe(false);
    // After the escalation at t0 + 1 h its deadline is the step's: one more hour.
    expect(pending.deadlineAt).toBe(new Date(t0 + 2 * hour).toISOString());
    expect(matches(pending, { overdue: true }, t0 + 2 * hour)).toBe(false);
    expect(matches(pending, { overdue: true }, t0 + 2 * hour + 1)).toBe(true);
    expect(matches(pending, { overdue: false, status: 'pending' }, t0 + 2 * hour)).toBe(true);
    expect(matches(done, { status: 'decided', assignee: ann })).toBe(true);
    expect(matches(done, { status: 'pending' })).toBe(false);
    expect(matches(done, { overdue: true })).toBe(false);
  });

  it('reads on from a cursor in the lists’ order, and refuses one it did not give', () => {
    const entries = [
      { score: -2, member: 'tsk_b' },
      { score: -2, member: 'tsk_a' },
      { score: -3, member: 'tsk_c' },
    ].sort(compareEntries);
    expect(entries.map((entry) => entry.member)).toEqual(['tsk_c', 'tsk_a', 'tsk_b']);
    for (const entry of entries) expect(decodeListCursor(encodeListCursor(entry))).toEqual(entry);
    for (const bad of ['nope', 42, Buffer.from('[1]').toString('base64url'), 'x'.repeat(2_001)])
      expect(() => decodeListCursor(bad)).toThrow(/listTasks\.cursor is not a cursor listTasks returned/);
    expect(() => normalizeListQuery({ limit: 0 })).toThrow(
      /listTasks\.limit must be an integer from 1 to 10000/,
    );
    expect(() => normalizeListQuery({ type: 'vote' as never })).toThrow(/listTasks\.type must be one of/);
  });
});
