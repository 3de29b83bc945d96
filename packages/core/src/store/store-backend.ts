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
   * Send a small message to every engine on this store, this process included (Redis pub/sub,
   * PostgreSQL `LISTEN/NOTIFY`, a message table polled by `PRAGMA data_version` in SQLite,
   * an emitter in memory). Delivery is best effort: the engine's slow poll is the safety net.
   */
  publish(message: string): Promise<void>;
  /** Receive every published message; returns the function that stops it. */
  subscribe(listener: (message: string) => void): () => void;

  /** Release connections and timers. Idempotent. Other backends on the same URI keep working. */
  close(): Promise<void>;
}
