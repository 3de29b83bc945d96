// An intent's state built by the task rules alone, the way the chain records changes (seq, hash),
// without a store: for the tests of the pure modules (rules, lists, queries).
import { type AuditEvent, sealEvent } from '../../src/audit/audit-event.js';
import { applyEvent, type IntentState } from '../../src/engine/intent-state.js';
import { normalizeRequest } from '../../src/engine/options.js';
import { type Change, createTask, newTask } from '../../src/engine/task-rules.js';
import type { HumanTask, RequestHumanOptions } from '../../src/index.js';

export const t0 = Date.parse('2026-11-20T09:00:00.000Z');
export const minute = 60_000;
export const hour = 60 * minute;

/** Record a change on a state the way the chain does (seq, hash), without a store. */
export function apply(state: IntentState | undefined, change: Change, atMs: number): IntentState {
  const seq = (state?.intent.seq ?? 0) + 1;
  const event: AuditEvent = sealEvent({
    id: `event-${seq}`,
    intentId: 'int_rules',
    seq,
    type: change.type,
    at: new Date(atMs).toISOString(),
    actor: change.actor ?? null,
    ...(change.taskId === undefined ? {} : { taskId: change.taskId }),
    data: change.data,
    prevHash: state?.headHash ?? null,
  });
  return applyEvent(state, event);
}

/** An intent with one pending task made from `options`, created at t0. */
export function withTask(options: Partial<RequestHumanOptions> = {}): {
  state: IntentState;
  task: HumanTask;
} {
  const submitted = apply(undefined, { type: 'intent-submitted', data: { type: 'rules' } }, t0);
  const request = normalizeRequest({ assignee: 'ann@acme.test', ...options }, 'requestHuman');
  const task = newTask('tsk_rules.a', 'int_rules', request, t0);
  const change = createTask(submitted, task) as Change;
  const state = apply(submitted, change, t0);
  return { state, task: state.tasks[task.id] as HumanTask };
}
