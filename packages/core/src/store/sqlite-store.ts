import { randomUUID } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
// The real clock, even under a test's fake timers: polling is plumbing, not logic time.
import { clearInterval, setInterval } from 'node:timers';
import Keyv from 'keyv';
import { yieldIfLong } from '../engine/yield.js';
import {
  checkAfter,
  checkEventAppends,
  checkFeedOptions,
  integerPosition,
  type NormalizedWrites,
} from './feed-arguments.js';
import {
  closeSqliteDatabase,
  commitGroups,
  inGroup,
  inTransaction,
  KeyvNodeSqlite,
  openSqliteDatabase,
} from './keyv-node-sqlite.js';
import { ListenerSet } from './listener-set.js';
import { discardConnection, walGrew } from './sqlite-checkpoints.js';
import { sqliteRefusal } from './sqlite-file.js';
import {
  checkEntries,
  checkKey,
  checkKeys,
  checkTtl,
  checkValue,
  rangeBounds,
  storeClosedError,
  storeError,
} from './store-arguments.js';
import type {
  EventAppend,
  EventClaim,
  EventWrites,
  FeedEntryRef,
  FeedReadOptions,
  FeedRecord,
  IndexEntry,
  IndexRangeOptions,
  StoreBackend,
} from './store-backend.js';

/** How often subscribers look for messages from other connections (one `PRAGMA data_version` each time). */
const POLL_INTERVAL_MS = 50;
/** Messages are wake-ups, not a log: rows older than this are deleted now and then. */
const MESSAGE_RETENTION_MS = 60_000;
/** Operations whose statements commit on their own (the others commit through inTransaction or inGroup, or only read). */
const autocommits = new Set(['claim', 'releaseClaim', 'indexRemove', 'publish']);
/** How often expired leases are swept from the claims table. */
const SWEEP_INTERVAL_MS = 60_000;

// The claims table holds the audit events (rows of up to a few KB): an ordinary rowid table with
// an index on key writes them at about a third of the cost of a WITHOUT ROWID table (bench/RESULTS.md).
/** Thrown inside `appendEvents`' transaction when a key is held, to roll it back. */
const keyHeld = Symbol('key held');

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS holdpoint_claims (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires INTEGER
  );
  CREATE INDEX IF NOT EXISTS holdpoint_claims_lapsing ON holdpoint_claims (expires) WHERE expires IS NOT NULL;
  CREATE TABLE IF NOT EXISTS holdpoint_index (
    name TEXT NOT NULL,
    member TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (member, name)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS holdpoint_index_by_score ON holdpoint_index (name, score, member);
  CREATE TABLE IF NOT EXISTS holdpoint_messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    origin TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
  );
