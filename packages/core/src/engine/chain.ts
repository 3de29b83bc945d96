import { randomUUID } from 'node:crypto';
import { type AuditEvent, sealEvent } from '../audit/audit-event.js';
import { HoldpointError } from '../errors/holdpoint-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { HumanTask, Intent } from '../model.js';
import { intentIdOfTask, layout } from '../store/layout.js';
import type { EventAppend, EventClaim, EventWrites, StoreBackend } from '../store/store-backend.js';
import {
  emptyOldState,
  headerText,
  recordWrites,
  stateFromRecords,
  stateFromSnapshot,
  taskFromRecord,
} from './intent-records.js';
import { applyEvent, emptyIntentState, holdsTask, type IntentState, taskIdBlock } from './intent-state.js';
import { feedRecordOf, listWrites } from './task-lists.js';
import type { Change } from './task-rules.js';

/** How many event keys one read probes past the known head (one round trip finds up to this many). */
const probeWindow = 8;
/**
 * Tasks a cached state holds besides those its latest event changed (the newest ones held): enough
 * for an agent's current gates, and what keeps a state's size from growing with the intent.
 */
const heldTasks = 16;
/** Blocks of task ids kept in memory (each written once, never changed): about 5 MB at most. */
const taskIdBlocksCached = 1_000;
/** Intent states kept in memory, least recently used dropped first: at most this many… */
const cacheLimit = 2_000;
/**
 * …and at most this many bytes, as the JSON text of the records (or events) they were built from:
 * a few intents with multi-megabyte contexts must not hold a heap that 2,000 small ones fit in.
 */
const cacheBytes = 64 * 1024 * 1024;
/** A state bigger than this is not cached at all (it would push out hundreds of others). */
const cacheEntryBytes = cacheBytes / 8;
/**
 * Claims of the next `seq` one append may lose before it gives up: each loss means another engine
 * appended meanwhile, so only a store hammered by one intent's writers gets near it.
 */
const appendAttempts = 100;
/** Lost claims in a row after which a re-read that shows no new event means the store is inconsistent. */
const lossesWithoutProgress = 3;
/** Records read at once when listing all of an intent's tasks. */
const recordBatch = 256;

/** What {@link IntentChain.append} is told besides the rule that builds the change. */
export interface AppendOptions {
  /**
   * Writes the store makes with the event, in its transaction (timers, the outbox entry, the
   * wake-up message), besides the lists and records the chain derives itself: all of them or none.
   * Called for each attempt, with the change, the sealed event and the state after it.
   */
  writes?: (change: Change, event: AuditEvent, next: IntentState) => EventExtras;
  /**
   * A state just read or built by the caller, to start from without reading again: safe, because
   * losing the claim on the next `seq` re-reads the chain anyway.
   */
  from?: IntentState;
  /** The tasks `build` looks at: the state it is given holds them (those that exist). */
  tasks?: readonly string[];
}

/** What an append writes besides the event's lists and records ({@link AppendOptions.writes}). */
export type EventExtras = Pick<EventWrites, 'indexAdd' | 'indexRemove' | 'releaseClaims' | 'message'>;

/** What {@link IntentChain.loadMaybe} is told. */
export interface LoadOptions {
  /** A state of the intent to start from (instead of the cache), brought up to date. */
  known?: IntentState;
  /** Tasks the state must hold (those that exist). */
  tasks?: readonly string[];
  /**
   * `false`: a state read from the intent's records is returned without looking for events after
   * them — one round trip instead of two. Engines write the records in each event's transaction, so
   * only an event recorded by an engine from before the records can lie past them; a change made
   * from such a state is confirmed by its claim (a later event holds its `seq`), and anything else
   * concluded from it must be confirmed with a load that looks ({@link IntentChain.isUnconfirmed}).
   * @default true
   */
  probe?: boolean;
}

/** What the chain calls after each event it recorded. */
export interface ChainHost {
  /**
   * Derived work after an event is recorded (listeners, waiters, delivery; the feed entry, the task
   * lists, the timers and the wake-up were written with the event). It must not throw: the change
   * happened whatever fails there.
   */
  appended(state: IntentState, event: AuditEvent): Promise<void>;
}

/**
 * What the engine asks of the chain (see {@link IntentChain}): an intent's state, its appends, and
 * its events read back.
 */
