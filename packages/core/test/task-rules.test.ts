// The task rules as pure functions of state, input and time: no store, no engine, no clock.
import { describe, expect, it } from 'vitest';
import {
  type NormalizedDecision,
  normalizeDecision,
  normalizeNote,
  normalizeRequest,
  requestDifferences,
} from '../src/engine/options.js';
import {
  type Change,
  cancelIntent,
  cancelTask,
  completeIntent,
  createTask,
  deadlinePassed,
  decideTask,
  escalationDeadline,
  initialTimers,
  nextReminder,
  noteTask,
  remindTask,
  resultOf,
  tasksEndedBy,
  timerIdsOf,
} from '../src/engine/task-rules.js';
import type { HumanTask } from '../src/index.js';
import { apply, hour, minute, t0, withTask } from './helpers/rules.js';

function decision(input: Record<string, unknown>): NormalizedDecision {
  return normalizeDecision({ outcome: 'approved', actor: 'ann@acme.test', ...input });
}

function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a refusal');
}

describe('who may decide, and what a decision must carry', () => {
  it('lets a current assignee decide, and records who, what, when and which version', () => {
    const { state, task } = withTask({ context: { amount: 10 } });
    const change = decideTask(
      state,
      task.id,
      decision({ comment: 'ok', versionDigest: task.versionDigest }),
      t0 + minute,
    );
    expect(change).toMatchObject({
      type: 'task-decided',
      taskId: task.id,
      actor: { id: 'ann@acme.test' },
      data: {
        decision: {
          outcome: 'approved',
          comment: 'ok',
          decidedBy: 'human',
          decidedAt: new Date(t0 + minute).toISOString(),
          versionDigest: task.versionDigest,
        },
      },
    });
  });

  it('refuses someone not assigned, unless the caller authorised an admin', () => {
    const { state, task } = withTask();
    expect(refusal(() => decideTask(state, task.id, decision({ actor: 'mallory@acme.test' }), t0)).code).toBe(
      'NOT_ASSIGNED',
    );
    const change = decideTask(state, task.id, decision({ actor: 'admin@acme.test', asAdmin: true }), t0);
    expect(change).toMatchObject({ type: 'task-decided', data: { asAdmin: true } });
  });

  it('refuses a stale version, an outcome not allowed, and a task that has ended', () => {
    const { state, task } = withTask();
    expect(
      refusal(() => decideTask(state, task.id, decision({ versionDigest: 'sha256:other' }), t0)).code,
    ).toBe('STALE_VERSION');
    expect(refusal(() => decideTask(state, task.id, decision({ outcome: 'maybe' }), t0)).code).toBe(
      'INVALID_OUTCOME',
    );
    const decided = apply(state, decideTask(state, task.id, decision({}), t0), t0);
    expect(refusal(() => decideTask(decided, task.id, decision({ outcome: 'rejected' }), t0)).code).toBe(
      'ALREADY_DECIDED',
    );
    expect(refusal(() => decideTask(state, 'tsk_rules.missing', decision({}), t0)).code).toBe('NOT_FOUND');
  });

  it('requires a comment for clarification and override, evidence for manual_action, valid data for a form', () => {
    const clarification = withTask({ task: 'clarification' });
    expect(
      refusal(() =>
        decideTask(clarification.state, clarification.task.id, decision({ outcome: 'provided' }), t0),
      ).code,
    ).toBe('VALIDATION');
    expect(
      decideTask(
        clarification.state,
        clarification.task.id,
        decision({ outcome: 'provided', comment: 'Q3' }),
        t0,
      ).type,
    ).toBe('task-decided');
    const override = withTask({ task: 'override' });
    expect(
      refusal(() =>
        decideTask(
          override.state,
          override.task.id,
          decision({ outcome: 'override_approved', comment: ' ' }),
          t0,
        ),
      ).message,
    ).toContain('justification');
    const manual = withTask({ task: 'manual_action' });
    expect(
      refusal(() => decideTask(manual.state, manual.task.id, decision({ outcome: 'completed' }), t0)).code,
    ).toBe('VALIDATION');
    const form = withTask({
      task: 'form',
      schema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
    });
    expect(
      refusal(() =>
        decideTask(form.state, form.task.id, decision({ outcome: 'submitted', data: { n: 'x' } }), t0),
      ).code,
    ).toBe('VALIDATION');
    expect(
      decideTask(form.state, form.task.id, decision({ outcome: 'submitted', data: { n: 1 } }), t0).type,
    ).toBe('task-decided');
  });
});

