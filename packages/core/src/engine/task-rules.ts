// The task rules: who may decide, what a decision must carry, quorum, reminders, escalation steps
// and timeout policies — each a pure function of an intent's state, an input and the time. They
// return the change to record (or `null` when it is already made) or throw the refusal; the engine
// appends what they return. Nothing here reads or writes a store.
import { isAssignee, sameActorId } from '../actor-id.js';
import type { AuditEventType } from '../audit/audit-event.js';
import { AlreadyDecidedError } from '../errors/already-decided-error.js';
import { InvalidOutcomeError } from '../errors/invalid-outcome-error.js';
import { InvalidStateError } from '../errors/invalid-state-error.js';
import { NotAssignedError } from '../errors/not-assigned-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { StaleVersionError } from '../errors/stale-version-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Actor, Decision, HumanResult, HumanTask, Vote } from '../model.js';
import { type TimerId, timerId } from '../store/layout.js';
import { taskTypeRules } from '../task-types.js';
import { formDataProblems } from './form-schema.js';
import { type IntentState, isFinalIntentStatus, marksOf } from './intent-state.js';
import {
  type NormalizedDecision,
  type NormalizedNote,
  type NormalizedRequest,
  policyOutcome,
} from './options.js';

/** A change to record as one audit event. */
export interface Change {
  type: AuditEventType;
  taskId?: string;
  actor?: Actor | null;
  data: Record<string, unknown>;
}

/** A timer of a task and when it falls due (ms since the epoch). */
export interface DueTimer extends TimerId {
  due: number;
}

// ---------------------------------------------------------------------------------------------
// Reading state

/** What a waiter is told when a task has ended, or `undefined` while it is pending. */
export function resultOf(task: HumanTask): HumanResult | undefined {
  const base = { taskId: task.id, intentId: task.intentId, versionDigest: task.versionDigest };
  switch (task.status) {
    case 'decided': {
      const decision = task.decision as Decision;
      return {
        ...base,
        status: 'decided',
        outcome: decision.outcome,
        ...(decision.comment === undefined ? {} : { comment: decision.comment }),
        ...(decision.data === undefined ? {} : { data: decision.data }),
        ...(decision.evidence === undefined ? {} : { evidence: decision.evidence }),
        actor: decision.actor,
        decidedBy: decision.decidedBy,
        decidedAt: decision.decidedAt,
        ...(decision.votes === undefined ? {} : { votes: decision.votes }),
      };
    }
    case 'timed_out':
      return { ...base, status: 'timed_out', decidedBy: 'policy', actor: null, decidedAt: task.updatedAt };
    case 'canceled':
      return { ...base, status: 'canceled', decidedAt: task.updatedAt };
    default:
      return undefined;
  }
}

/** The task if it still waits for a human (pending, in an intent that is not final). */
export function pendingTask(state: IntentState, taskId: string): HumanTask | undefined {
  const task = state.tasks[taskId];
  return task?.status === 'pending' && !isFinalIntentStatus(state.intent.status) ? task : undefined;
}

/** The refusal for a task id that names no task. */
export function taskNotFound(taskId: string): NotFoundError {
  return new NotFoundError({ kind: 'task', id: taskId, message: `No task has id '${taskId}'` });
}

/** @throws InvalidStateError when the intent is final and takes no more changes. */
export function assertNotFinal(state: IntentState, where: string): void {
  if (isFinalIntentStatus(state.intent.status)) {
    throw new InvalidStateError({
      id: state.intent.id,
      status: state.intent.status,
      message: `${where}: intent ${state.intent.id} is ${state.intent.status} and takes no more changes`,
    });
  }
}

/** The task if it is still pending; otherwise the refusal: `NOT_FOUND` or `ALREADY_DECIDED`. */
export function openTask(state: IntentState, taskId: string, where: string, refused: string): HumanTask {
  const task = state.tasks[taskId];
  if (!task) throw taskNotFound(taskId);
  if (task.status !== 'pending') {
    throw new AlreadyDecidedError({
      taskId,
      status: task.status,
      message: `${where}: task ${taskId} is already ${task.status.replace('_', ' ')}; ${refused}`,
    });
  }
  return task;
}

// ---------------------------------------------------------------------------------------------
// Intents

