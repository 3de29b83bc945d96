import type Keyv from 'keyv';

/** One member of a sorted index, ordered by `score` (the due-time index scores by due time in ms). */
export interface IndexEntry {
  member: string;
  score: number;
}

/** Which part of a sorted index to read. Bounds are inclusive. */
export interface IndexRangeOptions {
  /** Lowest score to return. @default -Infinity */
  min?: number;
  /** Highest score to return. @default Infinity */
  max?: number;
  /** At most this many entries, lowest scores first. */
  limit: number;
  /**
   * Start strictly after this entry in (score, member) order — a keyset cursor: pages stay exact
   * however many entries share a score, and whether or not `after` is still in the index.
   */
  after?: IndexEntry;
}

/** The feed entry written together with an event ({@link StoreBackend.appendEvent}). */
export interface FeedRecord {
  intentId: string;
  /** The event's sequence number in its intent's chain. */
  seq: number;
  /** The task the event is about, for the feed's task filter. */
  taskId?: string;
  /** Who the event's task is assigned to once it is recorded, for the feed's assignee filter. */
  assignees: readonly string[];
}

/** One event of {@link StoreBackend.appendEvents}: its key and value, as {@link StoreBackend.appendEvent} takes them. */
export interface EventAppend {
  key: string;
  value: string;
  feed: FeedRecord;
}

/** A key {@link StoreBackend.appendEvents} claims beside its events (an idempotency key). */
export interface EventClaim {
  key: string;
  value: string;
}

/** Index entries and counters that change with an event, written in the same transaction. */
export interface EventWrites {
  /** Entries to add or re-score. */
  indexAdd?: ReadonlyArray<{ index: string; member: string; score: number }>;
  /** Entries to remove. */
  indexRemove?: ReadonlyArray<{ index: string; member: string }>;
  /** Counters to add `delta` to (a counter that was never written is 0). */
  counters?: ReadonlyArray<{ counter: string; delta: number }>;
  /**
   * Records to set to `value` (text, replacing what the record held): the intent's state kept with
   * its chain — a small header, and one record per task the event changed ({@link readRecords}).
   */
  records?: ReadonlyArray<{ key: string; value: string }>;
  /**
   * Leases to drop, each only while it still holds `value` (as {@link StoreBackend.releaseClaim}):
   * the lease a timer was fired under ends with the timer's event, in its commit. A backend that
   * ignores this leaves the lease to lapse.
   */
  releaseClaims?: ReadonlyArray<{ key: string; value: string }>;
  /**
   * A message for every engine on the store, as {@link StoreBackend.publish} sends it, sent only when
   * this call wins and as part of its transaction where the store can (SQLite: a row of the message
   * table; PostgreSQL: `pg_notify`, delivered at commit; Redis: `PUBLISH` inside the script;
   * memory: after the call): the engine's wake-up costs no round trip or commit of its own.
   */
  message?: string;
}

/** Which part of the feed to read ({@link StoreBackend.readFeed}). */
export interface FeedReadOptions {
  /** A position this store returned: read the entries after it. @default the start of the feed */
  after?: string;
  /** At most this many entries. */
  limit: number;
  /** Only events of this intent. */
  intentId?: string;
  /** Only events of this task. */
  taskId?: string;
  /** Only events recorded while their task was assigned to this person. */
  assignee?: string;
}

/** One entry of the feed: where it is, and which event it stands for. */
export interface FeedEntryRef {
  /** Opaque position, to pass back as `after`. */
  position: string;
  intentId: string;
  seq: number;
}

/**
 * What the engine needs from a store: Keyv for the records, and the backend's own means for what
 * Keyv cannot say (DESIGN §2). Each backend — memory, SQLite, Redis, PostgreSQL — implements this
 * one interface over one connection; the engine never knows which it has.
 *
 * Every method either does its whole work or throws; a backend that cannot reach its server throws
 * a {@link StoreUnavailableError} (retryable), never returns a made-up answer.
 */
export interface StoreBackend {
  /** Which backend this is, for messages and docs: `memory`, `sqlite`, `redis`, `postgres`. */
  readonly kind: 'memory' | 'sqlite' | 'redis' | 'postgres';
  /** Keyv over the same backend, constructed with `throwOnErrors: true`, for the engine's records. */
  readonly keyv: Keyv;

