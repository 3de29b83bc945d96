import type { AuditEvent } from '../audit/audit-event.js';
import type { Decision, HumanTask, Intent, Vote } from '../model.js';

/**
 * The state of one intent and its tasks, as the fold of its audit events. The audit chain is the
 * record of truth; this state (and the snapshot cached from it) can always be rebuilt from it.
 */
export interface IntentState {
  intent: Intent;
  tasks: Record<string, HumanTask>;
  /** `hash` of the latest event, the next event's `prevHash`. */
  headHash: string | null;
  /** Ids of events already applied, newest last (bounded), to recognise a retried change. */
  recentEventIds: string[];
  /**
   * Marks of events recorded at most once (`data.once`): a refused decision per person and task, a
   * failed timer. Absent until the first such event.
   */
  once?: string[];
}

const recentLimit = 64;
const finalIntentStatuses = new Set(['COMPLETED', 'FAILED', 'CANCELED', 'TIMED_OUT']);

/** Whether an intent status is final. */
export function isFinalIntentStatus(status: string): boolean {
  return finalIntentStatuses.has(status);
}

function settleIntent(state: IntentState, at: string): void {
  const intent = state.intent;
  if (isFinalIntentStatus(intent.status)) return;
  const pending = intent.taskIds.some((id) => state.tasks[id]?.status === 'pending');
  if (pending) {
    intent.status = 'WAITING';
    intent.waitingReason = 'WAITING_FOR_HUMAN';
  } else {
    intent.status = 'IN_PROGRESS';
    delete intent.waitingReason;
  }
  intent.updatedAt = at;
}

/**
 * The task, copied into `state` so that it may be changed: states are shared (cache, waiters), so an
 * event copies only what it changes — the intent, the task map and the tasks it touches — not the
 * whole state with every task's context.
 */
function own(state: IntentState, taskId: string): HumanTask {
  const task = state.tasks[taskId] as HumanTask;
  const copy = { ...task, votes: [...task.votes] };
  state.tasks[taskId] = copy;
  return copy;
}

function cancelPendingTasks(state: IntentState, at: string): void {
  for (const id of state.intent.taskIds) {
    if (state.tasks[id]?.status === 'pending') {
      const task = own(state, id);
      task.status = 'canceled';
      task.updatedAt = at;
    }
  }
}

/**
 * Apply one event to a state (or start one from `intent-submitted`). Returns a new state; the input
 * state and everything in it are left as they were (unchanged parts are shared, not copied).
 */
export function applyEvent(previous: IntentState | undefined, event: AuditEvent): IntentState {
  const state: IntentState = previous
    ? {
        intent: { ...previous.intent, taskIds: [...previous.intent.taskIds] },
        tasks: { ...previous.tasks },
        headHash: previous.headHash,
        recentEventIds: [...previous.recentEventIds],
        ...(previous.once === undefined ? {} : { once: previous.once }),
      }
    : {
        intent: {
          id: event.intentId,
          type: '',
          input: null,
          status: 'CREATED',
          taskIds: [],
          createdAt: event.at,
          updatedAt: event.at,
          seq: 0,
        },
        tasks: {},
        headHash: null,
        recentEventIds: [],
      };
  const intent = state.intent;
  const data = event.data;
  const task = event.taskId && state.tasks[event.taskId] ? own(state, event.taskId) : undefined;
  switch (event.type) {
    case 'intent-submitted':
      intent.type = data.type as string;
      intent.input = data.input ?? null;
      if (typeof data.idempotencyKey === 'string') intent.idempotencyKey = data.idempotencyKey;
      intent.status = 'SUBMITTED';
      intent.createdAt = event.at;
      intent.updatedAt = event.at;
      break;
    case 'task-created': {
      const created = structuredClone(data.task as HumanTask);
      state.tasks[created.id] = created;
      intent.taskIds.push(created.id);
      settleIntent(state, event.at);
      break;
    }
    case 'task-reminded':
      if (task) {
        task.remindersSent = data.reminder as number;
        task.updatedAt = event.at;
      }
      break;
    case 'task-escalated':
      if (task) {
        task.escalationLevel = data.level as number;
        task.assignees = data.assignees as string[];
        task.deadlineAt = data.deadlineAt as string;
        task.updatedAt = event.at;
      }
      break;
    case 'task-voted':
      if (task) {
        task.votes.push(data.vote as Vote);
        task.updatedAt = event.at;
      }
      break;
    case 'task-decided':
      if (task) {
        task.status = 'decided';
        task.decision = data.decision as Decision;
        task.updatedAt = event.at;
        settleIntent(state, event.at);
      }
      break;
    case 'task-timed-out':
      if (task) {
        task.status = 'timed_out';
        task.updatedAt = event.at;
        // onTimeout 'fail': the task failed, and so did the work waiting on it.
        intent.status = 'TIMED_OUT';
        intent.error = `task ${task.id} timed out`;
        delete intent.waitingReason;
        intent.updatedAt = event.at;
        cancelPendingTasks(state, event.at);
      }
      break;
    case 'task-canceled':
      if (task) {
        task.status = 'canceled';
        task.updatedAt = event.at;
        settleIntent(state, event.at);
      }
      break;
    case 'intent-completed':
      intent.status = 'COMPLETED';
      intent.result = data.result ?? null;
      delete intent.waitingReason;
      intent.updatedAt = event.at;
      break;
    case 'intent-failed':
      intent.status = 'FAILED';
      intent.error = data.error as string;
      delete intent.waitingReason;
      intent.updatedAt = event.at;
      cancelPendingTasks(state, event.at);
      break;
    case 'task-decision-refused':
    case 'task-noted':
    case 'task-timer-failed':
      // Nothing about the task changes: the event is the record.
      break;
    case 'intent-canceled':
      intent.status = 'CANCELED';
      if (typeof data.reason === 'string') intent.error = data.reason;
      delete intent.waitingReason;
      intent.updatedAt = event.at;
      cancelPendingTasks(state, event.at);
      break;
  }
  if (typeof data.once === 'string') state.once = [...(state.once ?? []), data.once];
  intent.seq = event.seq;
  state.headHash = event.hash;
  state.recentEventIds.push(event.id);
  if (state.recentEventIds.length > recentLimit)
    state.recentEventIds.splice(0, state.recentEventIds.length - recentLimit);
  return state;
}