/** Complete an intent: refused while a task is pending or when the intent is already final. */
export function completeIntent(state: IntentState, actor: Actor | null, result: unknown): Change {
  assertNotFinal(state, 'complete');
  const pending = state.pendingTaskIds;
  if (pending.length > 0) {
    throw new InvalidStateError({
      id: state.intent.id,
      status: state.intent.status,
      message: `complete: intent ${state.intent.id} still waits for ${pending.join(', ')}; decide or cancel those tasks first`,
    });
  }
  return { type: 'intent-completed', actor, data: { result: result ?? null } };
}

/** Fail an intent (its pending tasks are canceled); refused when it is already final. */
export function failIntent(state: IntentState, actor: Actor | null, error: string): Change {
  assertNotFinal(state, 'fail');
  return { type: 'intent-failed', actor, data: { error } };
}

/** Cancel an intent (its pending tasks are canceled); refused when it is already final. */
export function cancelIntent(state: IntentState, actor: Actor | null, data: Record<string, string>): Change {
  assertNotFinal(state, 'cancel');
  return { type: 'intent-canceled', actor, data };
}

// ---------------------------------------------------------------------------------------------
// Tasks

/** The task a request creates at `nowMs`: pending, with the request's defaults filled in. */
export function newTask(
  taskId: string,
  intentId: string,
  request: NormalizedRequest,
  nowMs: number,
): HumanTask {
  const at = new Date(nowMs).toISOString();
  return {
    id: taskId,
    intentId,
    type: request.type,
    title: request.title,
    ...(request.description === undefined ? {} : { description: request.description }),
    context: request.context,
    versionDigest: request.versionDigest,
    assignees: [...request.assignees],
    originalAssignees: [...request.assignees],
    quorum: request.quorum,
    allowedOutcomes: request.allowedOutcomes,
    ...(request.schema === undefined ? {} : { schema: request.schema }),
    status: 'pending',
    createdAt: at,
    updatedAt: at,
    ...(request.timeoutMs === undefined
      ? {}
      : { timeoutMs: request.timeoutMs, deadlineAt: new Date(nowMs + request.timeoutMs).toISOString() }),
    ...(request.remind === undefined ? {} : { remind: request.remind }),
    remindersSent: 0,
    escalateTo: request.escalateTo,
    escalationLevel: 0,
    reassign: request.reassign,
    onTimeout: request.onTimeout,
    ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    votes: [],
    ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
  };
}

/** An intent's first event: what it is, its input, and the idempotency key it was submitted with. */
export function submittedChange(type: string, input: unknown, idempotencyKey: string | undefined): Change {
  return {
    type: 'intent-submitted',
    actor: null,
    data: { type, input, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) },
  };
}

/** Record a new task, unless it exists already; refused when the intent is final. */
export function createTask(state: IntentState, task: HumanTask): Change | null {
  if (state.tasks[task.id]) return null;
  assertNotFinal(state, 'requestHuman');
  return { type: 'task-created', taskId: task.id, actor: null, data: { task } };
}

/** The timers a new task starts with: its first deadline and its first reminder. */
export function initialTimers(task: HumanTask): DueTimer[] {
  const created = Date.parse(task.createdAt);
  const timers: DueTimer[] = [];
  if (task.timeoutMs !== undefined)
    timers.push({ taskId: task.id, kind: 'deadline', count: 0, due: created + task.timeoutMs });
  if (task.remind !== undefined)
    timers.push({ taskId: task.id, kind: 'remind', count: 1, due: created + task.remind.afterMs });
  return timers;
}

/** The ids of the timers a task may still have: its current deadline and its next reminder. */
export function timerIdsOf(task: HumanTask): string[] {
  const ids = [timerId({ taskId: task.id, kind: 'deadline', count: task.escalationLevel })];
  if (task.remind) ids.push(timerId({ taskId: task.id, kind: 'remind', count: task.remindersSent + 1 }));
  return ids;
}

/**
 * When a task's timers fall due, for the wake-up that tells other engines to arm their timer: its
 * deadline or its first reminder, whichever comes first; `undefined` for a task without timers.
 */
export function firstDueOf(task: HumanTask): number | undefined {
  if (task.status !== 'pending' || (!task.deadlineAt && !task.remind)) return undefined;
  const dues = [task.deadlineAt ? Date.parse(task.deadlineAt) : Number.POSITIVE_INFINITY];
  if (task.remind) dues.push(Date.parse(task.createdAt) + task.remind.afterMs);
  return Math.min(...dues);
}