  /**
   * First writer wins: store `value` under `key` only if no live claim holds the key.
   * Built on the backend's own atomic operation (SQLite `INSERT … ON CONFLICT DO NOTHING RETURNING`,
   * Redis `SET NX PX`, PostgreSQL `INSERT … ON CONFLICT DO NOTHING`, a Map in memory).
   * @param ttlMs when given, the claim is a lease that lapses after this many milliseconds;
   *   without it the claim is permanent (the engine's audit events are permanent claims).
   * @returns true for the one caller whose value was stored, false for everyone else.
   */
  claim(key: string, value: string, ttlMs?: number): Promise<boolean>;
  /** The value of live claims, in the order of `keys` (`undefined` where there is none), in one round trip. */
  readClaims(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** Drop a lease, but only while it still holds `value` (so a lapsed lease taken over by another is kept). */
  releaseClaim(key: string, value: string): Promise<void>;

  /** Add or re-score members of a sorted index, in one round trip. */
  indexAdd(index: string, entries: readonly IndexEntry[]): Promise<void>;
  /** Remove members from a sorted index (absent members are ignored), in one round trip. */
  indexRemove(index: string, members: readonly string[]): Promise<void>;
  /** Members of a sorted index within a score range, lowest score first (ties by member). */
  indexRange(index: string, options: IndexRangeOptions): Promise<IndexEntry[]>;

  /**
   * Record an audit event: claim `key` for `value` permanently (first writer wins, as
   * {@link claim}) and, only when this call wins, in the same transaction append `feed` to the
   * store's event feed and make `writes`. Either all of it is stored or none: a crash cannot leave
   * an event without its feed entry, list entries or counts.
   *
   * The feed position is assigned by the store inside that transaction (SQLite: the rowid of the
   * feed table, written under SQLite's single writer lock; Redis: `INCR` in the same Lua script;
   * PostgreSQL: a `bigserial` plus the writing transaction's id; memory: an array), so readers
   * see positions in the order they become readable.
   * @returns true for the one caller whose event was stored.
   */
  appendEvent(key: string, value: string, feed: FeedRecord, writes?: EventWrites): Promise<boolean>;
  /**
   * Record several audit events, and take `claims`, in one transaction: {@link appendEvent} for an
   * intent's first events (its `intent-submitted` and its first task's `task-created`) together with
   * the idempotency key that names them. Every key — each event's and each claim's — is claimed
   * permanently, first writer wins; when any of them is held (a lapsed lease is not held), nothing at
   * all is written and the call returns false. Otherwise the events' feed entries are appended in
   * the order of `events`, `writes` made and its message published, all in that one transaction.
   *
   * Optional: an engine on a backend without it records the same events one `appendEvent` at a time
   * and the key with {@link claim} first (one commit each instead of one in all).
   * @returns true when everything was stored.
   */
  appendEvents?(
    events: readonly EventAppend[],
    writes?: EventWrites,
    claims?: readonly EventClaim[],
  ): Promise<boolean>;
  /**
   * Feed entries after `after`, in feed order, optionally only those of one intent, task or
   * assignee (each answered by its own index). Never skips an entry and never returns one twice:
   * an entry that is not yet readable when a page is read sorts after that page's last position.
   * @throws {ValidationError} when `after` is not a position of this kind of store.
   */
  readFeed(options: FeedReadOptions): Promise<FeedEntryRef[]>;
  /** The position of the newest readable feed entry (or the start when the feed is empty). */
  feedHead(): Promise<string>;
  /** The values of counters written by {@link appendEvent}, in the order of `counters` (0 for none). */
  readCounters(counters: readonly string[]): Promise<number[]>;
  /**
   * The values of records written by {@link appendEvent} (`undefined` where there is none), in the
   * order of `keys`, read in one statement: all of them as of one moment, so that records written
   * by one event are read either all before it or all after it.
   */
  readRecords(keys: readonly string[]): Promise<(string | undefined)[]>;

  /**
   * Send a small message to every engine on this store, this process included (Redis pub/sub,
   * PostgreSQL `LISTEN/NOTIFY`, a message table polled by `PRAGMA data_version` in SQLite,
   * an emitter in memory). Delivery is best effort: the engine's slow poll is the safety net.
   */
  publish(message: string): Promise<void>;
  /** Receive every published message; returns the function that stops it. */
  subscribe(listener: (message: string) => void): () => void;

  /**
   * The store's own clock in ms since the epoch, read in one round trip: Redis `TIME`, PostgreSQL
   * `clock_timestamp()`, SQLite's `'now'` (the clock of the host that has the file). Every engine on
   * a store takes its deadlines, leases and audit times from this one clock, so a host whose clock
   * is wrong cannot fire another host's deadline early or late. Absent on a backend that lives in
   * one process (memory): its clock is the process's.
   */
  readClock?(): Promise<number>;
  /**
   * The clock this backend compares lease expiry with, in ms since the epoch; the engine passes its
   * store-synchronised clock. @default `Date.now`
   */
  useClock?(now: () => number): void;

  /** Release connections and timers. Idempotent. Other backends on the same URI keep working. */
  close(): Promise<void>;
}