export interface Chain {
  // States
  /** The intent's current state, holding `options.tasks`. @throws NotFoundError, ValidationError */
  load(intentId: string, options?: LoadOptions): Promise<IntentState>;
  /** The intent's current state, or `undefined` when there is no such intent. */
  loadMaybe(intentId: string, options?: LoadOptions): Promise<IntentState | undefined>;
  /** The state of an intent that has no events yet. */
  emptyState(intentId: string): IntentState;
  /** Whether a state was read from records without looking for events after them. */
  isUnconfirmed(state: IntentState): boolean;
  /** The `seq` of the intent's cached state, if one is cached. */
  cachedSeq(intentId: string): number | undefined;
  /** The intent of a state with all its task ids. */
  intentOf(state: IntentState): Promise<Intent>;
  /** Every task of an intent, oldest first. */
  tasksOf(state: IntentState): Promise<HumanTask[]>;
  /** Tasks by id, from their records. */
  tasksById(taskIds: readonly string[]): Promise<Map<string, HumanTask | undefined>>;
  // Appends
  /** Append the event `build` makes of the intent's state (`null`: already made). */
  append(
    intentId: string,
    build: (state: IntentState) => Change | null,
    options?: AppendOptions,
  ): Promise<{ state: IntentState; event?: AuditEvent }>;
  /** Append a new intent's first events in one transaction (`false`/`undefined`: take the one-event path). */
  appendFirst(
    intentId: string,
    builds: ReadonlyArray<(state: IntentState) => Change>,
    options?: {
      claims?: readonly EventClaim[];
      writes?: (events: readonly AuditEvent[], states: readonly IntentState[]) => EventExtras;
    },
  ): Promise<{ state: IntentState; events: AuditEvent[] } | false | undefined>;
  // Events
  /** Every event of an intent's chain, in order. @throws NotFoundError */
  readAll(intentId: string): Promise<AuditEvent[]>;
  /** Events by position, `undefined` where there is none. */
  readEvents(refs: ReadonlyArray<{ intentId: string; seq: number }>): Promise<(AuditEvent | undefined)[]>;
  /** Events by position up to about `maxBytes` of them: a prefix of `refs`. */
  readEventsUpTo(
    refs: ReadonlyArray<{ intentId: string; seq: number }>,
    maxBytes: number,
  ): Promise<(AuditEvent | undefined)[]>;
  /** One of an intent's recent events by id. */
  findEvent(state: IntentState, eventId: string): Promise<AuditEvent | undefined>;
}

/**
 * One hash chain of audit events per intent, over the store: reading an intent's state (a cached
 * state, or the intent's records, brought up to date by reading the events after it), and appending
 * one event by a first-writer-wins claim on the next sequence number, with the records of what it
 * changed in the same transaction. The chain is the record of truth; the state is its fold
 * ({@link applyEvent}), kept in records beside the chain and cached in memory.
 */
export class IntentChain implements Chain {
  readonly #store: StoreBackend;
  readonly #now: () => number;
  readonly #host: ChainHost;
  readonly #assertOpen: (operation: string) => void;
  readonly #cache = new Map<string, { state: IntentState; bytes: number }>();
  #cachedBytes = 0;
  /** The size of each state this chain built (see {@link cacheBytes}). */
  readonly #sizes = new WeakMap<IntentState, number>();
  /** The size of each task as JSON text (tasks are shared between states, so each is measured once). */
  readonly #taskSizes = new WeakMap<HumanTask, number>();
  /** Blocks of task ids read, by record key: written once, so never stale. */
  readonly #taskIdBlocks = new Map<string, string[]>();
  /** States read from records without looking for events after them (`probe: false`). */
  readonly #unconfirmed = new WeakSet<IntentState>();

  constructor(options: {
    store: StoreBackend;
    now: () => number;
    host: ChainHost;
    onError: (error: unknown) => void;
    /** Throws `ENGINE_CLOSED` once the engine is closed: no claim is attempted after that. */
    assertOpen?: (operation: string) => void;
  }) {
    this.#store = options.store;
    this.#now = options.now;
    this.#host = options.host;
    this.#assertOpen = options.assertOpen ?? (() => {});
  }

  /**
   * The intent's current state, holding `options.tasks` (those that exist).
   * @throws NotFoundError, ValidationError (not an id string)
   */
  async load(intentId: string, options: LoadOptions = {}): Promise<IntentState> {
    if (typeof intentId !== 'string') {
      throw new ValidationError({
        field: 'intentId',
        message: `intentId must be an intent id string such as 'int_…', got ${intentId === null ? 'null' : typeof intentId}`,
      });
    }
    const state = await this.loadMaybe(intentId, options);
    if (!state)
      throw new NotFoundError({ kind: 'intent', id: intentId, message: `No intent has id '${intentId}'` });
    return state;
  }

