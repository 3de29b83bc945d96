import { randomUUID } from 'node:crypto';
import { type AuditEvent, sealEvent } from '../audit/audit-event.js';
import { HoldpointError } from '../errors/holdpoint-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { layout } from '../store/layout.js';
import type { StoreBackend } from '../store/store-backend.js';
import { applyEvent, type IntentState } from './intent-state.js';
import { feedRecordOf, listWrites } from './task-lists.js';
import type { Change } from './task-rules.js';

/** How many event keys one read probes past the known head (one round trip finds up to this many). */
const probeWindow = 8;
/** A snapshot of the state is written every this many events. */
const snapshotEvery = 8;
/** Intent states kept in memory, least recently used dropped first: at most this many… */
const cacheLimit = 2_000;
/**
 * …and at most this many bytes, as the JSON text of the events (or snapshot) they were built from:
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

/** What {@link IntentChain.append} is told besides the rule that builds the change. */
export interface AppendOptions {
  /**
   * Writes to make ahead of the event, once a change is to be attempted (index entries, timers, the
   * outbox entry): an entry whose change never happens is dropped when read, while a change that
   * happens always has them. Called once, with the first change `build` returns.
   */
  ahead?: (change: Change, eventId: string) => Array<Promise<unknown>>;
  /**
   * A state just read or built by the caller, to start from without reading again: safe, because
   * losing the claim on the next `seq` re-reads the chain anyway.
   */
  from?: IntentState;
}

/** What the chain calls after each event it recorded. */
export interface ChainHost {
  /**
   * Derived work after an event is recorded (wake-up, timer clean-up, waiters, delivery; the feed
   * entry and the task lists were written with the event). It must not throw: the change happened whatever fails there.
   */
  appended(state: IntentState, event: AuditEvent): Promise<void>;
}

/**
 * One hash chain of audit events per intent, over the store: reading an intent's state (a cached or
 * snapshotted state brought up to date by reading the events after it), and appending one event by
 * a first-writer-wins claim on the next sequence number. The chain is the record of truth; the
 * state is its fold ({@link applyEvent}), cached in memory and snapshotted in Keyv now and then.
 */