describe('quorum', () => {
  const assignees = ['a@acme.test', 'b@acme.test', 'c@acme.test'];

  it('records votes until enough approvers agree, then decides with every vote', () => {
    const { state, task } = withTask({ assignee: undefined, assignees, quorum: 2 });
    const first = decideTask(state, task.id, decision({ actor: 'a@acme.test' }), t0);
    expect(first.type).toBe('task-voted');
    const voted = apply(state, first, t0);
    expect(refusal(() => decideTask(voted, task.id, decision({ actor: 'a@acme.test' }), t0)).code).toBe(
      'ALREADY_DECIDED',
    );
    const second = decideTask(voted, task.id, decision({ actor: 'b@acme.test' }), t0 + 1);
    expect(second.type).toBe('task-decided');
    const votes = (second.data.decision as { votes: Array<{ actor: { id: string } }> }).votes;
    expect(votes.map((vote) => vote.actor.id)).toEqual(['a@acme.test', 'b@acme.test']);
  });

  it("lets one rejection reject at once under quorum 'all'", () => {
    const { state, task } = withTask({ assignee: undefined, assignees, quorum: 'all' });
    const voted = apply(state, decideTask(state, task.id, decision({ actor: 'a@acme.test' }), t0), t0);
    const change = decideTask(voted, task.id, decision({ actor: 'c@acme.test', outcome: 'rejected' }), t0);
    expect(change).toMatchObject({ type: 'task-decided', data: { decision: { outcome: 'rejected' } } });
  });
});

describe('reminders', () => {
  it('fires reminder n only after n - 1 went out, once', () => {
    const { state, task } = withTask({ timeout: '10h', remind: { after: '2h', every: '3h', max: 2 } });
    expect(remindTask(state, task.id, 2)).toBeNull();
    const first = remindTask(state, task.id, 1) as Change;
    expect(first).toMatchObject({
      type: 'task-reminded',
      data: { reminder: 1, assignees: ['ann@acme.test'] },
    });
    const reminded = apply(state, first, t0 + 2 * hour);
    expect(remindTask(reminded, task.id, 1)).toBeNull();
    expect(remindTask(reminded, task.id, 2)).toMatchObject({ data: { reminder: 2 } });
  });

  it('plans the next reminder every interval, at most max, a full interval after a late one', () => {
    const { task } = withTask({ timeout: '1d', remind: { after: '2h', every: '3h', max: 3 } });
    expect(initialTimers(task)).toEqual([
      { taskId: task.id, kind: 'deadline', count: 0, due: t0 + 24 * hour },
      { taskId: task.id, kind: 'remind', count: 1, due: t0 + 2 * hour },
    ]);
    expect(nextReminder(task, 1, t0 + 2 * hour)).toEqual({
      taskId: task.id,
      kind: 'remind',
      count: 2,
      due: t0 + 5 * hour,
    });
    // Fired ten hours late: the next one a full interval after now, not at once.
    expect(nextReminder(task, 1, t0 + 12 * hour)?.due).toBe(t0 + 15 * hour);
    expect(nextReminder(task, 3, t0 + 8 * hour)).toBeUndefined();
    const once = withTask({ remind: { after: '2h' } });
    expect(nextReminder(once.task, 1, t0 + 2 * hour)).toBeUndefined();
  });

  it('sends no reminder for a task that ended or an intent that is final', () => {
    const { state, task } = withTask({ remind: { after: '1h' } });
    const canceled = apply(state, cancelIntent(state, null, {}), t0);
    expect(remindTask(canceled, task.id, 1)).toBeNull();
  });
});

describe('escalation and timeout policies', () => {
  it('adds the next delegate with the step’s own timeout, or hands the task over with reassign', () => {
    const { state, task } = withTask({
      timeout: '1h',
      escalateTo: [{ assignee: 'deputy@acme.test', timeout: '2h' }, 'ceo@acme.test'],
    });
    const now = t0 + hour;
    const change = deadlinePassed(state, task.id, 0, now) as Change;
    expect(change).toMatchObject({
      type: 'task-escalated',
      data: {
        level: 1,
        assignee: 'deputy@acme.test',
        assignees: ['ann@acme.test', 'deputy@acme.test'],
        deadlineAt: new Date(now + 2 * hour).toISOString(),
      },
    });
    expect(escalationDeadline(task, 0, now)).toEqual({
      taskId: task.id,
      kind: 'deadline',
      count: 1,
      due: now + 2 * hour,
    });
    const escalated = apply(state, change, now);
    // The deadline of level 0 has passed already: it does nothing twice.
    expect(deadlinePassed(escalated, task.id, 0, now)).toBeNull();
    expect(deadlinePassed(escalated, task.id, 1, now + 2 * hour)).toMatchObject({
      data: { level: 2, assignees: ['ann@acme.test', 'deputy@acme.test', 'ceo@acme.test'] },
    });
    const reassigned = withTask({ timeout: '1h', escalateTo: ['deputy@acme.test'], reassign: true });
    expect(deadlinePassed(reassigned.state, reassigned.task.id, 0, now)).toMatchObject({
      data: { assignees: ['deputy@acme.test'] },
    });
  });

  it("times out with 'fail', and decides by policy with 'reject' or 'approve', never blaming a human", () => {
    const failing = withTask({ timeout: '1h' });
    expect(deadlinePassed(failing.state, failing.task.id, 0, t0 + hour)).toEqual({
      type: 'task-timed-out',
      taskId: failing.task.id,
      actor: null,
      data: { policy: 'fail' },
    });
    for (const [policy, outcome] of [
      ['reject', 'rejected'],
      ['approve', 'approved'],
    ] as const) {
      const { state, task } = withTask({ timeout: '1h', onTimeout: policy });
      expect(deadlinePassed(state, task.id, 0, t0 + hour)).toMatchObject({
        type: 'task-decided',
        actor: null,
        data: { policy, decision: { outcome, decidedBy: 'policy', actor: null } },
      });
    }
    const review = withTask({ task: 'review', timeout: '1h', onTimeout: 'reject' });
    expect(deadlinePassed(review.state, review.task.id, 0, t0)).toMatchObject({
      data: { decision: { outcome: 'rejected' } },
    });
  });

  it('says which timers a task still has, and which tasks an event ended', () => {
    const { state, task } = withTask({ timeout: '1h', remind: { after: '10m' } });
    expect(timerIdsOf(task)).toEqual([`${task.id}|deadline|0`, `${task.id}|remind|1`]);
    const timedOut = apply(state, deadlinePassed(state, task.id, 0, t0 + hour) as Change, t0 + hour);
    expect(tasksEndedBy(timedOut, 'task-timed-out', task.id).map((ended) => ended.id)).toEqual([task.id]);
    expect(resultOf(timedOut.tasks[task.id] as HumanTask)).toMatchObject({
      status: 'timed_out',
      decidedBy: 'policy',
      actor: null,
    });
    expect(timedOut.intent.status).toBe('TIMED_OUT');
  });
});

