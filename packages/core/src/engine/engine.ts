import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
// The real clock, even under a test's fake timers: how long close() waits is plumbing, not logic time.
import { clearTimeout, setTimeout } from 'node:timers';
import type { AuditEvent } from '../audit/audit-event.js';
import { type AuditVerification, compareWithChain, exportAudit, verifyAudit } from '../audit/audit-export.js';
import { generateSigningKey, type SigningKey, signingKeyFrom } from '../audit/signing.js';
import { versionDigest } from '../canonical-json.js';
import { EngineClosedError } from '../errors/engine-closed-error.js';
import { IdempotencyConflictError } from '../errors/idempotency-conflict-error.js';
import { InvalidStateError } from '../errors/invalid-state-error.js';
import { NotAssignedError } from '../errors/not-assigned-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type {
  CancelOptions,
  CancelTaskOptions,
  CompleteOptions,
  EventPage,
  EventsOptions,
  FailOptions,
  FeedEntry,
  Holdpoint,
  HoldpointAudit,
  ListTasksOptions,
  TaskCounts,
  TaskCountsOptions,
  TaskPage,
  VerifyOptions,
  WaitForHumanOptions,
} from '../holdpoint.js';
import type { HumanResult, HumanTask, Intent, TaskStatus } from '../model.js';
import { comparePositions } from '../store/feed-arguments.js';
import {
  decodeWakeUp,
  encodeWakeUp,
  intentIdOfTask,
  layout,
  newId,
  newTaskId,
  parseTimerId,
  type TimerId,
  taskEntry,
  timerId,
} from '../store/layout.js';
import type { IndexEntry, StoreBackend } from '../store/store-backend.js';
import { type Chain, type EventExtras, guard, IntentChain } from './chain.js';
import type { IntentState } from './intent-state.js';
import {
  type DecideInput,
  type NormalizedRequest,
  type NoteTaskInput,
  normalizeActor,
  normalizeActorId,
  normalizeDecision,
  normalizeIdentifier,
  normalizeNote,
  normalizeRequest,
  normalizeResult,
  normalizeSubmit,
  normalizeText,
  type RequestHumanOptions,
  requestDifferences,
  type SubmitOptions,
  taskStatuses,
} from './options.js';
import { isNotifying, type NotifyHook, Outbox, type OutboxQueue } from './outbox.js';
import {
  compareEntries,
  deadlineEntry,
  encodeListCursor,
  listIndexOf,
  normalizeListQuery,
  taskMatches,
} from './task-queries.js';
import {
  type Change,
  cancelIntent,
  cancelTask,
  completeIntent,
  createTask,
  type DueTimer,
  deadlinePassed,
  decideTask,
  escalationDeadline,
  failIntent,
  firstDueOf,
  initialTimers,
  newTask,
  nextReminder,
  noteTask,
  pendingTask,
  refuseDecision,
  remindTask,
  requestFingerprint,
  submittedChange,
  taskNotFound,
  tasksEndedBy,
  timerFailed,
  timerIdsOf,
} from './task-rules.js';
import { type TimerLease, TimerLoop, type TimerScheduler } from './timer-loop.js';
import { Waiters } from './waiters.js';

/** Settings the engine runs with, after validation. */
export interface EngineSettings {
  /** Safety-net poll for waiters and timers, in ms. */
  pollIntervalMs: number;
  /** Whether this engine fires due timers and drains the delivery outbox. */
  runTimers: boolean;
  /** How long an undelivered notification waits before another engine takes it over, in ms. */
  outboxGraceMs: number;
  notify?: NotifyHook;
  auditKey?: string | KeyObject;
  /** Called with errors of background work (timers, deliveries) that have no caller to throw to. */
  onError: (error: unknown) => void;
  /** The clock deadlines, leases and audit times are taken from (the store's, see store-clock.ts). */
  now: () => number;
  /** Stop keeping `now` in step with the store, on close. */
  closeClock?: () => void;
}

/**
 * The public calls `close()` waits for: each one in flight settles before the store is closed —
 * resolved when its change was recorded, `ENGINE_CLOSED` when it was not.
 */
const drainedCalls = [
  'submit',
  'getIntent',
  'complete',
  'fail',
  'cancel',
  'requestHuman',
  'waitForHuman',
  'getTask',
  'listTasks',
  'decide',
  'cancelTask',
  'events',
] as const;

/**
 * How long `close()` waits for calls in flight and background work before it closes the store anyway.
 * Only a store that stopped answering is that slow (Redis and the PostgreSQL connect time out in 5 s).
 */
const closeDrainMs = 10_000;
/** Reads of the events another engine announced, before they are given up (see #emitRemote). */
const remoteReadAttempts = 5;

/** The most event text one `events()` page carries (at least one event, however big). */
const eventsPageBytes = 8 * 1024 * 1024;

/**
 * How long a timer whose task is not recorded waits for it before it is dropped: far longer than
 * writing the task's event takes after its timers were written.
 */
const unrecordedTaskGraceMs = 60_000;

/** What an idempotency key of `requestHuman` holds: the whole request, with its ids assigned. */
interface IdempotencyRecord {
  fingerprint: string;
  intentId: string;
  taskId: string;
  implicitIntent: boolean;
  request: NormalizedRequest;
}

/** A call's options: absent (then `{}`) or an object; anything else is refused. */
function optionsOf<T extends object>(options: T | undefined, where: string): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError({
      field: where,
      message: `${where}: expected an options object, got ${options === null ? 'null' : typeof options}`,
    });
  }
  return options;
}

/** A `reason` given to `cancel` or `cancelTask`: text, when given. */
function reasonOf(reason: unknown, field: string): Record<string, string> {
  const text = normalizeText(reason, field);
  return text === undefined ? {} : { reason: text };
}

