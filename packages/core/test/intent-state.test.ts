import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/audit-event.js';
import { applyEvent, type IntentState } from '../src/engine/intent-state.js';
import type { HumanTask } from '../src/index.js';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

let seq = 0;
function event(type: AuditEvent['type'], data: Record<string, unknown>, taskId?: string): AuditEvent {
  seq++;
  return {
    id: `e${seq}`,
    intentId: 'int_x',
    seq,
    type,
    at: `2026-11-25T10:00:0${seq % 10}.000Z`,
    actor: null,
    ...(taskId ? { taskId } : {}),
    data,
    prevHash: null,
    hash: `h${seq}`,
  };
}

function task(id: string): HumanTask {
  return {
    id,
    intentId: 'int_x',
    type: 'approval',
    title: 't',
    context: { draft: { lines: ['a'] } },
    versionDigest: 'sha256:0',
    assignees: ['a', 'b'],
    originalAssignees: ['a', 'b'],
    quorum: 2,
    allowedOutcomes: ['approved', 'rejected'],
    status: 'pending',
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:00.000Z',
    remindersSent: 0,
    escalateTo: [{ assignee: 'c', timeoutMs: 1000 }],
    escalationLevel: 0,
    reassign: false,
    onTimeout: 'fail',
    votes: [],
  };
}

describe('applyEvent', () => {
  it('folds events into a new state and never changes the state it was given', () => {
    const steps: Array<(state: IntentState | undefined) => AuditEvent> = [
      () => event('intent-submitted', { type: 'deploy', input: { v: 1 } }),
      () => event('task-created', { task: task('tsk_x.1') }, 'tsk_x.1'),
      () => event('task-created', { task: task('tsk_x.2') }, 'tsk_x.2'),
      () => event('task-reminded', { reminder: 1 }, 'tsk_x.1'),
      () => event('task-escalated', { level: 1, assignees: ['a', 'b', 'c'], deadlineAt: 'x' }, 'tsk_x.1'),
      () => event('task-voted', { vote: { actor: { id: 'a' }, outcome: 'approved', at: 'x' } }, 'tsk_x.1'),
      () => event('task-decided', { decision: { outcome: 'approved' } }, 'tsk_x.1'),
      () => event('intent-canceled', { reason: 'done' }),
    ];
    let state: IntentState | undefined;
    const seen: IntentState[] = [];
    for (const step of steps) {
      const before = state === undefined ? undefined : structuredClone(state);
      const next = applyEvent(state === undefined ? undefined : deepFreeze(state), step(state));
      if (state !== undefined) expect(state).toEqual(before);
      seen.push(next);
      state = next;
    }
    const final = state as IntentState;
    expect(final.intent).toMatchObject({ status: 'CANCELED', seq: 8 });
    expect(final).toMatchObject({ taskCount: 2, newTaskIds: ['tsk_x.1', 'tsk_x.2'], pendingTaskIds: [] });
    expect(final.changed).toEqual(['tsk_x.2']);
    expect(final.tasks['tsk_x.1']).toMatchObject({
      status: 'decided',
      remindersSent: 1,
      escalationLevel: 1,
      assignees: ['a', 'b', 'c'],
    });
    expect(final.tasks['tsk_x.1']?.votes).toHaveLength(1);
    expect(final.tasks['tsk_x.2']?.status).toBe('canceled');
    // Earlier states keep what they said.
    expect(seen[2]?.tasks['tsk_x.1']?.status).toBe('pending');
    expect(seen[4]?.tasks['tsk_x.1']?.votes).toHaveLength(0);
  });

  it('applies an event about a task the state does not hold to the header alone', () => {
    seq = 0;
    let state = applyEvent(undefined, event('intent-submitted', { type: 'deploy', input: null }));
    state = applyEvent(state, event('task-created', { task: task('tsk_x.1') }, 'tsk_x.1'));
    state = applyEvent(state, event('task-created', { task: task('tsk_x.2') }, 'tsk_x.2'));
    // Held: only the second task (as a state read for it from the records would).
    const { 'tsk_x.1': _dropped, ...rest } = state.tasks;
    const partial = deepFreeze({ ...state, tasks: rest });
    const decided = applyEvent(
      partial,
      event('task-decided', { decision: { outcome: 'approved' } }, 'tsk_x.1'),
    );
    expect(decided.tasks['tsk_x.1']).toBeUndefined();
    expect(decided.pendingTaskIds).toEqual(['tsk_x.2']);
    expect(decided.intent.status).toBe('WAITING');
    expect(decided.changed).toEqual([]);
    const canceled = applyEvent(decided, event('intent-canceled', {}));
    expect(canceled.tasks['tsk_x.2']?.status).toBe('canceled');
    expect(canceled.changed).toEqual(['tsk_x.2']);
    expect(canceled.pendingTaskIds).toEqual([]);
    expect(canceled.taskCount).toBe(2);
  });
});