export class IntentChain {
  readonly #store: StoreBackend;
  readonly #now: () => number;
  readonly #host: ChainHost;
  readonly #onError: (error: unknown) => void;
  readonly #assertOpen: (operation: string) => void;
  readonly #cache = new Map<string, { state: IntentState; bytes: number }>();
  #cachedBytes = 0;
  /** The size of each state this chain built (see {@link cacheBytes}). */
  readonly #sizes = new WeakMap<IntentState, number>();

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
    this.#onError = options.onError;
    this.#assertOpen = options.assertOpen ?? (() => {});
  }

  /** The intent's current state. @throws NotFoundError, ValidationError (not an id string) */
  async load(intentId: string): Promise<IntentState> {
    if (typeof intentId !== 'string') {
      throw new ValidationError({
        field: 'intentId',
        message: `intentId must be an intent id string such as 'int_…', got ${intentId === null ? 'null' : typeof intentId}`,
      });
    }
    const state = await this.loadMaybe(intentId);
    if (!state)
      throw new NotFoundError({ kind: 'intent', id: intentId, message: `No intent has id '${intentId}'` });
    return state;
  }

  /**
   * The current state of an intent, or `undefined` when it has no events: the cached (or
   * snapshotted, or `known`) state brought up to date by reading the events after it — usually one
   * round trip that finds none.
   */
  async loadMaybe(intentId: string, known?: IntentState): Promise<IntentState | undefined> {
    if (typeof intentId !== 'string' || !intentId.startsWith('int_')) return undefined;
    let state = known ?? this.#cache.get(intentId)?.state;
    let bytes = state === undefined ? 0 : this.#sizeOf(state);
    if (!state) {
      const snapshot = await guard(this.#store, 'read', () =>
        this.#store.keyv.get(layout.snapshotKey(intentId)),
      );
      state = (snapshot as IntentState | undefined) ?? undefined;
      bytes = state === undefined ? 0 : this.#sizeOf(state);
    }
    for (;;) {
      const from = (state?.intent.seq ?? 0) + 1;
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
        state = applyEvent(state, event);
        bytes += value.length;
        applied++;
      }
      if (applied < probeWindow) break;
    }
    if (state && state.intent.seq > 0) {
      this.#sizes.set(state, bytes);
      this.#remember(state);
      return state;
    }
    return undefined;
  }

  /** The state of an intent that has no events yet: where the first append starts. */
  emptyState(intentId: string): IntentState {
    return {
      intent: {
        id: intentId,
        type: '',
        input: null,
        status: 'CREATED',
        taskIds: [],
        createdAt: '',
        updatedAt: '',
        seq: 0,
      },
      tasks: {},
      headHash: null,
      recentEventIds: [],
    };
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
    let state: IntentState = options.from ?? (await this.load(intentId));
    let first = true;
    let stalled = 0;
    for (let attempt = 1; ; attempt++) {
      const change = build(state);
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
      if (first) {
        first = false;
        const ahead = options.ahead?.(change, eventId) ?? [];
        if (ahead.length > 0) await guard(this.#store, 'write-ahead', () => Promise.all(ahead));
        this.#assertOpen('append');
      }
      const event = sealEvent({
        id: eventId,
        intentId,
        seq: state.intent.seq + 1,
        type: change.type,
        at: new Date(this.#now()).toISOString(),
        actor: change.actor ?? null,
        ...(change.taskId === undefined ? {} : { taskId: change.taskId }),
        data: change.data,
        prevHash: state.headHash,
      });
      // The state after the event, its feed record and its list and count changes are worked out
      // before the claim, so the store writes them in the claim's own transaction: the feed and
      // the lists can never miss an event, whatever crashes (store `appendEvent`).
      const text = JSON.stringify(event);
      const previous = state.intent.seq === 0 ? undefined : state;
      const next = applyEvent(previous, event);
      const won = await guard(this.#store, 'claim', () =>
        this.#store.appendEvent(
          layout.eventKey(intentId, event.seq),
          text,
          feedRecordOf(previous, next, event),
          listWrites(previous, next),
        ),
      );
      if (!won) {
        const seq = state.intent.seq;
        state = (await this.loadMaybe(intentId, state)) ?? state;
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
      this.#sizes.set(next, (previous === undefined ? 0 : this.#sizeOf(previous)) + text.length);
      this.#remember(next);
      // A snapshot only saves reads: a failed one is reported, and the next one repairs it.
      const snapshot =
        event.seq % snapshotEvery === 0
          ? this.#store.keyv.set(layout.snapshotKey(intentId), next).catch(this.#onError)
          : undefined;
      await Promise.all([snapshot, this.#host.appended(next, event)]);
      return { state: next, event };
    }
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

  #remember(state: IntentState): void {
    const id = state.intent.id;
    const previous = this.#cache.get(id);
    if (previous) {
      this.#cache.delete(id);
      this.#cachedBytes -= previous.bytes;
    }
    const bytes = this.#sizeOf(state);
    if (bytes > cacheEntryBytes) return;
    this.#cache.set(id, { state, bytes });
    this.#cachedBytes += bytes;
    while (this.#cache.size > cacheLimit || this.#cachedBytes > cacheBytes) {
      const [oldest, entry] = this.#cache.entries().next().value as [string, { bytes: number }];
      this.#cache.delete(oldest);
      this.#cachedBytes -= entry.bytes;
    }
  }

  /** A state's size as JSON text: known for the states this chain built, measured once otherwise. */
  #sizeOf(state: IntentState): number {
    let bytes = this.#sizes.get(state);
    if (bytes === undefined) {
      bytes = JSON.stringify(state).length;
      this.#sizes.set(state, bytes);
    }
    return bytes;
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