`;

/**
 * The event feed, written by `appendEvent` in the transaction that claims the event. `position` is
 * the rowid: SQLite gives a new row the largest rowid plus one, and a write transaction holds the
 * file's only write lock until it commits, so positions become readable in order and a reader never
 * sees a position before a smaller one (rows are never deleted, so no rowid is reused).
 * `holdpoint_feed_assignees` holds the positions of each assignee's events; `holdpoint_counters`
 * the task counts.
 */
const FEED_SCHEMA = `
  CREATE TABLE IF NOT EXISTS holdpoint_feed (
    position INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    intent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    task_id TEXT
  );
  CREATE INDEX IF NOT EXISTS holdpoint_feed_by_channel ON holdpoint_feed (channel, position);
  CREATE INDEX IF NOT EXISTS holdpoint_feed_by_intent ON holdpoint_feed (channel, intent_id, position);
  CREATE INDEX IF NOT EXISTS holdpoint_feed_by_task ON holdpoint_feed (channel, task_id, position);
  CREATE TABLE IF NOT EXISTS holdpoint_feed_assignees (
    channel TEXT NOT NULL,
    assignee TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (channel, assignee, position)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS holdpoint_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS holdpoint_records (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
`;

/**
 * Backends of this process by connection. `PRAGMA data_version` only changes for commits of *other*
 * connections, so backends that share one connection hand each other their messages directly.
 */
const backendsByDatabase = new WeakMap<DatabaseSync, Set<SqliteStore>>();
/** Tells one connection's messages apart from others' in the shared table (its own are delivered directly). */
const connectionIds = new WeakMap<DatabaseSync, string>();

/**
 * A store in one SQLite file through `node:sqlite`: the default store, and the one for a single
 * machine (several processes may share the file). One connection serves Keyv (a
 * {@link KeyvNodeSqlite} table `keyv`) and the backend's tables: `holdpoint_claims` (first writer
 * wins by `INSERT … ON CONFLICT … RETURNING`), `holdpoint_index` (indexed by name and score) and
 * `holdpoint_messages` (wake-ups for other processes, found by polling `PRAGMA data_version` every
 * 50 ms while someone is subscribed).
 *
 * Durability: WAL with `synchronous=NORMAL` (see {@link openSqliteDatabase}): a commit survives a
 * crash of the process; a power loss can lose the last commits but never corrupts the file.
 * `node:sqlite` is synchronous, so a write that waits for another process's lock (up to the busy
 * timeout, 5 s) blocks this process's event loop meanwhile.
 */
export class SqliteStore implements StoreBackend {
  readonly kind = 'sqlite';
  readonly keyv: Keyv;
  readonly #db: DatabaseSync;
  /** The clock lease expiry is compared with ({@link useClock}). */
  #now: () => number = Date.now;
  /** Whether close() closes the connection: only when open() opened it, not for a Keyv passed in. */
  readonly #ownsDatabase: boolean;
  readonly #prefix: string;
  /** The file, for messages. */
  readonly #location: string;
  readonly #origin: string;
  readonly #statements = new Map<string, StatementSync>();
  readonly #listeners = new ListenerSet();
  #pollTimer: NodeJS.Timeout | undefined;
  #dataVersion = 0;
  #lastMessageId = 0;
  #lastPrune = 0;
  /** The id of the message this connection wrote when it last pruned: older rows go at its next pruning. */
  #pruneBelow: number | undefined;
  #lastSweep = 0;
  #closed = false;

  private constructor(options: { db: DatabaseSync; keyv: Keyv; ownsDatabase: boolean; prefix: string }) {
    this.#db = options.db;
    this.keyv = options.keyv;
    this.#ownsDatabase = options.ownsDatabase;
    this.#prefix = options.prefix;
    this.#location = this.#db.location() ?? ':memory:';
    this.#origin = connectionIds.get(this.#db) ?? randomUUID();
    connectionIds.set(this.#db, this.#origin);
    inTransaction(this.#db, () => {
      this.#db.exec(SCHEMA);
      this.#db.exec(FEED_SCHEMA);
    });
    let siblings = backendsByDatabase.get(this.#db);
    if (siblings === undefined) {
      siblings = new Set();
      backendsByDatabase.set(this.#db, siblings);
    }
    siblings.add(this);
  }

  /**
   * Open (creating if needed) the database at `location`, a file path or `:memory:`.
   * @throws {ValidationError} when the location cannot be used (a directory, a device, a file that is
   *   not a database or that other users can read): the message says what to change.
   * @throws {StoreUnavailableError} (retryable) when the file is busy or the disk fails: retry later.
   */
  static open(options: { location: string; prefix: string }): SqliteStore {
    let db: DatabaseSync | undefined;
    try {
      db = openSqliteDatabase(options.location);
      // The adapter is given the connection, so it does not close it: this store does, in close().
      const adapter = new KeyvNodeSqlite({ db });
      const keyv = new Keyv({ store: adapter, namespace: options.prefix, throwOnErrors: true });
      // Errors are thrown to the caller (throwOnErrors); the listener keeps an emitted one from going unheard.
      keyv.on('error', () => {});
      return new SqliteStore({ db, keyv, ownsDatabase: true, prefix: options.prefix });
    } catch (error) {
      if (db !== undefined) discardConnection(db);
      throw storeError('sqlite', 'open', error, (cause) => sqliteRefusal(cause, options.location));
    }
  }

  /** A backend over the connection of a Keyv whose store is a {@link KeyvNodeSqlite}; the Keyv keeps owning it. */
  static fromKeyv(keyv: Keyv, prefix: string): SqliteStore {
    const adapter = keyv.store as KeyvNodeSqlite;
    try {
      return new SqliteStore({ db: adapter.db, keyv, ownsDatabase: false, prefix });
    } catch (error) {
      throw storeError('sqlite', 'open', error, (cause) =>
        sqliteRefusal(cause, adapter.db.isOpen ? (adapter.db.location() ?? ':memory:') : 'given'),
      );
    }
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    await yieldIfLong();
    const ttl = checkTtl(ttlMs);
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    return this.#run('claim', () => {
      const now = this.#now();
      this.#sweep(now);
      // A lapsed lease counts as absent: the upsert only overwrites a row whose lease has expired,
      // and RETURNING yields a row only when this statement wrote it.
      const written = this.#statement(
        `INSERT INTO holdpoint_claims (key, value, expires) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
         WHERE holdpoint_claims.expires IS NOT NULL AND holdpoint_claims.expires <= ?
         RETURNING key`,
      ).all(this.#key(key), value, ttl === undefined ? null : now + ttl, now);
      return written.length === 1;
    });
  }

  async readClaims(keys: readonly string[]): Promise<(string | undefined)[]> {
    await yieldIfLong();
    checkKeys(keys, 'claim key');
    return this.#run('readClaims', () => {
      if (keys.length === 0) return [];
      const rows = this.#statement(
        `SELECT key, value FROM holdpoint_claims
         WHERE key IN (SELECT value FROM json_each(?)) AND (expires IS NULL OR expires > ?)`,
      ).all(JSON.stringify(keys.map((key) => this.#key(key))), this.#now());
      const values = new Map(rows.map((row) => [row.key as string, row.value as string]));
      return keys.map((key) => values.get(this.#key(key)));
    });
  }

  async releaseClaim(key: string, value: string): Promise<void> {
    await yieldIfLong();
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    this.#run('releaseClaim', () => {
      this.#statement('DELETE FROM holdpoint_claims WHERE key = ? AND value = ?').run(this.#key(key), value);
    });
  }

  async indexAdd(index: string, entries: readonly IndexEntry[]): Promise<void> {
    await yieldIfLong();
    checkKey(index, 'index name');
    const checked = checkEntries(entries);
    this.#run('indexAdd', () => {
      const upsert = this.#statement(
        `INSERT INTO holdpoint_index (name, member, score) VALUES (?, ?, ?)
         ON CONFLICT (name, member) DO UPDATE SET score = excluded.score`,
      );
      const name = this.#key(index);
      inTransaction(this.#db, () => {
        for (const entry of checked) upsert.run(name, entry.member, entry.score);
      });
    });
  }

  async indexRemove(index: string, members: readonly string[]): Promise<void> {
    await yieldIfLong();
    checkKey(index, 'index name');
    checkKeys(members, 'index member');
    this.#run('indexRemove', () => {
      if (members.length === 0) return;
      this.#statement(
        'DELETE FROM holdpoint_index WHERE name = ? AND member IN (SELECT value FROM json_each(?))',
      ).run(this.#key(index), JSON.stringify(members));
    });
  }

  async indexRange(index: string, options: IndexRangeOptions): Promise<IndexEntry[]> {
    await yieldIfLong();
    checkKey(index, 'index name');
    const { min, max, limit } = rangeBounds(options);
    const after = checkAfter(options.after);
    return this.#run('indexRange', () => {
      if (limit === 0) return [];
      const rows =
        after === undefined
          ? this.#statement(
              `SELECT member, score FROM holdpoint_index
               WHERE name = ? AND score >= ? AND score <= ? ORDER BY score, member LIMIT ?`,
            ).all(this.#key(index), min, max, limit)
          : this.#statement(
              `SELECT member, score FROM holdpoint_index
               WHERE name = ? AND score >= ? AND score <= ? AND (score, member) > (?, ?)
               ORDER BY score, member LIMIT ?`,
            ).all(this.#key(index), min, max, after.score, after.member, limit);
      return rows.map((row) => ({ member: row.member as string, score: row.score as number }));
    });
  }

  // -------------------------------------------------------------------------------------------
  // Feed, list indexes and counters (appendEvent and what reads it)

  async appendEvent(key: string, value: string, feed: FeedRecord, writes?: EventWrites): Promise<boolean> {
    return this.appendEvents([{ key, value, feed }], writes);
  }

  async appendEvents(events: readonly EventAppend[], writes?: EventWrites, claims?: readonly EventClaim[]) {
    await yieldIfLong();
    const checked = checkEventAppends(events, writes, claims);
    const normalized = checked.writes;
    // In the connection's group transaction: events recorded in one turn of the event loop share a
    // commit (inGroup); this call answers once that commit is done.
    const { won, committed } = this.#run('appendEvent', () => {
      try {
        const { committed } = inGroup(this.#db, () => this.#appendInTransaction(checked, normalized));
        return { won: true, committed };
      } catch (error) {
        // A key was held: its savepoint is rolled back, nothing of this call is stored.
        if (error === keyHeld) return { won: false, committed: undefined };
        throw error;
      }
    });
    if (committed !== undefined) {
      await committed.catch((error: unknown) => {
        throw storeError('sqlite', 'appendEvent', error, (cause) => sqliteRefusal(cause, this.#location));
      });
    }
    if (won && normalized.message !== undefined) this.#toSiblings(normalized.message);
    return won;
  }

  #appendInTransaction(checked: ReturnType<typeof checkEventAppends>, normalized: NormalizedWrites): true {
    const now = this.#now();
    const claim = this.#statement(
      `INSERT INTO holdpoint_claims (key, value, expires) VALUES (?, ?, NULL)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = NULL
           WHERE holdpoint_claims.expires IS NOT NULL AND holdpoint_claims.expires <= ?
           RETURNING key`,
    );
    for (const { key, value } of [...checked.events, ...checked.claims]) {
      if (claim.all(this.#key(key), value, now).length !== 1) throw keyHeld;
    }
    const fed = this.#statement(
      'INSERT INTO holdpoint_feed (channel, intent_id, seq, task_id) VALUES (?, ?, ?, ?) RETURNING position',
    );
    const assigned = this.#statement(
      'INSERT INTO holdpoint_feed_assignees (channel, assignee, position) VALUES (?, ?, ?)',
    );
    for (const { feed: record } of checked.events) {
      const row = fed.get(this.#prefix, record.intentId, record.seq, record.taskId ?? null);
      const position = Number(row?.position);
      for (const assignee of record.assignees) assigned.run(this.#prefix, assignee, position);
    }
    const upsert = this.#statement(
      `INSERT INTO holdpoint_index (name, member, score) VALUES (?, ?, ?)
           ON CONFLICT (name, member) DO UPDATE SET score = excluded.score`,
    );
    for (const entry of normalized.indexAdd) upsert.run(this.#key(entry.index), entry.member, entry.score);
    const remove = this.#statement('DELETE FROM holdpoint_index WHERE name = ? AND member = ?');
    for (const entry of normalized.indexRemove) remove.run(this.#key(entry.index), entry.member);
    const count = this.#statement(
      `INSERT INTO holdpoint_counters (name, value) VALUES (?, ?)
           ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
    );
    for (const { counter, delta } of normalized.counters) count.run(this.#key(counter), delta);
    const keep = this.#statement(
      `INSERT INTO holdpoint_records (name, value) VALUES (?, ?)
           ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
    );
    for (const entry of normalized.records) keep.run(this.#key(entry.key), entry.value);
    if (normalized.releaseClaims.length > 0) {
      const release = this.#statement('DELETE FROM holdpoint_claims WHERE key = ? AND value = ?');
      for (const entry of normalized.releaseClaims) release.run(this.#key(entry.key), entry.value);
    }
    if (normalized.message !== undefined) this.#insertMessage(normalized.message);
    return true;
  }

  async readFeed(options: FeedReadOptions): Promise<FeedEntryRef[]> {
    await yieldIfLong();
    const { limit, intentId, taskId, assignee } = checkFeedOptions(options);
    const after = integerPosition('sqlite', options.after);
    return this.#run('readFeed', () => {
      if (limit === 0) return [];
      let rows: Record<string, unknown>[];
      if (assignee !== undefined && intentId === undefined && taskId === undefined) {
        rows = this.#statement(
          `SELECT feed.position, feed.intent_id, feed.seq FROM holdpoint_feed_assignees AS assigned
           JOIN holdpoint_feed AS feed ON feed.position = assigned.position
           WHERE assigned.channel = ? AND assigned.assignee = ? AND assigned.position > ?
           ORDER BY assigned.position LIMIT ?`,
        ).all(this.#prefix, assignee, after, limit);
      } else {
        const conditions = ['feed.channel = ?', 'feed.position > ?'];
        const values: Array<string | number> = [this.#prefix, after];
        if (intentId !== undefined) {
          conditions.push('feed.intent_id = ?');
          values.push(intentId);
        }
        if (taskId !== undefined) {
          conditions.push('feed.task_id = ?');
          values.push(taskId);
        }
        if (assignee !== undefined) {
          conditions.push(
            `EXISTS (SELECT 1 FROM holdpoint_feed_assignees AS assigned WHERE assigned.channel = feed.channel
             AND assigned.assignee = ? AND assigned.position = feed.position)`,
          );
          values.push(assignee);
        }
        rows = this.#statement(
          `SELECT feed.position, feed.intent_id, feed.seq FROM holdpoint_feed AS feed
           WHERE ${conditions.join(' AND ')} ORDER BY feed.position LIMIT ?`,
        ).all(...values, limit);
      }
      return rows.map((row) => ({
        position: String(row.position),
        intentId: row.intent_id as string,
        seq: Number(row.seq),
      }));
    });
  }

  async feedHead(): Promise<string> {
    return this.#run('feedHead', () => {
      const row = this.#statement(
        'SELECT coalesce(max(position), 0) AS position FROM holdpoint_feed WHERE channel = ?',
      ).get(this.#prefix);
      return String(row?.position ?? 0);
    });
  }

  async readCounters(counters: readonly string[]): Promise<number[]> {
    await yieldIfLong();
    checkKeys(counters, 'counter name');
    return this.#run('readCounters', () => {
      if (counters.length === 0) return [];
      const rows = this.#statement(
        'SELECT name, value FROM holdpoint_counters WHERE name IN (SELECT value FROM json_each(?))',
      ).all(JSON.stringify(counters.map((counter) => this.#key(counter))));
      const values = new Map(rows.map((row) => [row.name as string, Number(row.value)]));
      return counters.map((counter) => values.get(this.#key(counter)) ?? 0);
    });
  }

  async readRecords(keys: readonly string[]): Promise<(string | undefined)[]> {
    await yieldIfLong();
    checkKeys(keys, 'record key');
    return this.#run('readRecords', () => {
      if (keys.length === 0) return [];
      const rows = this.#statement(
        'SELECT name, value FROM holdpoint_records WHERE name IN (SELECT value FROM json_each(?))',
      ).all(JSON.stringify(keys.map((key) => this.#key(key))));
      const values = new Map(rows.map((row) => [row.name as string, row.value as string]));
      return keys.map((key) => values.get(this.#key(key)));
    });
  }

  async readClock(): Promise<number> {
    // SQLite's 'now' is the host's clock (the VFS's, not this process's Date): every engine on the
    // file is on this host, and a process whose Date was tampered with still reads the same time.
    return this.#run('readClock', () => {
      const row = this.#statement(
        "SELECT CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) AS now",
      ).get();
      return Number(row?.now);
    });
  }

  useClock(now: () => number): void {
    this.#now = now;
  }

  async publish(message: string): Promise<void> {
    await yieldIfLong();
    checkValue(message, 'message');
    this.#run('publish', () => this.#insertMessage(message));
    this.#toSiblings(message);
  }

  /** A message row for the other connections on the file (and the pruning of old ones). */
  #insertMessage(message: string): void {
    const now = Date.now();
    const { lastInsertRowid } = this.#statement(
      'INSERT INTO holdpoint_messages (channel, origin, message, at) VALUES (?, ?, ?, ?)',
    ).run(this.#prefix, this.#origin, message, now);
    if (now - this.#lastPrune > MESSAGE_RETENTION_MS) {
      this.#lastPrune = now;
      // Rows before the one this connection wrote at its last pruning, a retention period or more
      // ago: by id, so the table needs no index on time. The newest row always stays (it is at or
      // after that mark), so a new row's id — the largest plus one — is never one a reader passed.
      if (this.#pruneBelow !== undefined)
        this.#statement('DELETE FROM holdpoint_messages WHERE id < ?').run(this.#pruneBelow);
      this.#pruneBelow = Number(lastInsertRowid);
    }
  }

  /**
   * This connection's own commits do not change its data_version: a message it wrote goes to the
   * backends that share the connection now, instead of through the table.
   */
  #toSiblings(message: string): void {
    for (const sibling of backendsByDatabase.get(this.#db) ?? []) {
      if (sibling.#prefix === this.#prefix) queueMicrotask(() => sibling.#listeners.emit(message));
    }
  }

  subscribe(listener: (message: string) => void): () => void {
    const remove = this.#listeners.add(listener);
    this.#startPolling();
    return () => {
      remove();
      if (this.#listeners.size === 0) this.#stopPolling();
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    commitGroups();
    this.#stopPolling();
    this.#listeners.clear();
    this.#statements.clear();
    backendsByDatabase.get(this.#db)?.delete(this);
    // The connection is only ours when open() opened it; a Keyv passed in keeps its connection.
    if (this.#ownsDatabase) {
      await this.keyv.store.disconnect?.();
      await closeSqliteDatabase(this.#db);
    }
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined || this.#closed) return;
    try {
      commitGroups();
      // Only messages published from now on: reading from the start would replay old wake-ups.
      this.#dataVersion = this.#readDataVersion();
      const row = this.#statement('SELECT coalesce(max(id), 0) AS id FROM holdpoint_messages').get();
      this.#lastMessageId = Number(row?.id ?? 0);
    } catch {
      // The file is busy or gone: the first poll reads whatever arrives after it recovers.
    }
    this.#pollTimer = setInterval(() => this.#poll(), POLL_INTERVAL_MS);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #poll(): void {
    let rows: Record<string, unknown>[];
    try {
      commitGroups();
      const version = this.#readDataVersion();
      if (version === this.#dataVersion) return;
      this.#dataVersion = version;
      rows = this.#statement(
        `SELECT id, message FROM holdpoint_messages
         WHERE id > ? AND channel = ? AND origin <> ? ORDER BY id`,
      ).all(this.#lastMessageId, this.#prefix, this.#origin);
    } catch {
      // Best effort (a writer holding the file past the busy timeout): the next tick tries again,
      // and the engine's slow poll covers a missed wake-up.
      return;
    }
    for (const row of rows) {
      this.#lastMessageId = Math.max(this.#lastMessageId, Number(row.id));
      this.#listeners.emit(row.message as string);
    }
  }

  #readDataVersion(): number {
    return Number(this.#statement('PRAGMA data_version').get()?.data_version ?? 0);
  }

  /** Drop lapsed leases now and then, so the claims table holds only what may still matter. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    // A batch at a time, found by the partial index: the claims table also holds every audit event.
    this.#statement(
      `DELETE FROM holdpoint_claims WHERE key IN (
         SELECT key FROM holdpoint_claims WHERE expires IS NOT NULL AND expires <= ? LIMIT 1000)`,
    ).run(now);
  }

  #key(key: string): string {
    return `${this.#prefix}:${key}`;
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #run<T>(operation: string, work: () => T): T {
    if (this.#closed) throw storeClosedError('sqlite', operation);
    try {
      // Anything but an append first commits the appends grouped so far: nothing runs inside a group.
      if (operation !== 'appendEvent') commitGroups();
      const result = work();
      if (autocommits.has(operation)) walGrew(this.#db);
      return result;
    } catch (error) {
      throw storeError('sqlite', operation, error, (cause) => sqliteRefusal(cause, this.#location));
    }
  }
}