  /**
   * The current state of an intent, or `undefined` when it has no events: the cached (or `known`)
   * state — or, when it lacks a task asked for, the intent's header and those tasks' records, read
   * in one statement — brought up to date by reading the events after it: usually one round trip
   * that finds none. What this reads does not grow with the intent's history.
   */
  async loadMaybe(intentId: string, options: LoadOptions = {}): Promise<IntentState | undefined> {
    if (typeof intentId !== 'string' || !intentId.startsWith('int_')) return undefined;
    const wanted = options.tasks ?? [];
    let state = options.known ?? this.#cache.get(intentId)?.state;
    const missing =
      state === undefined ? wanted : wanted.filter((taskId) => !holdsTask(state as IntentState, taskId));
    let fromRecords = false;
    if (state === undefined || missing.length > 0) {
      // Every task asked for, not only those missing: the records may be newer than the state.
      const read = await this.#readRecords(intentId, wanted);
      fromRecords = read !== undefined && (state === undefined || read.intent.seq >= state.intent.seq);
      if (read === undefined) {
        // No records: an intent recorded by engines before them (or none at all). Its old snapshot
        // and the events after it, every task held; the next event recorded here writes its records.
        state ??= await this.#readSnapshot(intentId);
      } else if (state === undefined || read.intent.seq > state.intent.seq) {
        state = read;
      } else if (read.intent.seq === state.intent.seq) {
        state = {
          ...state,
          tasks: { ...state.tasks, ...read.tasks },
          marks: { ...state.marks, ...read.marks },
        };
      } else {
        // Records behind a state read before them: events were recorded without records (an older
        // engine on the same store). Only the whole chain can be trusted then.
        state = await this.#catchUp(intentId, emptyOldState(intentId), wanted);
      }
    }
    if (fromRecords && options.probe === false) {
      const remembered = this.#remember(state, wanted);
      this.#unconfirmed.add(remembered);
      return remembered;
    }
    state = await this.#catchUp(intentId, state, wanted);
    if (state.intent.seq === 0) return undefined;
    return this.#remember(state, wanted);
  }

  /**
   * Whether a state was read from records without looking for events after them (`probe: false`):
   * what it says may be older than the chain, so only a claim or a load that looks can confirm it.
   */
  isUnconfirmed(state: IntentState): boolean {
    return this.#unconfirmed.has(state);
  }

  /** The state of an intent that has no events yet: where the first append starts. */
  emptyState(intentId: string): IntentState {
    return emptyIntentState(intentId);
  }

  /** The intent of a state with all its task ids (read in blocks of 64, each read once). */
  async intentOf(state: IntentState): Promise<Intent> {
    const taskIds = await this.#taskIdsOf(state);
    return structuredClone({ ...state.intent, taskIds });
  }

  /**
   * Every task of an intent, oldest first: those the state holds, the rest from their records (which
   * may be newer than the state, never older). Reads grow with the intent's tasks: this is what
   * `listTasks({ intentId })` costs.
   */
  async tasksOf(state: IntentState): Promise<HumanTask[]> {
    const taskIds = await this.#taskIdsOf(state);
    const read = await this.tasksById(taskIds.filter((taskId) => state.tasks[taskId] === undefined));
    return taskIds.flatMap((taskId) => {
      const task = state.tasks[taskId] ?? read.get(taskId);
      return task === undefined ? [] : [task];
    });
  }