/** The refusal of a `submit` whose idempotency key holds other work. */
function submitConflict(
  idempotencyKey: string,
  intentId: string,
  fields: string[],
): IdempotencyConflictError {
  return new IdempotencyConflictError({
    idempotencyKey,
    existingId: intentId,
    fields,
    message: `submit: idempotencyKey '${idempotencyKey}' already belongs to intent ${intentId}, submitted with another ${fields.join(', ')}. Use a new key for new work.`,
  });
}

/**
 * The engine behind {@link Holdpoint}: the public calls, each validating its input, asking the task
 * rules (`task-rules.ts`) for the change and appending it to the intent's chain (`chain.ts`), with
 * the timer loop (`timer-loop.ts`), the delivery outbox (`outbox.ts`) and the waiters (`waiters.ts`)
 * around it. Where it writes what is named in the storage layout (`store/layout.ts`).
 *
 * @internal Create one with `createHoldpoint`; its public type is {@link Holdpoint}.
 */
export class HoldpointEngine implements Holdpoint {
  readonly #store: StoreBackend;
  readonly #ownsStore: boolean;
  readonly #settings: EngineSettings;
  readonly #engineId = randomUUID();
  readonly #chain: Chain;
  readonly #timers: TimerScheduler;
  readonly #outbox: OutboxQueue;
  readonly #waiters: Waiters;
  readonly #listeners = new Set<{ listener: (event: AuditEvent) => void }>();
  /** Intents with a notifying change being recorded and delivered, and how many such changes. */
  readonly #delivering = new Map<string, number>();
  /** Wake-ups received from other engines so far (a waiter registered across one is checked). */
  #remoteWakeUps = 0;
  #signingKey: Promise<SigningKey> | undefined;
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Public calls in flight, with the means to answer them if the store never does (see close()). */
  readonly #calls = new Map<Promise<unknown>, (error: unknown) => void>();
  /** Background work started by wake-ups (waiter checks, remote events), awaited by close(). */
  readonly #background = new Set<Promise<unknown>>();
  /** Errors of work without a caller; work cut short by close() is not worth reporting. */
  readonly #reportError = (error: unknown): void => {
    if (!(this.#closed && EngineClosedError.isInstance(error))) this.#settings.onError(error);
  };

  constructor(store: StoreBackend, ownsStore: boolean, settings: EngineSettings) {
    // Every public call is counted while in flight, so that close() can wait for it.
    for (const name of drainedCalls) {
      const call = this[name] as (...args: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) =>
        this.#drained(name, () => call.apply(this, args));
    }
    this.#store = store;
    this.#ownsStore = ownsStore;
    this.#settings = settings;
    const { now } = settings;
    const onError = this.#reportError;
    this.#chain = new IntentChain({
      store,
      now,
      onError,
      host: { appended: (state, event) => this.#appended(state, event) },
      assertOpen: () => {
        if (this.#closed)
          throw new EngineClosedError({
            message: 'The engine was closed while this change was being made; it was not recorded.',
          });
      },
    });
    this.#outbox = new Outbox({
      store,
      engineId: this.#engineId,
      now,
      notify: settings.notify,
      graceMs: settings.outboxGraceMs,
      onError,
      host: {
        loadMaybe: (intentId, tasks) => this.#chain.loadMaybe(intentId, { tasks }),
        findEvent: (state, eventId) => this.#chain.findEvent(state, eventId),
        intentOf: (state) => this.#chain.intentOf(state),
      },
    });
    this.#timers = new TimerLoop({
      store,
      engineId: this.#engineId,
      now,
      pollIntervalMs: settings.pollIntervalMs,
      enabled: settings.runTimers,
      onError,
      host: {
        fire: (id, due, lease) => this.#fireTimer(id, due, lease),
        afterRound: () => this.#outbox.drain(),
      },
    });
    this.#waiters = new Waiters({
      pollIntervalMs: settings.pollIntervalMs,
      load: (intentId, tasks) => this.#chain.load(intentId, { tasks }),
      changed: async (heads) => {
        const next = await guard(store, 'read', () =>
          store.readClaims(heads.map((head) => layout.eventKey(head.intentId, head.seq + 1))),
        );
        return heads.filter((_, index) => next[index] !== undefined).map((head) => head.intentId);
      },
      delivering: (intentId) => this.#delivering.has(intentId),
      onError,
    });
  }

  /** Start listening for wake-ups and firing timers; called by `createHoldpoint`. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#store.subscribe((message) => this.#onMessage(message));
    // Overdue timers fire now, in the background: time that passed while no engine ran counts, and
    // start-up does not wait for however many there are.
    this.#timers.start();
  }

  // ---------------------------------------------------------------------------------------------
  // Intents

  async submit(options: SubmitOptions): Promise<Intent> {
    this.#assertOpen('submit');
    const parsed = normalizeSubmit(options);
    let intentId = newId('int');
    let fresh = true;
    if (parsed.idempotencyKey !== undefined) {
      const key = layout.intentIdempotencyKey(parsed.idempotencyKey);
      const held = await this.#claimOrRead<{ intentId: string; type: string }>(
        key,
        JSON.stringify({ intentId, type: parsed.type }),
      );
      if (held !== undefined) {
        fresh = false;
        if (held.type !== parsed.type) throw submitConflict(parsed.idempotencyKey, held.intentId, ['type']);
        intentId = held.intentId;
      }
    }
    const state = await this.#ensureIntent(intentId, parsed.type, parsed.input, parsed.idempotencyKey, fresh);
    // The same key with other input is other work: the intent holds the first input.
    if (!fresh && versionDigest(state.intent.input) !== versionDigest(parsed.input)) {
      throw submitConflict(parsed.idempotencyKey as string, intentId, ['input']);
    }
    return this.#chain.intentOf(state);
  }

  async getIntent(intentId: string): Promise<Intent> {
    this.#assertOpen('getIntent');
    return this.#chain.intentOf(await this.#chain.load(intentId));
  }

  async complete(intentId: string, given: CompleteOptions = {}): Promise<Intent> {
    this.#assertOpen('complete');
    const options = optionsOf(given, 'complete');
    const actor = normalizeActor(options.actor, 'complete.actor');
    const result = normalizeResult(options.result, 'complete.result');
    const { state } = await this.#append(intentId, (current) => completeIntent(current, actor, result));
    return this.#chain.intentOf(state);
  }

  async fail(intentId: string, options: FailOptions): Promise<Intent> {
    this.#assertOpen('fail');
    if (typeof options?.error !== 'string' || options.error.trim() === '') {
      throw new ValidationError({ field: 'fail.error', message: "fail: give error: 'what went wrong'" });
    }
    const error = normalizeText(options.error, 'fail.error', true) as string;
    const actor = normalizeActor(options.actor, 'fail.actor');
    const { state } = await this.#append(intentId, (current) => failIntent(current, actor, error));
    return this.#chain.intentOf(state);
  }

  async cancel(intentId: string, given: CancelOptions = {}): Promise<Intent> {
    this.#assertOpen('cancel');
    const options = optionsOf(given, 'cancel');
    const actor = normalizeActor(options.actor, 'cancel.actor');
    const data = reasonOf(options.reason, 'cancel.reason');
    const { state } = await this.#append(intentId, (current) => cancelIntent(current, actor, data));
    return this.#chain.intentOf(state);
  }

  // ---------------------------------------------------------------------------------------------
  // Tasks

  async requestHuman(options: RequestHumanOptions): Promise<HumanTask> {
    this.#assertOpen('requestHuman');
    const request = normalizeRequest(options, 'requestHuman');
    return structuredClone((await this.#request(request, 'requestHuman')).task);
  }

  async waitForHuman(options: WaitForHumanOptions): Promise<HumanResult> {
    this.#assertOpen('waitForHuman');
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ValidationError({
        field: 'waitForHuman.signal',
        message: 'waitForHuman.signal must be an AbortSignal',
      });
    }
    signal?.throwIfAborted();
    const request = normalizeRequest(options, 'waitForHuman');
    const remoteBefore = this.#remoteWakeUps;
    const { task, createdAt } = await this.#request(request, 'waitForHuman');
    // Closed while the task was being asked for: the waiters were already told.
    this.#assertOpen('waitForHuman');
    // A task this very call created, with no change of its intent since (the cached state is the one
    // its event made) and no wake-up from another engine meanwhile, cannot have ended: the waiter
    // needs no read to register. Otherwise it is checked once registered (it may have ended between).
    const current =
      createdAt !== undefined &&
      this.#remoteWakeUps === remoteBefore &&
      this.#chain.cachedSeq(task.intentId) === createdAt;
    return this.#waiters.wait(task, signal, current ? createdAt : undefined);
  }

  async getTask(taskId: string): Promise<HumanTask> {
    this.#assertOpen('getTask');
    const intentId = this.#intentIdOf(taskId);
    const task = (await this.#chain.loadMaybe(intentId, { tasks: [taskId] }))?.tasks[taskId];
    if (!task) throw taskNotFound(taskId);
    return structuredClone(task);
  }

  async listTasks(given: ListTasksOptions = {}): Promise<TaskPage> {
    this.#assertOpen('listTasks');
    const query = normalizeListQuery(optionsOf(given, 'listTasks'));
    const now = this.#settings.now();
    const { limit } = query;
    const matches = (task: HumanTask) => taskMatches(task, query, now);
    if (query.intentId !== undefined) {
      // An intent's tasks are its own records: no index needed, and the order is the lists' order.
      const state = await this.#chain.loadMaybe(query.intentId);
      const after = query.cursor;
      const found = (state === undefined ? [] : await this.#chain.tasksOf(state))
        .filter(matches)
        .map((task) => ({ task, entry: query.overdue === true ? deadlineEntry(task) : taskEntry(task) }))
        .sort((a, b) => compareEntries(a.entry, b.entry))
        .filter(({ entry }) => after === undefined || compareEntries(entry, after) > 0);
      const page = found.slice(0, limit);
      const last = page.at(-1);
      return {
        tasks: page.map(({ task }) => structuredClone(task)),
        ...(found.length > limit && last ? { cursor: encodeListCursor(last.entry) } : {}),
      };
    }
    const { index, max } = listIndexOf(query, now);
    if (index === undefined) return { tasks: [] };
    const tasks: HumanTask[] = [];
    let after = query.cursor;
    let skipped = 0;
    for (;;) {
      // One more than the page needs, to know whether another page follows; more when entries
      // were left out by a filter the index does not answer.
      const size = Math.min(10_000, Math.max(limit - tasks.length + 1, skipped * 2));
      const from = after;
      const entries = await guard(this.#store, 'listTasks', () =>
        this.#store.indexRange(index, {
          limit: size,
          ...(max === undefined ? {} : { max }),
          ...(from ? { after: from } : {}),
        }),
      );
      const found = await this.#chain.tasksById(entries.map((entry) => entry.member));
      for (const entry of entries) {
        const task = found.get(entry.member);
        // The lists are written with each event, so an entry stands for a task in that state; the
        // task may have moved on since the index was read, and then it no longer matches.
        if (task && matches(task)) {
          if (tasks.length === limit) return { tasks, cursor: encodeListCursor(after as IndexEntry) };
          tasks.push(structuredClone(task));
        } else {
          skipped++;
        }
        after = entry;
      }
      if (entries.length < size) return { tasks };
    }
  }

  async taskCounts(given: TaskCountsOptions = {}): Promise<TaskCounts> {
    this.#assertOpen('taskCounts');
    const options = optionsOf(given, 'taskCounts');
    const assignee =
      options.assignee === undefined ? undefined : normalizeActorId(options.assignee, 'taskCounts.assignee');
    const counters = taskStatuses.map((status) =>
      assignee === undefined ? layout.countStatus(status) : layout.countAssigneeStatus(status, assignee),
    );
    const values = await guard(this.#store, 'taskCounts', () => this.#store.readCounters(counters));
    const counts = Object.fromEntries(taskStatuses.map((status, at) => [status, values[at] ?? 0])) as Record<
      TaskStatus,
      number
    >;
    return { ...counts, total: values.reduce((sum, value) => sum + value, 0) };
  }

  async decide(taskId: string, input: DecideInput): Promise<HumanTask> {
    this.#assertOpen('decide');
    const decision = normalizeDecision(input);
    const intentId = this.#intentIdOf(taskId);
    try {
      const { state } = await this.#append(
        intentId,
        (current) => decideTask(current, taskId, decision, this.#settings.now()),
        { tasks: [taskId] },
      );
      return structuredClone(state.tasks[taskId] as HumanTask);
    } catch (error) {
      // Someone not assigned tried to decide: that attempt is part of the record (once per person
      // and task), and the refusal stands whether or not recording it worked.
      if (NotAssignedError.isInstance(error)) {
        await this.#append(
          intentId,
          (current) => refuseDecision(current, taskId, decision.actor, decision.outcome),
          { tasks: [taskId] },
        ).catch(this.#reportError);
      }
      throw error;
    }
  }

  async cancelTask(taskId: string, given: CancelTaskOptions = {}): Promise<HumanTask> {
    this.#assertOpen('cancelTask');
    const options = optionsOf(given, 'cancelTask');
    const actor = normalizeActor(options.actor, 'cancelTask.actor');
    const data = reasonOf(options.reason, 'cancelTask.reason');
    const intentId = this.#intentIdOf(taskId);
    const { state } = await this.#append(intentId, (current) => cancelTask(current, taskId, actor, data), {
      tasks: [taskId],
    });
    return structuredClone(state.tasks[taskId] as HumanTask);
  }

  async noteTask(taskId: string, input: NoteTaskInput): Promise<HumanTask> {
    this.#assertOpen('noteTask');
    const note = normalizeNote(input);
    const intentId = this.#intentIdOf(taskId);
    const { state } = await this.#append(intentId, (current) => noteTask(current, taskId, note), {
      tasks: [taskId],
    });
    return structuredClone(state.tasks[taskId] as HumanTask);
  }

  // ---------------------------------------------------------------------------------------------
  // Events and audit

  subscribe(listener: (event: AuditEvent) => void): () => void {
    this.#assertOpen('subscribe');
    if (typeof listener !== 'function') {
      throw new ValidationError({
        field: 'subscribe.listener',
        message: 'subscribe: give a function (event) => void',
      });
    }
    // Each call is its own subscription: the same function subscribed twice hears every event
    // twice, and each returned function ends one of them.
    const entry = { listener };
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  async events(given: EventsOptions = {}): Promise<EventPage> {
    this.#assertOpen('events');
    const options = optionsOf(given, 'events');
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ValidationError({
        field: 'events.limit',
        message: 'events.limit must be an integer from 1 to 1000',
      });
    }
    const filter = {
      ...(options.intentId === undefined
        ? {}
        : { intentId: normalizeIdentifier(options.intentId, 'events.intentId') }),
      ...(options.taskId === undefined
        ? {}
        : { taskId: normalizeIdentifier(options.taskId, 'events.taskId') }),
      ...(options.assignee === undefined
        ? {}
        : { assignee: normalizeActorId(options.assignee, 'events.assignee') }),
    };
    const since = options.since;
    if (since !== undefined && typeof since !== 'string') {
      throw new ValidationError({
        field: 'events.since',
        message: `events.since (a ${since === null ? 'null' : typeof since}) is not a cursor returned by events()`,
      });
    }
    if (since === 'now') {
      return {
        events: [],
        entries: [],
        cursor: await guard(this.#store, 'events', () => this.#store.feedHead()),
      };
    }
    // The store checks the cursor: a malformed one is refused with VALIDATION.
    const refs = await guard(this.#store, 'events', () =>
      this.#store.readFeed({ limit, ...filter, ...(since === undefined ? {} : { after: since }) }),
    );
    // Nothing after the cursor: it must not be ahead of the feed either (a cursor of another store,
    // or of this one before it was emptied), or the reader would wait there and miss what comes.
    if (refs.length === 0 && since !== undefined) {
      const head = await guard(this.#store, 'events', () => this.#store.feedHead());
      if (comparePositions(since, head) > 0) {
        throw new ValidationError({
          field: 'events.since',
          message: `events.since '${since}' is ahead of this store's feed (its newest event is at '${head}'): it is not a cursor this store gave. Read from the start (no since) or from 'now'.`,
        });
      }
    }
    // A page stops at about eventsPageBytes of events, whatever their contexts weigh; the cursor
    // then points after the last event it holds.
    const read = await this.#chain.readEventsUpTo(refs, eventsPageBytes);
    const entries: FeedEntry[] = [];
    for (const [at, ref] of refs.slice(0, read.length).entries()) {
      const event = read[at];
      // Written in one transaction with its feed entry, an event is always there.
      if (event === undefined) {
        throw new StoreUnavailableError({
          store: this.#store.kind,
          operation: 'events',
          cause: new Error(`the feed names event ${ref.intentId}:${ref.seq}, which the store does not hold`),
        });
      }
      entries.push({ cursor: ref.position, event });
    }
    return {
      events: entries.map((entry) => entry.event),
      entries,
      cursor: entries.at(-1)?.cursor ?? since ?? '0',
    };
  }

  readonly audit: HoldpointAudit = {
    export: (intentId: string): Promise<string> =>
      this.#drained('audit.export', async () => {
        const events = await this.#chain.readAll(intentId);
        return exportAudit(intentId, events, await this.#signingKeyOf());
      }),
    verify: (jsonl: string, given: VerifyOptions = {}): Promise<AuditVerification> =>
      this.#drained('audit.verify', () => this.#verify(jsonl, given)),
    publicKey: (): Promise<string> =>
      this.#drained('audit.publicKey', async () => (await this.#signingKeyOf()).publicKeyPem),
  };

  async #verify(jsonl: string, given: VerifyOptions): Promise<AuditVerification> {
    if (typeof jsonl !== 'string') {
      throw new ValidationError({
        field: 'audit.verify.jsonl',
        message: 'audit.verify: give the JSONL text returned by audit.export',
      });
    }
    const options = optionsOf(given, 'audit.verify');
    // The keys given are the ones trusted; without any, this store's own.
    const result = verifyAudit(
      jsonl,
      options.publicKey === undefined && options.trustedKeys === undefined
        ? { trustedKeys: [(await this.#signingKeyOf()).publicKey] }
        : {
            ...(options.publicKey === undefined ? {} : { publicKey: options.publicKey }),
            ...(options.trustedKeys === undefined ? {} : { trustedKeys: options.trustedKeys }),
          },
    );
    if (!result.ok) return result;
    // An engine that holds the intent knows how long its chain really is.
    // (An intent id no store key can hold is not one this store holds.)
    const state = await this.#chain
      .loadMaybe(result.intentId)
      .catch((error) => (ValidationError.isInstance(error) ? undefined : Promise.reject(error)));
    if (!state) return result;
    return compareWithChain(
      result,
      state.intent.seq,
      await this.#chain
        .readEvents([{ intentId: result.intentId, seq: result.events }])
        .then(([event]) => event?.hash),
    );
  }

  /**
   * Close the engine. New calls are refused at once (`ENGINE_CLOSED`), waiters are rejected, and
   * every call in flight settles before the store closes: resolved when its change was recorded,
   * `ENGINE_CLOSED` when it was not (a change not yet claimed is not made). Nothing of the engine
   * runs after the returned promise resolves.
   */
  close(): Promise<void> {
    this.#settings.closeClock?.();
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#outbox.close();
    this.#unsubscribe?.();
    this.#waiters.rejectAll(
      () => new EngineClosedError({ message: 'waitForHuman: the engine was closed while waiting' }),
    );
    // The store stays open until the calls in flight and the background work have finished with it:
    // a pool closed under them would leave them unanswered.
    const drained = Promise.all([
      this.#timers.close(),
      this.#waiters.close(),
      (async () => {
        while (this.#calls.size > 0 || this.#background.size > 0) {
          await Promise.allSettled([...this.#calls.keys(), ...this.#background]);
        }
      })(),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), closeDrainMs);
      timer.unref();
    });
    if ((await Promise.race([drained, late])) === 'late') {
      // The store stopped answering: what is still in flight is answered here, saying so.
      for (const abandon of this.#calls.values()) {
        abandon(
          new EngineClosedError({
            message: `The engine was closed and the store did not answer this call within ${closeDrainMs / 1000} s; whether its change was recorded is unknown. Read it again (getTask, getIntent) from a new engine.`,
          }),
        );
      }
    }
    clearTimeout(timer);
    if (this.#ownsStore) await this.#store.close();
  }

  /** Run a public call, counted while in flight so that close() can wait for it. */
  #drained<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new EngineClosedError({
          message: `${operation}: the engine is closed; create a new one with createHoldpoint()`,
        }),
      );
    }
    let abandon!: (error: unknown) => void;
    const answer = new Promise<T>((resolve, reject) => {
      abandon = reject;
      work().then(resolve, reject);
    });
    const settled = answer.then(
      () => undefined,
      () => undefined,
    );
    this.#calls.set(settled, abandon);
    void settled.then(() => this.#calls.delete(settled));
    return answer;
  }

  /** Background work that close() waits for. */
  #inBackground(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#background.add(settled);
    void settled.then(() => this.#background.delete(settled));
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  /**
   * The task a request names, created if it does not exist yet. `createdAt`: this call recorded the
   * task, and its intent's `seq` after that event.
   */
  async #request(
    request: NormalizedRequest,
    where: string,
  ): Promise<{ task: HumanTask; createdAt?: number }> {
    // Set when the one-transaction start found the key held: read what holds it, no claim first.
    let keyHeld = false;
    if (request.intentId === undefined) {
      const started = await this.#startIntentWithTask(request);
      if (started === false) keyHeld = true;
      else if (started !== undefined) return started;
    }
    if (request.idempotencyKey === undefined) {
      const intentId = request.intentId ?? newId('int');
      const implicit = request.intentId === undefined;
      return this.#createTask(intentId, newTaskId(intentId), request, implicit, implicit, true);
    }
    const key = layout.taskIdempotencyKey(request.idempotencyKey);
    const intentId = request.intentId ?? newId('int');
    const mine: IdempotencyRecord = {
      fingerprint: requestFingerprint(request),
      intentId,
      taskId: newTaskId(intentId),
      implicitIntent: request.intentId === undefined,
      request,
    };
    const held = await this.#claimOrRead<IdempotencyRecord>(key, JSON.stringify(mine), keyHeld);
    const won = held === undefined;
    const record = held ?? mine;
    if (held !== undefined) {
      const sameIntent =
        request.intentId === undefined ? record.implicitIntent : record.intentId === request.intentId;
      const fields = [...(sameIntent ? [] : ['intentId']), ...requestDifferences(record.request, request)];
      if (fields.length > 0) {
        throw new IdempotencyConflictError({
          idempotencyKey: request.idempotencyKey,
          existingId: record.taskId,
          fields,
          message: `${where}: idempotencyKey '${request.idempotencyKey}' already belongs to task ${record.taskId}, asked with another ${fields.join(', ')}. A retry must ask for the same thing; use a new key for a new request.`,
        });
      }
    }
    // The claim holds the whole request, so whoever comes next — this call, or the same agent after
    // a crash right here — finishes creating the task with the same ids.
    try {
      // An implicit intent whose id this call made (it won the key) cannot exist yet: nothing to read.
      const fresh = won && record.implicitIntent;
      return await this.#createTask(
        record.intentId,
        record.taskId,
        record.request,
        record.implicitIntent,
        fresh,
        won,
      );
    } catch (error) {
      // Refused for good (no such intent, or it is closed) on a key this call took: the key goes back,
      // as if the request had never been made, and is free for the corrected request.
      if (won && (NotFoundError.isInstance(error) || InvalidStateError.isInstance(error))) {
        await this.#store.releaseClaim(key, JSON.stringify(mine)).catch(() => undefined);
      }
      throw error;
    }
  }

  /**
   * An implicit intent and its task in one store transaction: `intent-submitted`, `task-created` (with
   * its timers) and the idempotency key that names them, all or nothing — one commit for what
   * {@link #request} otherwise makes in three. Nothing is recorded when the store cannot append
   * several events at once (`undefined`) or the key is held (`false`, an agent's retry):
   * {@link #request} then goes the usual way, reading what holds the key.
   */
  async #startIntentWithTask(
    request: NormalizedRequest,
  ): Promise<{ task: HumanTask; createdAt: number } | false | undefined> {
    const intentId = newId('int');
    const taskId = newTaskId(intentId);
    const claims =
      request.idempotencyKey === undefined
        ? []
        : [
            {
              key: layout.taskIdempotencyKey(request.idempotencyKey),
              value: JSON.stringify({
                fingerprint: requestFingerprint(request),
                intentId,
                taskId,
                implicitIntent: true,
                request,
              } satisfies IdempotencyRecord),
            },
          ];
    const task = newTask(taskId, intentId, request, this.#settings.now());
    const timers = initialTimers(task);
    let held = false;
    try {
      const started = await this.#chain.appendFirst(
        intentId,
        [
          () => submittedChange('human-task', null, request.idempotencyKey),
          (state) => createTask(state, task) as Change,
        ],
        {
          claims,
          writes: (events, states) => {
            if (!held && events.some((event) => isNotifying(event.type))) held = this.#holdWaiters(intentId);
            return this.#eventsWrites(events, states, timers);
          },
        },
      );
      if (started === undefined || started === false) return started;
      if (timers.length > 0) this.#timers.schedule(Math.min(...timers.map((timer) => timer.due)));
      return { task: started.state.tasks[taskId] as HumanTask, createdAt: started.state.intent.seq };
    } finally {
      if (held) await this.#releaseWaiters(intentId);
    }
  }

  async #createTask(
    intentId: string,
    taskId: string,
    request: NormalizedRequest,
    implicitIntent: boolean,
    freshIntent: boolean,
    freshTask: boolean,
  ): Promise<{ task: HumanTask; createdAt?: number }> {
    // A task id this very call made (no key, or a key it won) names no task yet: nothing to read
    // for it. Otherwise the task may exist (a retry, or the same agent after a crash).
    const tasks = freshTask ? [] : [taskId];
    const state = implicitIntent
      ? await this.#ensureIntent(intentId, 'human-task', null, request.idempotencyKey, freshIntent, tasks)
      : await this.#chain.load(intentId, { tasks });
    const existing = state.tasks[taskId];
    if (existing) return { task: existing };
    const task = newTask(taskId, intentId, request, this.#settings.now());
    const timers = initialTimers(task);
    // The task's timers are written with its event (as its list entries): a task that exists always
    // has them, and no timer exists without its task.
    const result = await this.#append(intentId, (current) => createTask(current, task), {
      from: state,
      tasks,
      timers,
    });
    if (result.event && timers.length > 0)
      this.#timers.schedule(Math.min(...timers.map((timer) => timer.due)));
    const created = result.state.tasks[taskId] as HumanTask;
    return result.event ? { task: created, createdAt: result.state.intent.seq } : { task: created };
  }

  /**
   * The intent's state, recording `intent-submitted` first if the intent does not exist yet.
   * @param fresh the id was made by this very call, so there is nothing to read yet.
   */
  async #ensureIntent(
    intentId: string,
    type: string,
    input: unknown,
    idempotencyKey: string | undefined,
    fresh = false,
    tasks: readonly string[] = [],
  ): Promise<IntentState> {
    const existing = fresh ? undefined : await this.#chain.loadMaybe(intentId, { tasks });
    if (existing) return existing;
    const { state } = await this.#append(
      intentId,
      (current) => (current.intent.seq > 0 ? null : submittedChange(type, input, idempotencyKey)),
      { from: this.#chain.emptyState(intentId) },
    );
    return state;
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  /**
   * Fire one due timer. A failure a retry may fix (the store is away, the engine closing) is thrown:
   * the timer stays due and is fired again. Any other failure would recur on every round, so it is
   * recorded once in the intent's chain (`task-timer-failed`, which the timeline shows), reported
   * once, and the timer is dropped. `false` when the timer stays due: its task is not recorded yet;
   * `'removed'` when the event it recorded took it out of the `due` index.
   */
  async #fireTimer(id: string, due: number, lease?: TimerLease): Promise<boolean | 'removed'> {
    const timer = parseTimerId(id);
    const intentId = timer && intentIdOfTask(timer.taskId);
    if (!timer || intentId === undefined) return true;
    try {
      return await this.#fire(timer, intentId, due, lease);
    } catch (error) {
      if (StoreUnavailableError.isInstance(error) || EngineClosedError.isInstance(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      const { event } = await this.#append(intentId, (current) => timerFailed(current, timer, reason), {
        tasks: [timer.taskId],
        fired: id,
        ...(lease === undefined ? {} : { lease }),
      });
      if (event) this.#reportError(error);
      return event ? 'removed' : true;
    }
  }

  async #fire(
    timer: TimerId,
    intentId: string,
    due: number,
    lease?: TimerLease,
  ): Promise<boolean | 'removed'> {
    const { taskId, count } = timer;
    // The intent's records alone, one round trip: the firing's claim confirms them (an event recorded
    // after them holds its seq). What would drop the timer without an event is confirmed first.
    const read = await this.#chain.loadMaybe(intentId, { tasks: [taskId], probe: false });
    const state =
      read !== undefined && this.#chain.isUnconfirmed(read) && !pendingTask(read, taskId)
        ? await this.#chain.loadMaybe(intentId, { known: read, tasks: [taskId] })
        : read;
    if (!state?.tasks[taskId]) {
      // Timers are written with their task's event. Engines before that wrote them ahead of it: one
      // such timer that falls due before its event is recorded waits for it, and one whose task never
      // came to be (refused, or its engine died first) is dropped after a grace.
      return due < this.#settings.now() - unrecordedTaskGraceMs;
    }
    const task = pendingTask(state, taskId);
    if (!task) return true;
    const nowMs = this.#settings.now();
    if (timer.kind === 'remind') {
      if (!task.remind) return true;
      const next = nextReminder(task, count, nowMs);
      const { event } = await this.#append(intentId, (current) => remindTask(current, taskId, count), {
        from: state,
        tasks: [taskId],
        timers: next ? [next] : [],
        fired: timerId(timer),
        ...(lease === undefined ? {} : { lease }),
      });
      return event ? 'removed' : true;
    }
    const deadline = escalationDeadline(task, count, nowMs);
    const { event } = await this.#append(
      intentId,
      (current) => deadlinePassed(current, taskId, count, nowMs),
      {
        from: state,
        tasks: [taskId],
        timers: deadline ? [deadline] : [],
        fired: timerId(timer),
        ...(lease === undefined ? {} : { lease }),
      },
    );
    return event ? 'removed' : true;
  }

  // ---------------------------------------------------------------------------------------------
  // Derived writes

  /**
   * Append through the chain. With the event, in its store transaction, go the timers it starts
   * (`timers`), the removal of the timer it fires (`fired`) and of the timers of the tasks it ends,
   * the outbox entry of a notifying event and the wake-up for the other engines: one commit, so
   * none of them can exist without the event or be missing after it. When this engine delivers, the
   * intent's waiters are held from before the event is recorded until the hook has been called for
   * it: an agent that resumes on an event can count on its notification having gone out (the mail
   * was sent before the agent acts on the decision). A poll or wake-up meanwhile settles nothing;
   * the waiters are settled afterwards from the newest state.
   */
  async #append(
    intentId: string,
    build: (state: IntentState) => Change | null,
    options: {
      from?: IntentState;
      tasks?: readonly string[];
      timers?: readonly DueTimer[];
      fired?: string;
      /** The lease the timer `fired` is fired under: released with its event. */
      lease?: TimerLease;
    } = {},
  ): Promise<{ state: IntentState; event?: AuditEvent }> {
    let held = false;
    try {
      return await this.#chain.append(intentId, build, {
        ...(options.from === undefined ? {} : { from: options.from }),
        ...(options.tasks === undefined ? {} : { tasks: options.tasks }),
        writes: (change, event, next) => {
          if (!held && isNotifying(change.type)) held = this.#holdWaiters(intentId);
          const writes = this.#eventWrites(event, next, options.timers ?? [], options.fired);
          return options.lease === undefined ? writes : { ...writes, releaseClaims: [options.lease] };
        },
      });
    } finally {
      if (held) await this.#releaseWaiters(intentId);
    }
  }

  /** What the store writes with an event besides its lists and records (see `#append`). */
  #eventWrites(
    event: AuditEvent,
    next: IntentState,
    timers: readonly DueTimer[],
    fired: string | undefined,
    /** The first of several events recorded with this one (its wake-up names them all). */
    firstSeq?: number,
  ): EventExtras {
    const notifies = isNotifying(event.type);
    // The timer fired and every timer of the tasks the event ends leave the due index; a timer the
    // event would start for a task it ends is not written at all.
    const removed = new Set(tasksEndedBy(next, event.type, event.taskId).flatMap(timerIdsOf));
    if (fired !== undefined) removed.add(fired);
    const indexAdd: Array<{ index: string; member: string; score: number }> = timers
      .map((timer) => ({ index: layout.dueIndex, member: timerId(timer), score: timer.due }))
      .filter((entry) => !removed.has(entry.member));
    if (notifies) indexAdd.push(this.#outbox.entry(event.intentId, event.id));
    const task = event.taskId === undefined ? undefined : next.tasks[event.taskId];
    const due = task && firstDueOf(task);
    return {
      indexAdd,
      indexRemove: [...removed].map((member) => ({ index: layout.dueIndex, member })),
      message: encodeWakeUp({
        engineId: this.#engineId,
        intentId: event.intentId,
        seq: event.seq,
        ...(firstSeq === undefined || firstSeq === event.seq ? {} : { firstSeq }),
        ...(event.taskId === undefined ? {} : { taskId: event.taskId }),
        ...(due === undefined ? {} : { due }),
        ...(notifies && !this.#outbox.delivers ? { outbox: true } : {}),
        ...(this.#settings.runTimers ? {} : { firesNoTimers: true }),
      }),
    };
  }

  /**
   * What the store writes with several events recorded in one transaction (`appendFirst`): each
   * event's writes, the timers (`timers`) started by the event of their task, and one wake-up for
   * all of them — the last event's, naming the first event's `seq` so that other engines' listeners
   * read them all.
   */
  #eventsWrites(
    events: readonly AuditEvent[],
    states: readonly IntentState[],
    timers: readonly DueTimer[],
  ): EventExtras {
    const indexAdd: NonNullable<EventExtras['indexAdd']>[number][] = [];
    const indexRemove: NonNullable<EventExtras['indexRemove']>[number][] = [];
    let message: string | undefined;
    for (const [at, event] of events.entries()) {
      const own = timers.filter((timer) => timer.taskId === event.taskId && event.type === 'task-created');
      const writes = this.#eventWrites(event, states[at] as IntentState, own, undefined, events[0]?.seq);
      indexAdd.push(...(writes.indexAdd ?? []));
      indexRemove.push(...(writes.indexRemove ?? []));
      message = writes.message;
    }
    return { indexAdd, indexRemove, ...(message === undefined ? {} : { message }) };
  }

  /**
   * Hold an intent's waiters until a notifying change has been delivered (see `#append`), when this
   * engine delivers: true when held, to be ended by {@link #releaseWaiters}.
   */
  #holdWaiters(intentId: string): boolean {
    if (!this.#outbox.delivers) return false;
    this.#delivering.set(intentId, (this.#delivering.get(intentId) ?? 0) + 1);
    return true;
  }

  /** End one hold on an intent's waiters; the last one settles them from the newest state. */
  async #releaseWaiters(intentId: string): Promise<void> {
    const left = (this.#delivering.get(intentId) ?? 1) - 1;
    if (left > 0) {
      this.#delivering.set(intentId, left);
      return;
    }
    this.#delivering.delete(intentId);
    if (this.#waiters.hasIntent(intentId)) await this.#waiters.check(intentId);
  }

  /**
   * After an event is recorded (with its feed entry, list entries, timers and wake-up, by the
   * chain): the listeners, the waiters and the delivery hook. All derived: a failure is reported,
   * not thrown at a caller whose change happened.
   */
  async #appended(state: IntentState, event: AuditEvent): Promise<void> {
    const notifies = isNotifying(event.type);
    this.#emit(event);
    // Skipped while the change is held for its delivery: `#append` settles the waiters after it.
    this.#waiters.settle(state);
    if (notifies) await this.#outbox.deliver(state, event);
  }

  // ---------------------------------------------------------------------------------------------
  // Wake-ups and listeners

  #onMessage(message: string): void {
    if (this.#closed) return;
    const wakeUp = decodeWakeUp(message);
    if (!wakeUp || wakeUp.engineId === this.#engineId) return;
    this.#remoteWakeUps++;
    // Timers fire under leases only while another engine may fire them too.
    if (!wakeUp.firesNoTimers) this.#timers.heardFromOther();
    if (wakeUp.taskId !== undefined && this.#waiters.has(wakeUp.taskId))
      this.#inBackground(this.#waiters.check(wakeUp.intentId));
    if (this.#listeners.size > 0)
      this.#inBackground(this.#emitRemote(wakeUp.intentId, wakeUp.firstSeq ?? wakeUp.seq, wakeUp.seq));
    if (wakeUp.due !== undefined) this.#timers.schedule(wakeUp.due);
    if (wakeUp.outbox && this.#outbox.delivers) this.#timers.schedule(this.#settings.now());
  }

  /**
   * Read the events another engine announced and hand them to the listeners. A read that fails (the
   * store away or overloaded for a moment) is tried again a few times, over about 0.75 s: a listener
   * such as a resumer would otherwise not hear of that decision until its next full look.
   */
  async #emitRemote(intentId: string, from: number, to: number): Promise<void> {
    const wanted = Array.from({ length: Math.min(to - from, 63) + 1 }, (_, at) => ({
      intentId,
      seq: from + at,
    }));
    for (let attempt = 1; ; attempt++) {
      try {
        for (const event of await this.#chain.readEvents(wanted)) if (event) this.#emit(event);
        return;
      } catch (error) {
        this.#settings.onError(error);
        if (this.#closed || attempt >= remoteReadAttempts) return;
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** (attempt - 1)).unref());
        if (this.#closed) return;
      }
    }
  }

  #emit(event: AuditEvent): void {
    for (const { listener } of [...this.#listeners]) {
      try {
        listener(structuredClone(event));
      } catch (error) {
        this.#settings.onError(error);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Store access

  /**
   * Claim `key` for `value`, or read what holds it: `undefined` when this call won, else the holder's
   * record. A refused request gives its key back, so a lost claim may find the key free again: it
   * is claimed anew, a few times at most — a store that keeps losing a claim it cannot show is
   * broken, and is reported as such rather than looped on. `readFirst`: the key was just found held,
   * so it is read before it is claimed.
   */
  async #claimOrRead<T>(key: string, value: string, readFirst = false): Promise<T | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!(readFirst && attempt === 0) && (await this.#claim(key, value))) return undefined;
      const held = await this.#readClaim(key);
      if (held === undefined) continue;
      try {
        return JSON.parse(held) as T;
      } catch (error) {
        throw new StoreUnavailableError({ store: this.#store.kind, operation: 'read', cause: error });
      }
    }
    throw new StoreUnavailableError({
      store: this.#store.kind,
      operation: 'claim',
      cause: new Error(`the key ${key} is taken, yet nothing holds it (3 attempts)`),
    });
  }

  #claim(key: string, value: string): Promise<boolean> {
    return guard(this.#store, 'claim', () => this.#store.claim(key, value));
  }

  async #readClaim(key: string): Promise<string | undefined> {
    const [value] = await guard(this.#store, 'read', () => this.#store.readClaims([key]));
    return value;
  }

  async #signingKeyOf(): Promise<SigningKey> {
    this.#signingKey ??= (async () => {
      if (this.#settings.auditKey !== undefined) return signingKeyFrom(this.#settings.auditKey);
      const generated = generateSigningKey();
      // First engine to need a key stores it; every other engine on the store uses that one.
      if (await this.#claim(layout.signingKey, generated.privateKeyPem)) return generated.key;
      return signingKeyFrom((await this.#readClaim(layout.signingKey)) as string);
    })().catch((error) => {
      this.#signingKey = undefined;
      throw error;
    });
    return this.#signingKey;
  }

  #intentIdOf(taskId: string): string {
    if (typeof taskId !== 'string' || taskId.length === 0) {
      throw new ValidationError({
        field: 'taskId',
        message: `taskId must be a task id string such as 'tsk_…', got ${typeof taskId === 'string' ? 'an empty string' : taskId === null ? 'null' : typeof taskId}`,
      });
    }
    const intentId = intentIdOfTask(taskId);
    if (intentId === undefined) throw taskNotFound(taskId);
    return intentId;
  }

  #assertOpen(operation: string): void {
    if (this.#closed)
      throw new EngineClosedError({
        message: `${operation}: the engine is closed; create a new one with createHoldpoint()`,
      });
  }
}
