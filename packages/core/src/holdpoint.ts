import type { AuditEvent } from './audit/audit-event.js';
import type { AuditVerification, VerifyOptions } from './audit/audit-export.js';
import type { DecideInput, NoteTaskInput, RequestHumanOptions, SubmitOptions } from './engine/options.js';
import type { Actor, HumanResult, HumanTask, Intent, TaskStatus } from './model.js';
import type { TaskType } from './task-types.js';

/** Options of {@link Holdpoint.waitForHuman}: those of `requestHuman`, and a signal to stop waiting. */
export interface WaitForHumanOptions extends RequestHumanOptions {
  /** Stops this wait (the promise rejects with the signal's reason); the task stays. */
  signal?: AbortSignal;
}

/** Options of {@link Holdpoint.complete}. */
export interface CompleteOptions {
  /** The work's result (JSON), kept on the intent. */
  result?: unknown;
  /** Who completed it: an id from authentication, or `{ id, name? }`. @default null (the agent) */
  actor?: string | Actor;
}

/** Options of {@link Holdpoint.fail}. */
export interface FailOptions {
  /** What went wrong; kept on the intent as `error`. */
  error: string;
  /** Who failed it. @default null (the agent) */
  actor?: string | Actor;
}

/** Options of {@link Holdpoint.cancel}. */
export interface CancelOptions {
  /** Why; kept on the intent as `error` and in the audit event. */
  reason?: string;
  /** Who canceled it. @default null (the agent) */
  actor?: string | Actor;
}

/** Options of {@link Holdpoint.cancelTask}. */
export interface CancelTaskOptions {
  /** Why; kept in the audit event. */
  reason?: string;
  /** Who canceled it. @default null (the agent) */
  actor?: string | Actor;
}

/**
 * Options of {@link Holdpoint.listTasks}. Filters combine; each list is read from its own index
 * (status, assignee, assignee and status, type, type and status, the deadlines for `overdue`, and an
 * intent's own tasks), so a page costs the same however many other tasks the store holds. A
 * combination without an index of its own (e.g. `assignee` with `type`) reads the assignee's list and
 * checks the rest per task: still exact, but it reads past the tasks it leaves out.
 *
 * @example
 * let page = await hp.listTasks({ assignee: 'ann@acme.test', status: 'pending', limit: 50 });
 * while (page.cursor) page = await hp.listTasks({ assignee: 'ann@acme.test', status: 'pending', limit: 50, cursor: page.cursor });
 */
export interface ListTasksOptions {
  /** Only tasks this person is (or, without `status: 'pending'`, was) assigned to. */
  assignee?: string;
  /** Only tasks in this status. */
  status?: TaskStatus;
  /** Only the tasks of this intent. */
  intentId?: string;
  /** Only tasks of this type. */
  type?: TaskType;
  /**
   * `true`: only pending tasks past their deadline, most overdue first (instead of newest first).
   * `false`: only tasks that are not.
   */
  overdue?: boolean;
  /** At most this many tasks, 1 to 10,000. @default 100 */
  limit?: number;
  /** The `cursor` of the previous page, with the same filters: read on after it. */
  cursor?: string;
}

/** A page of {@link Holdpoint.listTasks}. */
export interface TaskPage {
  /** Newest first (most overdue first with `overdue: true`). */
  tasks: HumanTask[];
  /** Pass as `cursor` (with the same filters) for the next page; absent when none follows. */
  cursor?: string;
}

/** Options of {@link Holdpoint.taskCounts}. */
export interface TaskCountsOptions {
  /** Count the tasks this person is (pending) or was (other statuses) assigned to. */
  assignee?: string;
}

/** How many tasks are in each status, and in all. */
export type TaskCounts = Record<TaskStatus, number> & { total: number };

/** Options of {@link Holdpoint.events}. Filters combine. */
export interface EventsOptions {
  /**
   * A cursor from a previous page or entry: read the events after it. `'now'`: read nothing, and
   * return the cursor of the newest event (to follow only what comes next). @default the start of the feed
   */
  since?: string;
  /** At most this many events, 1 to 1,000. @default 100 */
  limit?: number;
  /** Only the events of this intent. */
  intentId?: string;
  /** Only the events of this task. */
  taskId?: string;
  /** Only the events of tasks this person was assigned to when the event was recorded. */
  assignee?: string;
}

/** One event of the feed, with the cursor that reads on after it (an SSE `id`, say). */
export interface FeedEntry {
  cursor: string;
  event: AuditEvent;
}

/** A page of the event feed. */
export interface EventPage {
  /** The page's events, in feed order. */
  events: AuditEvent[];
  /** The same events, each with its own cursor. */
  entries: FeedEntry[];
  /** Pass as `since` to read on (after the last entry, or where this read started when it found none). */
  cursor: string;
}

export type { VerifyOptions };

/** Audit trail export and verification. */
export interface HoldpointAudit {
  /**
   * The intent's audit chain as JSONL, one event per line, with a last line that signs the chain
   * head with Ed25519 (key from `auditKey`, or generated on first use and kept in the store).
   * @throws NotFoundError
   */
  export(intentId: string): Promise<string>;
  /**
   * Check an export: offline as {@link verifyAudit} does, trusting this store's own signing key
   * (and any `trustedKeys` given); when the store holds the intent, also against its chain — an
   * export of fewer events than the chain has (truncated, or older) is refused, and `chainEvents`
   * says how many there are.
   * @returns `{ ok: true, signer, trusted, … }`, or `{ ok: false, seq?, reason }`.
   */
  verify(jsonl: string, options?: VerifyOptions): Promise<AuditVerification>;
  /** The SPKI PEM public key that signs this store's exports. */
  publicKey(): Promise<string>;
}