  /**
   * Tasks by id, as their records hold them now (`undefined` for no such task), in one read per
   * {@link recordBatch}: what a page of a list costs, whatever intents the tasks belong to. A record
   * is written in the transaction of the event that changed its task — with the list entries — so a
   * task found through a list is read as new as that entry or newer. A task of an intent recorded
   * before records existed is read from its intent's state.
   */
  async tasksById(taskIds: readonly string[]): Promise<Map<string, HumanTask | undefined>> {
    const found = new Map<string, HumanTask | undefined>();
    const unrecorded = new Map<string, string[]>();
    for (let start = 0; start < taskIds.length; start += recordBatch) {
      const ids = taskIds.slice(start, start + recordBatch);
      const values = await guard(this.#store, 'read', () =>
        this.#store.readRecords(ids.map((taskId) => layout.taskRecord(taskId))),
      );
      ids.forEach((taskId, at) => {
        const text = values[at];
        if (text !== undefined) {
          found.set(
            taskId,
            parseRecords(this.#store, () => taskFromRecord(text)),
          );
          return;
        }
        const intentId = intentIdOfTask(taskId);
        if (intentId === undefined) found.set(taskId, undefined);
        else unrecorded.set(intentId, [...(unrecorded.get(intentId) ?? []), taskId]);
      });
    }
    await Promise.all(
      [...unrecorded].map(async ([intentId, tasks]) => {
        const state = await this.loadMaybe(intentId, { tasks });
        for (const taskId of tasks) found.set(taskId, state?.tasks[taskId]);
      }),
    );
    return found;
  }

  /**
   * Append one event to an intent's chain. `build` looks at the current state and returns the change,
   * `null` when it is already made, or throws to refuse. Losing the race for the next `seq` re-reads
   * the chain and asks `build` again, so every rule is checked against the state the event extends.
   */
  async append(
    intentId: string,
    build: (state: IntentState) => Change | null,
    options: AppendOptions = {},
  ): Promise<{ state: IntentState; event?: AuditEvent }> {
    const eventId = randomUUID();
    const wanted = options.tasks ?? [];
    const from = options.from;
    // The state starts unconfirmed unless the caller's: the cached one, unread, or — when it must be
    // read — the records alone (`probe: false`, one round trip). When it is current (as for a
    // decision taken where the task was asked) the claim wins; when it is not, the claim is lost and
    // the chain re-read below. Only a change is made from an unconfirmed state: a refusal or "already
    // made" is confirmed on the state read anew, with the look for later events.
    const cached = from === undefined ? this.#cache.get(intentId)?.state : undefined;
    let state: IntentState =
      from !== undefined && wanted.every((taskId) => holdsTask(from, taskId))
        ? from
        : cached !== undefined && wanted.every((taskId) => holdsTask(cached, taskId))
          ? cached
          : await this.load(intentId, {
              ...(from === undefined ? {} : { known: from }),
              tasks: wanted,
              probe: false,
            });
    let unconfirmed = state === cached || this.#unconfirmed.has(state);
    let stalled = 0;
    const asked = new Set(wanted);
    for (let attempt = 1; ; attempt++) {
      let change: Change | null;
      try {
        change = build(state);
      } catch (error) {
        if (!unconfirmed) throw error;
        // Refused by an unconfirmed state: asked again of the state read anew, which refuses or not.
        change = null;
      }
      if (change === null && unconfirmed) {
        unconfirmed = false;
        state = await this.load(intentId, { known: state, tasks: [...asked] });
        continue;
      }
      if (change === null) return { state };
      // A change not yet claimed when the engine closed is not made: ENGINE_CLOSED, nothing recorded.
      this.#assertOpen('append');
      if (attempt > appendAttempts) {
        throw new StoreUnavailableError({
          store: this.#store.kind,
          operation: 'append',
          cause: new Error(
            `intent ${intentId} changed ${appendAttempts} times while this change waited; try again`,
          ),
        });
      }
      // The records of every task the event changes are written with it, so the state must hold
      // them: the event's task, and every pending task for a change that ends the intent.
      const unheld = touchedBy(change, state).filter(
        (taskId) => !holdsTask(state, taskId) && !asked.has(taskId),
      );
      if (unheld.length > 0) {
        for (const taskId of unheld) asked.add(taskId);
        state = await this.load(intentId, { known: state, tasks: [...asked] });
        unconfirmed = false;
        continue;
      }
      const event = sealNext(state, change, eventId, new Date(this.#now()).toISOString());
      // The state after the event, its feed record, its list and count changes and the records of
      // what it changed are worked out before the claim, so the store writes them in the claim's
      // own transaction: the feed, the lists and the records can never miss an event, whatever
      // crashes (store `appendEvent`).
      const text = JSON.stringify(event);
      const previous = state.intent.seq === 0 ? undefined : state;
      let next = applyEvent(previous, event);
      const { records, header } = recordWrites(previous, next);
      const lists = listWrites(previous, next);
      const extras = options.writes?.(change, event, next) ?? {};
      const won = await guard(this.#store, 'claim', () =>
        this.#store.appendEvent(
          layout.eventKey(intentId, event.seq),
          text,
          feedRecordOf(previous, next, event),
          {
            indexAdd: [...(lists.indexAdd ?? []), ...(extras.indexAdd ?? [])],
            indexRemove: [...(lists.indexRemove ?? []), ...(extras.indexRemove ?? [])],
            counters: lists.counters,
            records,
            ...(extras.releaseClaims === undefined ? {} : { releaseClaims: extras.releaseClaims }),
            ...(extras.message === undefined ? {} : { message: extras.message }),
          },
        ),
      );
      if (!won) {
        const seq = state.intent.seq;
        // Whoever won may have made this very change (a retry on another engine): the re-read state
        // holds the change's task, so that `build` sees it.
        if (change.taskId !== undefined) asked.add(change.taskId);
        state = (await this.loadMaybe(intentId, { known: state, tasks: [...asked] })) ?? state;
        unconfirmed = false;
        // Lost, yet nothing new to read: the store holds a key it does not show. Retrying cannot help
        // for long; say so rather than spin.
        stalled = state.intent.seq === seq ? stalled + 1 : 0;
        if (stalled >= lossesWithoutProgress) {
          throw new StoreUnavailableError({
            store: this.#store.kind,
            operation: 'append',
            cause: new Error(
              `the claim on event ${seq + 1} of ${intentId} was lost ${stalled} times, yet no such event can be read`,
            ),
          });
        }
        continue;
      }
      if (next.allTaskIds !== undefined) {
        // Its records are written now: from here on the state is read and written by records.
        const { allTaskIds: _written, ...recorded } = next;
        next = recorded;
      }
      this.#sizes.set(next, header.length + this.#tasksSize(next));
      next = this.#remember(next, [...asked]);
      await this.#host.appended(next, event);
      return { state: next, event };
    }
  }

  /**
   * Start an intent's chain with several events in one store transaction, together with `claims`
   * (an implicit intent's `intent-submitted` and its task's `task-created`, with the idempotency key
   * that names them): one commit where {@link append} would make one per event and the key another.
   * Each of `builds` sees the state after the events before it. Nothing is recorded when the store
   * has no `appendEvents` (`undefined`) or a key is held (`false`: a claim, or the intent's first
   * event): the caller then takes the one-event path, which reads what holds the key.
   */
  async appendFirst(
    intentId: string,
    builds: ReadonlyArray<(state: IntentState) => Change>,
    options: {
      claims?: readonly EventClaim[];
      /** Writes the store makes with the events (see {@link AppendOptions.writes}), for all of them at once. */
      writes?: (events: readonly AuditEvent[], states: readonly IntentState[]) => EventExtras;
    } = {},
  ): Promise<{ state: IntentState; events: AuditEvent[] } | false | undefined> {
    if (this.#store.appendEvents === undefined || builds.length === 0) return undefined;
    this.#assertOpen('append');
    const at = new Date(this.#now()).toISOString();
    const events: AuditEvent[] = [];
    const states: IntentState[] = [];
    const appends: EventAppend[] = [];
    const indexAdd: NonNullable<EventWrites['indexAdd']>[number][] = [];
    const indexRemove: NonNullable<EventWrites['indexRemove']>[number][] = [];
    const counters: NonNullable<EventWrites['counters']>[number][] = [];
    const records: NonNullable<EventWrites['records']>[number][] = [];
    let previous: IntentState | undefined;
    let header = '';
    for (const build of builds) {
      const change = build(previous ?? this.emptyState(intentId));
      const event = sealNext(previous ?? this.emptyState(intentId), change, randomUUID(), at);
      const next = applyEvent(previous, event);
      appends.push({
        key: layout.eventKey(intentId, event.seq),
        value: JSON.stringify(event),
        feed: feedRecordOf(previous, next, event),
      });
      const lists = listWrites(previous, next);
      indexAdd.push(...(lists.indexAdd ?? []));
      indexRemove.push(...(lists.indexRemove ?? []));
      counters.push(...(lists.counters ?? []));
      const written = recordWrites(previous, next);
      records.push(...written.records);
      header = written.header;
      events.push(event);
      states.push(next);
      previous = next;
    }
    const extras = options.writes?.(events, states) ?? {};
    const won = await guard(this.#store, 'claim', () =>
      (this.#store.appendEvents as NonNullable<StoreBackend['appendEvents']>)(
        appends,
        {
          indexAdd: [...indexAdd, ...(extras.indexAdd ?? [])],
          indexRemove: [...indexRemove, ...(extras.indexRemove ?? [])],
          counters,
          records,
          ...(extras.message === undefined ? {} : { message: extras.message }),
        },
        options.claims ?? [],
      ),
    );
    if (!won) return false;
    const last = states.length - 1;
    this.#sizes.set(
      states[last] as IntentState,
      header.length + this.#tasksSize(states[last] as IntentState),
    );
    states[last] = this.#remember(states[last] as IntentState, []);
    for (const [at, event] of events.entries()) await this.#host.appended(states[at] as IntentState, event);
    return { state: states[last] as IntentState, events };
  }

  /** Every event of an intent's chain, in order. @throws NotFoundError */
  async readAll(intentId: string): Promise<AuditEvent[]> {
    const state = await this.load(intentId);
    const events: AuditEvent[] = [];
    for (let from = 1; from <= state.intent.seq; from += 256) {
      const to = Math.min(state.intent.seq, from + 255);
      const keys = Array.from({ length: to - from + 1 }, (_, offset) =>
        layout.eventKey(intentId, from + offset),
      );
      const values = await guard(this.#store, 'audit.export', () => this.#store.readClaims(keys));
      for (const value of values) {
        if (value === undefined)
          throw new StoreUnavailableError({
            store: this.#store.kind,
            operation: 'audit.export (an event is missing)',
          });
        events.push(parseEvent(this.#store, value));
      }
    }
    return events;
  }

  /**
   * Events by position, in order, until their JSON text passes `maxBytes` (the first is always
   * included): a page of events carries at most about that much, whatever their contexts weigh.
   * Reads a few at a time. Returns the events read (`undefined` where there is none) — a prefix of `refs`.
   */
  async readEventsUpTo(
    refs: ReadonlyArray<{ intentId: string; seq: number }>,
    maxBytes: number,
  ): Promise<(AuditEvent | undefined)[]> {
    const events: (AuditEvent | undefined)[] = [];
    let bytes = 0;
    for (let start = 0; start < refs.length; start += 16) {
      const chunk = refs.slice(start, start + 16);
      const values = await guard(this.#store, 'read', () =>
        this.#store.readClaims(chunk.map((ref) => layout.eventKey(ref.intentId, ref.seq))),
      );
      for (const value of values) {
        bytes += value?.length ?? 0;
        if (events.length > 0 && bytes > maxBytes) return events;
        events.push(value === undefined ? undefined : parseEvent(this.#store, value));
      }
    }
    return events;
  }

  /** Events by position, `undefined` where there is none. */
  async readEvents(
    refs: ReadonlyArray<{ intentId: string; seq: number }>,
  ): Promise<(AuditEvent | undefined)[]> {
    if (refs.length === 0) return [];
    const values = await guard(this.#store, 'read', () =>
      this.#store.readClaims(refs.map((ref) => layout.eventKey(ref.intentId, ref.seq))),
    );
    return values.map((value) => (value === undefined ? undefined : parseEvent(this.#store, value)));
  }

  /** One of an intent's recent events by id (`undefined` when it is not among them). */
  async findEvent(state: IntentState, eventId: string): Promise<AuditEvent | undefined> {
    const position = state.recentEventIds.lastIndexOf(eventId);
    if (position < 0) return undefined;
    const seq = state.intent.seq - (state.recentEventIds.length - 1 - position);
    const [event] = await this.readEvents([{ intentId: state.intent.id, seq }]);
    return event;
  }

  /**
   * The intent's header and the records of `taskIds`, in one read (one moment: a consistent
   * state), or `undefined` when the intent has no records.
   */
  async #readRecords(intentId: string, taskIds: readonly string[]): Promise<IntentState | undefined> {
    const keys = [layout.intentRecord(intentId), ...taskIds.map((taskId) => layout.taskRecord(taskId))];
    const values = await guard(this.#store, 'read', () => this.#store.readRecords(keys));
    const [header, ...tasks] = values;
    if (header === undefined) return undefined;
    const state = parseRecords(this.#store, () =>
      stateFromRecords(header, new Map(taskIds.map((taskId, at) => [taskId, tasks[at]]))),
    );
    this.#sizes.set(
      state,
      values.reduce((sum: number, value) => sum + (value?.length ?? 0), 0),
    );
    return state;
  }

  /** The old snapshot of an intent without records, or where its fold starts when it has none. */
  async #readSnapshot(intentId: string): Promise<IntentState> {
    const snapshot = await guard(this.#store, 'read', () =>
      this.#store.keyv.get(layout.snapshotKey(intentId)),
    );
    if (snapshot === undefined || snapshot === null) return emptyOldState(intentId);
    return parseRecords(this.#store, () =>
      stateFromSnapshot(snapshot as Parameters<typeof stateFromSnapshot>[0]),
    );
  }

  /**
   * A state brought up to date: the events after it applied, read a window at a time. A state a
   * whole window behind (other engines recorded many events meanwhile) is read anew from the
   * records instead, once: what that costs does not grow with how far behind it was.
   */
  async #catchUp(intentId: string, start: IntentState, wanted: readonly string[]): Promise<IntentState> {
    let state = start;
    let bytes = this.#sizes.get(state) ?? 0;
    let reread = false;
    for (;;) {
      const from = state.intent.seq + 1;
      const keys = Array.from({ length: probeWindow }, (_, offset) =>
        layout.eventKey(intentId, from + offset),
      );
      const values = await guard(this.#store, 'read', () => this.#store.readClaims(keys));
      let applied = 0;
      for (const value of values) {
        if (value === undefined) break;
        const event = parseEvent(this.#store, value);
        // Each window must move the chain on, or this loop would never end on a store that answers
        // a key with another key's value.
        if (event.seq !== from + applied || event.intentId !== intentId) {
          throw new StoreUnavailableError({
            store: this.#store.kind,
            operation: 'read',
            cause: new Error(
              `the store returned event ${String(event.intentId)}:${String(event.seq)} for ${intentId}:${from + applied}`,
            ),
          });
        }
        state = applyEvent(
          state.intent.seq === 0 && state.allTaskIds === undefined ? undefined : state,
          event,
        );
        bytes += value.length;
        applied++;
      }
      if (applied < probeWindow) break;
      if (!reread && state.allTaskIds === undefined) {
        reread = true;
        const read = await this.#readRecords(intentId, wanted);
        if (read !== undefined && read.intent.seq >= state.intent.seq) {
          state = read;
          bytes = this.#sizes.get(read) ?? 0;
        }
      }
    }
    if (state !== start && !this.#sizes.has(state)) this.#sizes.set(state, bytes);
    return state;
  }

  /** Ids of every task of the intent, oldest first. */
  async #taskIdsOf(state: IntentState): Promise<string[]> {
    if (state.allTaskIds !== undefined) return [...state.allTaskIds];
    const intentId = state.intent.id;
    const blocks = Math.floor(state.taskCount / taskIdBlock);
    const keys = Array.from({ length: blocks }, (_, block) => layout.taskIdsRecord(intentId, block));
    const unread = keys.filter((key) => !this.#taskIdBlocks.has(key));
    for (let start = 0; start < unread.length; start += recordBatch) {
      const batch = unread.slice(start, start + recordBatch);
      const values = await guard(this.#store, 'read', () => this.#store.readRecords(batch));
      batch.forEach((key, at) => {
        const value = values[at];
        if (value === undefined) {
          throw new StoreUnavailableError({
            store: this.#store.kind,
            operation: 'read',
            cause: new Error(`the record ${key} is missing, yet the intent has ${state.taskCount} tasks`),
          });
        }
        this.#taskIdBlocks.set(
          key,
          parseRecords(this.#store, () => JSON.parse(value) as string[]),
        );
        if (this.#taskIdBlocks.size > taskIdBlocksCached) {
          this.#taskIdBlocks.delete(this.#taskIdBlocks.keys().next().value as string);
        }
      });
    }
    const ids: string[] = [];
    for (const key of keys) {
      // Read just now, or cached: a block read above and dropped again at once is read anew.
      let block = this.#taskIdBlocks.get(key);
      if (block === undefined) {
        const [value] = await guard(this.#store, 'read', () => this.#store.readRecords([key]));
        block = value === undefined ? [] : parseRecords(this.#store, () => JSON.parse(value) as string[]);
      }
      ids.push(...block);
    }
    ids.push(...state.newTaskIds);
    return ids;
  }

  /** The `seq` of the intent's cached state, or `undefined` when none is cached. */
  cachedSeq(intentId: string): number | undefined {
    return this.#cache.get(intentId)?.state.intent.seq;
  }

  /**
   * Cache a state — holding at most {@link heldTasks} tasks besides those its last event changed and
   * those asked for (`keep`) — and return what was cached.
   */
  #remember(full: IntentState, keep: readonly string[]): IntentState {
    const state = this.#held(full, keep);
    const id = state.intent.id;
    const previous = this.#cache.get(id);
    if (previous) {
      this.#cache.delete(id);
      this.#cachedBytes -= previous.bytes;
    }
    const bytes = this.#sizeOf(state);
    if (bytes > cacheEntryBytes) return state;
    this.#cache.set(id, { state, bytes });
    this.#cachedBytes += bytes;
    while (this.#cache.size > cacheLimit || this.#cachedBytes > cacheBytes) {
      const [oldest, entry] = this.#cache.entries().next().value as [string, { bytes: number }];
      this.#cache.delete(oldest);
      this.#cachedBytes -= entry.bytes;
    }
    return state;
  }

  /** The state with fewer tasks held (see `#remember`); the same state when it holds few enough. */
  #held(state: IntentState, keep: readonly string[]): IntentState {
    if (state.allTaskIds !== undefined) return state;
    const ids = Object.keys(state.tasks);
    if (ids.length <= heldTasks + keep.length + state.changed.length) return state;
    const kept = new Set([...state.changed, ...keep, ...ids.slice(ids.length - heldTasks)]);
    const tasks: Record<string, HumanTask> = {};
    const marks: Record<string, string[]> = {};
    for (const taskId of ids) {
      if (!kept.has(taskId)) continue;
      tasks[taskId] = state.tasks[taskId] as HumanTask;
      const taskMarks = state.marks[taskId];
      if (taskMarks) marks[taskId] = taskMarks;
    }
    const held = { ...state, tasks, marks };
    const headerBytes = (this.#sizes.get(state) ?? 0) - this.#tasksSize(state);
    this.#sizes.set(held, Math.max(0, headerBytes) + this.#tasksSize(held));
    return held;
  }

  /** A state's size as JSON text: known for the states this chain built, measured once otherwise. */
  #sizeOf(state: IntentState): number {
    let bytes = this.#sizes.get(state);
    if (bytes === undefined) {
      bytes = headerText(state).length + this.#tasksSize(state);
      this.#sizes.set(state, bytes);
    }
    return bytes;
  }

  /** The size of the tasks a state holds, as JSON text (each task measured once). */
  #tasksSize(state: IntentState): number {
    let bytes = 0;
    for (const task of Object.values(state.tasks)) {
      let size = this.#taskSizes.get(task);
      if (size === undefined) {
        size = JSON.stringify(task).length;
        this.#taskSizes.set(task, size);
      }
      bytes += size;
    }
    return bytes;
  }
}

/** The tasks whose records a change rewrites: its task, and every pending one when it ends the intent. */
function touchedBy(change: Change, state: IntentState): string[] {
  const intentWide =
    change.type === 'intent-canceled' || change.type === 'intent-failed' || change.type === 'task-timed-out';
  return [
    ...(change.taskId === undefined || change.type === 'task-created' ? [] : [change.taskId]),
    ...(intentWide ? state.pendingTaskIds : []),
  ];
}

/** Records as the store holds them; text that is not what was written is the store's fault (typed). */
function parseRecords<T>(store: StoreBackend, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new StoreUnavailableError({
      store: store.kind,
      operation: 'read',
      cause: new Error(`the store holds a record that is not what was written: ${String(error)}`),
    });
  }
}

/** An event as the store holds it; text that is not one is the store's fault (typed, not a SyntaxError). */
function parseEvent(store: StoreBackend, value: string): AuditEvent {
  try {
    const event = JSON.parse(value) as AuditEvent;
    if (event !== null && typeof event === 'object') return event;
  } catch {
    // Reported below.
  }
  throw new StoreUnavailableError({
    store: store.kind,
    operation: 'read',
    cause: new Error(`the store holds an event that is not JSON: ${value.slice(0, 80)}`),
  });
}

/** Run a store call; anything but a Holdpoint error becomes a retryable `STORE_UNAVAILABLE`. */
export async function guard<T>(store: StoreBackend, operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (HoldpointError.isInstance(error)) throw error;
    throw new StoreUnavailableError({ store: store.kind, operation, cause: error });
  }
}

/** The event that records `change` as the next of the chain `state` holds, sealed onto its head. */
function sealNext(state: IntentState, change: Change, id: string, at: string): AuditEvent {
  return sealEvent({
    id,
    intentId: state.intent.id,
    seq: state.intent.seq + 1,
    type: change.type,
    at,
    actor: change.actor ?? null,
    ...(change.taskId === undefined ? {} : { taskId: change.taskId }),
    data: change.data,
    prevHash: state.headHash,
  });
}