describe('intents', () => {
  it('completes only without pending tasks, and takes no change once final', () => {
    const { state, task } = withTask();
    expect(refusal(() => completeIntent(state, null, { ok: true })).code).toBe('INVALID_STATE');
    const canceledTask = apply(state, cancelTask(state, task.id, null, { reason: 'moot' }), t0);
    const completed = apply(canceledTask, completeIntent(canceledTask, null, { ok: true }), t0);
    expect(completed.intent).toMatchObject({ status: 'COMPLETED', result: { ok: true } });
    expect(refusal(() => cancelIntent(completed, null, {})).code).toBe('INVALID_STATE');
    expect(refusal(() => cancelTask(canceledTask, task.id, null, {})).code).toBe('ALREADY_DECIDED');
    expect(refusal(() => createTask(completed, { ...task, id: 'tsk_rules.b' })).code).toBe('INVALID_STATE');
    // A task that exists already is not created again (a retried request).
    expect(createTask(state, task)).toBeNull();
  });
});

describe('tasks stored before email ids were kept in lower case', () => {
  /** A task as an engine without the rule stored it: assignees spelled as the caller gave them. */
  function stored(assignees: string[], quorum = 1) {
    const submitted = apply(undefined, { type: 'intent-submitted', data: { type: 'rules' } }, t0);
    const { task } = withTask({ assignee: undefined, assignees, quorum });
    const old: HumanTask = { ...task, assignees, originalAssignees: assignees };
    return { state: apply(submitted, createTask(submitted, old) as Change, t0), task: old };
  }

  it('lets the assignee decide and note by either spelling, and vote only once', () => {
    const { state, task } = stored(['Dana@Acme.test', 'Erik@Acme.test'], 2);
    for (const actor of ['dana@acme.test', 'Dana@Acme.test']) {
      expect(decideTask(state, task.id, decision({ actor }), t0)).toMatchObject({
        type: 'task-voted',
        actor: { id: 'dana@acme.test' },
      });
      expect(noteTask(state, task.id, normalizeNote({ actor, note: 'declined' }))).toMatchObject({
        type: 'task-noted',
      });
    }
    const vote = { actor: { id: 'Dana@Acme.test' }, outcome: 'approved', at: new Date(t0).toISOString() };
    const voted = apply(
      state,
      { type: 'task-voted', taskId: task.id, actor: vote.actor, data: { vote } },
      t0,
    );
    expect(refusal(() => decideTask(voted, task.id, decision({ actor: 'dana@acme.test' }), t0)).code).toBe(
      'ALREADY_DECIDED',
    );
    expect(decideTask(voted, task.id, decision({ actor: 'erik@acme.test' }), t0).type).toBe('task-decided');
  });

  it('takes a retry under the same idempotency key, spelled either way, as the same request', () => {
    const ask = (assignee: string, escalateTo: string) =>
      normalizeRequest({ assignee, timeout: '1h', escalateTo }, 'requestHuman');
    const held = {
      ...ask('Dana@Acme.test', 'CFO@Acme.test'),
      assignees: ['Dana@Acme.test'],
      escalateTo: [{ assignee: 'CFO@Acme.test', timeoutMs: hour }],
    };
    expect(requestDifferences(held, ask('Dana@Acme.test', 'CFO@Acme.test'))).toEqual([]);
    expect(requestDifferences(held, ask('dana@acme.test', 'cfo@acme.test'))).toEqual([]);
    expect(requestDifferences(held, ask('erik@acme.test', 'cfo@acme.test'))).toEqual(['assignees']);
  });
});