/** A fingerprint of what a request asks, to tell a reused idempotency key from a retried request. */
export function requestFingerprint(request: NormalizedRequest): string {
  return JSON.stringify([request.type, [...request.assignees].sort(), request.versionDigest]);
}

/** Cancel one pending task; refused when it has ended. */
export function cancelTask(
  state: IntentState,
  taskId: string,
  actor: Actor | null,
  data: Record<string, string>,
): Change {
  openTask(state, taskId, 'cancelTask', 'it was not canceled');
  return { type: 'task-canceled', taskId, actor, data };
}

/** @throws ValidationError when a decision lacks what the task's type requires or its data fails the form. */
export function checkRequirements(task: HumanTask, decision: NormalizedDecision): void {
  const requires = taskTypeRules[task.type].requires;
  const where = `decide (task ${task.id}, type ${task.type})`;
  if (requires === 'comment' && (decision.comment === undefined || decision.comment.trim() === '')) {
    const what = task.type === 'override' ? 'a justification' : 'the answer';
    throw new ValidationError({
      field: 'decide.comment',
      message: `${where}: comment is required — give ${what} in comment`,
    });
  }
  if (
    requires === 'evidence' &&
    (decision.evidence === undefined || decision.evidence === null || decision.evidence === '')
  ) {
    throw new ValidationError({
      field: 'decide.evidence',
      message: `${where}: evidence is required — a link, a note or a list showing the work was done`,
    });
  }
  if (task.schema !== undefined && (decision.data !== undefined || requires === 'data')) {
    const problems = formDataProblems(task.schema, decision.data);
    if (problems.length > 0) {
      throw new ValidationError({
        field: 'decide.data',
        message: `${where}: data does not match the form: ${problems.join('; ')}`,
      });
    }
  }
}

/**
 * A human's decision at `nowMs`: a vote while a quorum is not yet reached, else the final decision.
 * Who acts is checked first, so someone not assigned learns nothing about the task — not its status,
 * not its version, not who is assigned: `NOT_ASSIGNED` (unless `asAdmin`). Then it is refused when
 * the task has ended or this approver already voted (`ALREADY_DECIDED`), the version is not the
 * task's (`STALE_VERSION`), the outcome is not allowed (`INVALID_OUTCOME`), or a requirement is
 * missing (`VALIDATION`).
 */
export function decideTask(
  state: IntentState,
  taskId: string,
  decision: NormalizedDecision,
  nowMs: number,
): Change {
  const current = state.tasks[taskId];
  if (!current) throw taskNotFound(taskId);
  if (!decision.asAdmin && !isAssignee(current, decision.actor.id)) {
    throw new NotAssignedError({
      taskId,
      actor: decision.actor.id,
      message: `decide: ${decision.actor.id} may not decide task ${taskId}`,
    });
  }
  const task = openTask(state, taskId, 'decide', `the decision of ${decision.actor.id} was refused`);
  if (decision.versionDigest !== undefined && decision.versionDigest !== task.versionDigest) {
    throw new StaleVersionError({
      taskId,
      expected: task.versionDigest,
      received: decision.versionDigest,
      message: `decide: ${decision.actor.id} saw version ${decision.versionDigest}, but task ${taskId} is at ${task.versionDigest}; show the current version and decide again`,
    });
  }
  if (!task.allowedOutcomes.includes(decision.outcome)) {
    throw new InvalidOutcomeError({
      taskId,
      allowedOutcomes: task.allowedOutcomes,
      message: `decide: '${decision.outcome}' is not an outcome of task ${taskId}; choose one of ${task.allowedOutcomes.join(', ')}`,
    });
  }
  checkRequirements(task, decision);
  if (task.votes.some((vote) => sameActorId(vote.actor.id, decision.actor.id))) {
    throw new AlreadyDecidedError({
      taskId,
      status: task.status,
      message: `decide: ${decision.actor.id} already voted on task ${taskId}; each approver decides once`,
    });
  }
  const at = new Date(nowMs).toISOString();
  const vote: Vote = {
    actor: decision.actor,
    outcome: decision.outcome,
    ...(decision.comment === undefined ? {} : { comment: decision.comment }),
    at,
  };
  // A positive vote counts towards the quorum; any other outcome decides at once (one rejection rejects).
  const positive = decision.outcome === task.allowedOutcomes[0];
  if (task.quorum > 1 && positive && task.votes.length + 1 < task.quorum) {
    return { type: 'task-voted', taskId, actor: decision.actor, data: { vote } };
  }
  const final: Decision = {
    outcome: decision.outcome,
    ...(decision.comment === undefined ? {} : { comment: decision.comment }),
    ...(decision.data === undefined ? {} : { data: decision.data }),
    ...(decision.evidence === undefined ? {} : { evidence: decision.evidence }),
    actor: decision.actor,
    decidedBy: 'human',
    decidedAt: at,
    versionDigest: decision.versionDigest ?? task.versionDigest,
    ...(task.quorum > 1 ? { votes: [...task.votes, vote] } : {}),
  };
  return {
    type: 'task-decided',
    taskId,
    actor: decision.actor,
    data: { decision: final, ...(decision.asAdmin ? { asAdmin: true } : {}) },
  };
}

