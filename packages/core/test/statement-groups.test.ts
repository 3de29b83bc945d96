import { describe, expect, it } from 'vitest';
import { StatementGroups } from '../src/store/statement-groups.js';

describe('StatementGroups', () => {
  it('runs a call at once when few run, and groups those that come while the statements run', async () => {
    const groups: number[][] = [];
    const ends: Array<() => void> = [];
    const statements = new StatementGroups<number>({
      statements: 2,
      take: (queue) => queue.splice(0, 3),
      run: (group) => {
        groups.push(group);
        return new Promise<void>((resolve) => ends.push(resolve));
      },
    });
    for (const call of [1, 2, 3, 4, 5, 6, 7]) statements.add(call);
    // Two statements at once, each of one call; the rest wait.
    expect(groups).toEqual([[1], [2]]);
    ends.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(groups).toEqual([[1], [2], [3, 4, 5]]);
    ends.shift()?.();
    ends.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(groups).toEqual([[1], [2], [3, 4, 5], [6, 7]]);
  });
});