/**
 * A Holdpoint engine: durable human tasks with timers, escalation, quorum, version binding and a
 * signed audit chain, over one store. Create one with `createHoldpoint`.
 *
 * Every change is one audit event appended to its intent's hash chain by a first-writer-wins claim,
 * so a task gets at most one decision and a timer fires once, whichever engine on the store acts.
 */
export interface Holdpoint {
  /** Create an intent: a durable unit of agent work. The same `idempotencyKey` returns the same intent. */
  submit(options: SubmitOptions): Promise<Intent>;
  /** The intent with this id. @throws NotFoundError */
  getIntent(intentId: string): Promise<Intent>;
  /** Mark an intent's work done, with its result. Refused (`INVALID_STATE`) while a task is pending or when already final. */
  complete(intentId: string, options?: CompleteOptions): Promise<Intent>;
  /** Mark an intent failed; its pending tasks are canceled. */
  fail(intentId: string, options: FailOptions): Promise<Intent>;
  /** Cancel an intent; its pending tasks are canceled and their waiters get `status: 'canceled'`. */
  cancel(intentId: string, options?: CancelOptions): Promise<Intent>;

  /**
   * Create a human task (or return the one that holds `idempotencyKey`) without waiting.
   * @throws ValidationError, IdempotencyConflictError, NotFoundError (unknown `intentId`)
   */
  requestHuman(options: RequestHumanOptions): Promise<HumanTask>;
  /**
   * Create a human task and wait for its end: a decision, a timeout, or a cancellation. With the
   * same `idempotencyKey` a restarted agent is handed the same task — or its decision at once.
   *
   * @example
   * const result = await hp.waitForHuman({ task: 'approval', assignee: 'cfo@acme.test', timeout: '48h',
   *   escalateTo: ['deputy-cfo@acme.test'], idempotencyKey: 'q3-2026/cfo' });
   * if (result.status === 'decided' && result.outcome === 'approved') send();
   */
  waitForHuman(options: WaitForHumanOptions): Promise<HumanResult>;
  /** The task with this id. @throws NotFoundError */
  getTask(taskId: string): Promise<HumanTask>;
  /**
   * A page of tasks, newest first, filtered by status, assignee, intent, type or `overdue` — each
   * read from its own index, exact however many other tasks the store holds. Pass `cursor` on for
   * the next page. @throws ValidationError (a bad filter or a cursor that is not one)
   */
  listTasks(options?: ListTasksOptions): Promise<TaskPage>;
  /** How many tasks are in each status — in all, or of one assignee — read from counters, not by counting. */
  taskCounts(options?: TaskCountsOptions): Promise<TaskCounts>;
  /**
   * Record a human's decision. Refused — and nothing changes — when the task is already decided
   * (`ALREADY_DECIDED`), the actor is not a current assignee (`NOT_ASSIGNED`), the version the human
   * saw is not the task's (`STALE_VERSION`), the outcome is not allowed (`INVALID_OUTCOME`), or a
   * required comment, evidence or valid form data is missing (`VALIDATION`).
   */
  decide(taskId: string, input: DecideInput): Promise<HumanTask>;
  /**
   * Record a note on a pending task by one of its current assignees: something they did that is not
   * a decision — declined to answer where they were asked, dismissed the question — as a
   * `task-noted` audit event. Nothing about the task changes; it stays pending. Refused like a
   * decision: `NOT_ASSIGNED` (checked first, unless `asAdmin`), `NOT_FOUND`, `ALREADY_DECIDED` when
   * the task has ended, `VALIDATION`; `INVALID_STATE` past 100 notes on one task.
   *
   * @example
   * await hp.noteTask(taskId, { actor: 'cfo@acme.test', note: 'declined', via: 'mcp' });
   */
  noteTask(taskId: string, input: NoteTaskInput): Promise<HumanTask>;
  /** Cancel one pending task; its waiters get `status: 'canceled'`. */
  cancelTask(taskId: string, options?: CancelTaskOptions): Promise<HumanTask>;

  /**
   * Hear every audit event appended on this store — by this engine or, through the store's
   * wake-ups, by others. Returns the function that stops listening.
   */
  subscribe(listener: (event: AuditEvent) => void): () => void;
  /**
   * Read the event feed of all intents (or of one intent, task or assignee) after `since`. The feed
   * holds every recorded event exactly once, written in the event's own store transaction; a cursor
   * never skips an event and never returns one twice, with any number of engines writing.
   * Order: the order events became readable in the store, so one intent's events are in chain order;
   * events of different intents recorded at the same time may come in either order.
   * @throws ValidationError (a `since` that is not a cursor of this store's feed)
   */
  events(options?: EventsOptions): Promise<EventPage>;
  /** Audit trail export and verification. */
  readonly audit: HoldpointAudit;

  /**
   * Shut down: new calls are refused and pending waits reject with `ENGINE_CLOSED`; every other call
   * in flight settles before the store closes — resolved when its change was recorded, `ENGINE_CLOSED`
   * when it was not. Once the promise resolves nothing of the engine runs any more (no timer, no
   * `onError`). A store that stopped answering is waited for 10 s at most. Idempotent.
   * @example process.once('SIGTERM', () => void hp.close());
   */
  close(): Promise<void>;
}