/** How many notes one task records; a note past them is refused (`INVALID_STATE`), so no chain grows without bound. */
export const notesPerTask = 100;

/**
 * A note on a pending task by one of its current assignees (or an admin): something they did that
 * is not a decision — declined to answer where they were asked, dismissed the question. Checked like
 * a decision: someone not assigned gets `NOT_ASSIGNED` first and learns nothing about the task; a
 * task that has ended is `ALREADY_DECIDED`. Nothing about the task changes.
 */
export function noteTask(state: IntentState, taskId: string, input: NormalizedNote): Change {
  const current = state.tasks[taskId];
  if (!current) throw taskNotFound(taskId);
  if (!input.asAdmin && !isAssignee(current, input.actor.id)) {
    throw new NotAssignedError({
      taskId,
      actor: input.actor.id,
      message: `noteTask: ${input.actor.id} is not an assignee of task ${taskId}`,
    });
  }
  openTask(state, taskId, 'noteTask', 'a note is for a pending task');
  assertNotFinal(state, 'noteTask');
  const count = marksOf(state, taskId).filter((mark) => mark.startsWith(`noted:${taskId}:`)).length;
  if (count >= notesPerTask) {
    throw new InvalidStateError({
      id: taskId,
      status: current.status,
      message: `noteTask: task ${taskId} already holds ${notesPerTask} notes; no more are recorded`,
    });
  }
  return {
    type: 'task-noted',
    taskId,
    actor: input.actor,
    data: {
      note: input.note,
      ...(input.comment === undefined ? {} : { comment: input.comment }),
      ...(input.via === undefined ? {} : { via: input.via }),
      ...(input.asAdmin ? { asAdmin: true } : {}),
      once: `noted:${taskId}:${count + 1}`,
    },
  };
}

/** How many people's refused decisions one task records; attempts past them are refused unrecorded. */
export const refusalsRecordedPerTask = 20;

/**
 * The record of a refused decision by someone not assigned (`NOT_ASSIGNED`): once per person and
 * task, while the task is pending, for at most {@link refusalsRecordedPerTask} people per task — so a
 * stranger cannot grow a chain without bound, and a closed chain stays closed. `null` when it is
 * not to be recorded.
 */
export function refuseDecision(
  state: IntentState,
  taskId: string,
  actor: Actor,
  outcome: string,
): Change | null {
  if (!pendingTask(state, taskId)) return null;
  const once = `refused:${taskId}:${actor.id}`;
  const marks = marksOf(state, taskId);
  if (marks.includes(once)) return null;
  if (marks.filter((mark) => mark.startsWith(`refused:${taskId}:`)).length >= refusalsRecordedPerTask)
    return null;
  return { type: 'task-decision-refused', taskId, actor, data: { reason: 'not-assigned', outcome, once } };
}

/**
 * The record of a timer that could not be fired for a reason a retry does not remove: once per
 * timer, while its task is pending, so the timeline shows why a reminder, escalation or timeout did
 * not happen. `null` when it is recorded already or the task has ended.
 */
