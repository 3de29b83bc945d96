import type { AuditEvent } from '../audit/audit-event.js';
import type { Decision, HumanTask, Intent, Vote } from '../model.js';

/** An intent as a state holds it: without its task ids, which grow with the intent and are kept apart. */
export type IntentHeader = Omit<Intent, 'taskIds'>;

/** Task ids are kept in blocks of this many: a block is written once, when it fills. */
export const taskIdBlock = 64;

/**
 * The state of one intent, as the fold of its audit events. The audit chain is the record of truth;
 * this state (and the records kept from it, `intent-records.ts`) can always be rebuilt from it.
 *
 * Only what every change needs is always here (the header: the intent, its pending tasks, its
 * chain head); of the tasks, a state holds those it was read for and those its recent events
 * created or changed — so reading and changing one task costs the same in an intent of ten tasks
 * and of ten thousand.
 */
export interface IntentState {
  intent: IntentHeader;
  /** The tasks this state holds (see above). A task not here may exist: ask the chain for it. */
  tasks: Record<string, HumanTask>;
  /**
   * Marks of events recorded at most once (`data.once`) — a refused decision per person, a note, a
   * failed timer — per task held (tasks without marks are absent).
   */
  marks: Record<string, string[]>;
  /** `hash` of the latest event, the next event's `prevHash`. */
  headHash: string | null;
  /** Ids of events already applied, newest last (bounded), to recognise a retried change. */
  recentEventIds: string[];
  /** Ids of the intent's pending tasks, oldest first. */
  pendingTaskIds: string[];
  /** How many tasks the intent has. */
  taskCount: number;
  /** Ids of the newest tasks, those after the last full block of {@link taskIdBlock}, oldest first. */
  newTaskIds: string[];
  /** Tasks the event that made this state created or changed. */
  changed: string[];
  /**
   * Set on a state rebuilt the way engines before the records kept it (an old snapshot and the
   * events after it): then every task is in `tasks`, and these are all their ids, oldest first. The
   * store has no records of it yet; the next event this engine records writes them all.
   */
  allTaskIds?: string[];
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
  if (state.pendingTaskIds.length > 0) {
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

/** Whether a state holds a task, or knows there is none (a state rebuilt from every event holds them all). */
export function holdsTask(state: IntentState, taskId: string): boolean {
  return taskId in state.tasks || state.allTaskIds !== undefined;
}

/** The once-marks of a task (see {@link IntentState.marks}). */
export function marksOf(state: IntentState, taskId: string): readonly string[] {
  return state.marks[taskId] ?? [];
}

function settleTask(state: IntentState, taskId: string): void {
  state.pendingTaskIds = state.pendingTaskIds.filter((id) => id !== taskId);
}

/** Cancel every pending task: those held change; the rest change in their own records, written by whoever recorded the event. */
function cancelPendingTasks(state: IntentState, at: string): void {
  for (const id of state.pendingTaskIds) {
    if (state.tasks[id]) {
      const task = own(state, id);
      task.status = 'canceled';
      task.updatedAt = at;
      state.changed.push(id);
    }
  }
  state.pendingTaskIds = [];
}

/**
 * The state of an intent before its first event: where a fold starts (`at` is the time the first
 * event sets; '' until then).
 */
export function emptyIntentState(intentId: string, at = ''): IntentState {
  return {
    intent: { id: intentId, type: '', input: null, status: 'CREATED', createdAt: at, updatedAt: at, seq: 0 },
    tasks: {},
    marks: {},
    headHash: null,
    recentEventIds: [],
    pendingTaskIds: [],
    taskCount: 0,
    newTaskIds: [],
    changed: [],
  };
}

/**
 * Apply one event to a state (or start one from `intent-submitted`). Returns a new state; the input
 * state and everything in it are left as they were (unchanged parts are shared, not copied). An
 * event about a task the state does not hold changes what the header knows of it (pending or not);
 * the task itself is changed in its record by whoever recorded the event.
 */
export function applyEvent(previous: IntentState | undefined, event: AuditEvent): IntentState {
  const state: IntentState = previous
    ? {
        intent: { ...previous.intent },
        tasks: { ...previous.tasks },
        marks: previous.marks,
        headHash: previous.headHash,
        recentEventIds: [...previous.recentEventIds],
        pendingTaskIds: previous.pendingTaskIds,
        taskCount: previous.taskCount,
        newTaskIds: previous.newTaskIds,
        changed: [],
        ...(previous.allTaskIds === undefined ? {} : { allTaskIds: previous.allTaskIds }),
      }
    : emptyIntentState(event.intentId, event.at);
  const intent = state.intent;
  const data = event.data;
  const task = event.taskId && state.tasks[event.taskId] ? own(state, event.taskId) : undefined;
  // A task event applies to the header when the task is held, or may exist unheld (a partial state).
  const known = task !== undefined || state.allTaskIds === undefined;
  if (task) state.changed.push(task.id);
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
      state.changed = [created.id];
      state.taskCount += 1;
      state.newTaskIds = state.newTaskIds.length + 1 === taskIdBlock ? [] : [...state.newTaskIds, created.id];
      if (state.allTaskIds !== undefined) state.allTaskIds = [...state.allTaskIds, created.id];
      if (created.status === 'pending') state.pendingTaskIds = [...state.pendingTaskIds, created.id];
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
      }
      if (known && event.taskId) {
        settleTask(state, event.taskId);
        settleIntent(state, event.at);
      }
      break;
    case 'task-timed-out':
      if (known && event.taskId) {
        if (task) {
          task.status = 'timed_out';
          task.updatedAt = event.at;
        }
        settleTask(state, event.taskId);
        // onTimeout 'fail': the task failed, and so did the work waiting on it.
        intent.status = 'TIMED_OUT';
        intent.error = `task ${event.taskId} timed out`;
        delete intent.waitingReason;
        intent.updatedAt = event.at;
        cancelPendingTasks(state, event.at);
      }
      break;
    case 'task-canceled':
      if (task) {
        task.status = 'canceled';
        task.updatedAt = event.at;
      }
      if (known && event.taskId) {
        settleTask(state, event.taskId);
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
  if (typeof data.once === 'string' && task) {
    state.marks = { ...state.marks, [task.id]: [...marksOf(state, task.id), data.once] };
  }
  intent.seq = event.seq;
  state.headHash = event.hash;
  state.recentEventIds.push(event.id);
  if (state.recentEventIds.length > recentLimit)
    state.recentEventIds.splice(0, state.recentEventIds.length - recentLimit);
  return state;
}