export function timerFailed(state: IntentState, timer: TimerId, error: string): Change | null {
  if (!pendingTask(state, timer.taskId)) return null;
  const once = `timer-failed:${timerId(timer)}`;
  if (marksOf(state, timer.taskId).includes(once)) return null;
  return {
    type: 'task-timer-failed',
    taskId: timer.taskId,
    actor: null,
    data: { timer: timer.kind, count: timer.count, error, once },
  };
}

// ---------------------------------------------------------------------------------------------
// Timers

/**
 * Reminder number `count`: recorded only while the task is pending and exactly `count - 1`
 * reminders went out (so each fires once, whichever engine fires it).
 */
export function remindTask(state: IntentState, taskId: string, count: number): Change | null {
  const task = pendingTask(state, taskId);
  if (task?.remindersSent !== count - 1) return null;
  return { type: 'task-reminded', taskId, actor: null, data: { reminder: count, assignees: task.assignees } };
}

/**
 * The reminder after reminder `count`, fired at `nowMs`: `every` after the planned time — but after
 * a long stop, a full interval after now, so that one overdue reminder goes out, not a burst.
 * `undefined` when there is none (no `every`, or `max` reached).
 */
export function nextReminder(task: HumanTask, count: number, nowMs: number): DueTimer | undefined {
  const remind = task.remind;
  if (!remind || count >= remind.max || remind.everyMs === undefined) return undefined;
  const planned = Date.parse(task.createdAt) + remind.afterMs + count * remind.everyMs;
  return {
    taskId: task.id,
    kind: 'remind',
    count: count + 1,
    due: Math.max(planned, nowMs + remind.everyMs),
  };
}

/**
 * The deadline of escalation level `level` passed at `nowMs`: the next delegate is added (or takes
 * over, with `reassign`) with the step's own timeout; after the last step the timeout policy applies —
 * `'fail'` times the task out, `'reject'` and `'approve'` decide it by policy (`decidedBy: 'policy'`,
 * never a human). `null` when the task ended or moved past this level meanwhile.
 */
export function deadlinePassed(
  state: IntentState,
  taskId: string,
  level: number,
  nowMs: number,
): Change | null {
  const task = pendingTask(state, taskId);
  if (task?.escalationLevel !== level) return null;
  const step = task.escalateTo[level];
  if (step) {
    const deadlineAt = nowMs + step.timeoutMs;
    const assignees = task.reassign ? [step.assignee] : [...new Set([...task.assignees, step.assignee])];
    return {
      type: 'task-escalated',
      taskId,
      actor: null,
      data: {
        level: level + 1,
        assignee: step.assignee,
        assignees,
        deadlineAt: new Date(deadlineAt).toISOString(),
      },
    };
  }
  if (task.onTimeout === 'fail')
    return { type: 'task-timed-out', taskId, actor: null, data: { policy: 'fail' } };
  const decision: Decision = {
    outcome: policyOutcome(task.type, task.allowedOutcomes, task.onTimeout),
    actor: null,
    decidedBy: 'policy',
    decidedAt: new Date(nowMs).toISOString(),
    versionDigest: task.versionDigest,
    ...(task.votes.length > 0 ? { votes: task.votes } : {}),
  };
  return { type: 'task-decided', taskId, actor: null, data: { decision, policy: task.onTimeout } };
}

/** The timer an escalation at `nowMs` starts: the deadline of the next level. */
export function escalationDeadline(task: HumanTask, level: number, nowMs: number): DueTimer | undefined {
  const step = task.escalateTo[level];
  if (!step) return undefined;
  return { taskId: task.id, kind: 'deadline', count: level + 1, due: nowMs + step.timeoutMs };
}

/**
 * The tasks an event ended (decided, timed out or canceled, itself or through its intent), from the
 * state it made: those it changed (`state.changed`) that are no longer pending.
 */
export function tasksEndedBy(
  state: IntentState,
  type: AuditEventType,
  taskId: string | undefined,
): HumanTask[] {
  const intentWide = type === 'intent-canceled' || type === 'intent-failed' || type === 'task-timed-out';
  const taskEnded = type === 'task-decided' || type === 'task-timed-out' || type === 'task-canceled';
  const ids = intentWide ? state.changed : taskEnded && taskId ? [taskId] : [];
  return ids
    .map((id) => state.tasks[id])
    .filter((task): task is HumanTask => task !== undefined && task.status !== 'pending');
}
