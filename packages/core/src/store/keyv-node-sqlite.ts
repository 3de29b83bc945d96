import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
// The real event loop, even under a test's fake timers: a group's commit is plumbing, not logic time.
import { setImmediate } from 'node:timers';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import { checkpointInBackground, discardConnection, stopCheckpoints, walGrew } from './sqlite-checkpoints.js';
import { prepareSqliteFile } from './sqlite-file.js';

/** Options for {@link KeyvNodeSqlite}. */
export interface KeyvNodeSqliteOptions {
  /**
   * The database: a file path, a `sqlite://` URL (`sqlite://./data/app.db`, `sqlite:///var/lib/app.db`)
   * or `:memory:`. Missing parent directories are created. Ignored when `db` is given.
   * @default ':memory:'
   */
  uri?: string;
  /**
   * An open `node:sqlite` connection to use instead of opening one. The adapter does not change its
   * settings and does not close it on `disconnect()`: whoever opened it does.
   */
  db?: DatabaseSync;
  /**
   * Table that holds the records; created if missing.
   * @default 'keyv'
   */
  table?: string;
  /**
   * How long a write waits for another connection's lock before failing with `SQLITE_BUSY`, in ms.
   * @default 5000
   */
  busyTimeout?: number;
  /**
   * Rows read per page by `iterator()`.
   * @default 100
   */
  iterationLimit?: number;
}

/** What the adapter reports as its options; Keyv reads `dialect` to know the store can be iterated. */
export interface KeyvNodeSqliteProperties {
  dialect: 'sqlite';
  url: string;
  table: string;
  busyTimeout: number;
  iterationLimit: number;
}

const brand = Symbol.for('holdpoint.keyv-node-sqlite');

/**
 * Open a SQLite database the way Holdpoint uses it: WAL journal (readers never block the writer, so
 * several processes can share one file), a busy timeout (a writer waits for another's lock instead
 * of failing at once), and `synchronous=NORMAL`. A file's checkpoints run in a worker thread
 * (`sqlite-checkpoints.ts`); close it with {@link closeSqliteDatabase}.
 *
 * Durability: with WAL, `synchronous=NORMAL` syncs at checkpoints rather than on every commit. A
 * commit survives a crash of the process; a power loss or OS crash can lose the last few commits
 * (the database stays consistent). Run `PRAGMA synchronous=FULL` on the connection if every commit
 * must reach the disk before it returns.
 *
 * The file is created with mode 0600 (its directory 0700), and an existing file other users may read
 * or write is refused (see `prepareSqliteFile`).
 *
 * @param location a file path or `:memory:`; parent directories of a file are created.
 * @throws ValidationError when the location cannot be a private database file (a directory, a device,
 *   a file others can read); the SQLite error when the file cannot be opened.
 */
export function openSqliteDatabase(location: string, options: { busyTimeout?: number } = {}): DatabaseSync {
  const inMemory = location === ':memory:' || location === '';
  // A private file in a private directory: it may hold the audit signing key.
  if (!inMemory) prepareSqliteFile(location);
  // Loaded on first use so that importing Holdpoint does not load `node:sqlite` unless it is used.
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
  const db = new DatabaseSync(inMemory ? ':memory:' : location);
  try {
    // The busy timeout comes first: switching to WAL takes a lock another process may hold.
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeout ?? 5000))}`);
    if (!inMemory) db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    // Savepoints (a group's writes, see inGroup) journal the pages they change: in memory, not a file.
    db.exec('PRAGMA temp_store = MEMORY');
    // Checkpoints run in a worker thread instead of in the middle of a commit (sqlite-checkpoints.ts).
    if (!inMemory) checkpointInBackground(db, resolve(location));
  } catch (error) {
    discardConnection(db);
    throw error;
  }
  return db;
}

/**
 * Close a connection opened by {@link openSqliteDatabase}, once the checkpoint worker has let go of
 * the file: this connection is then the last, so it copies the WAL into the file and removes it.
 */
export async function closeSqliteDatabase(db: DatabaseSync): Promise<void> {
  await stopCheckpoints(db);
  if (db.isOpen) db.close();
}

/** The file (or `:memory:`) a `sqlite://` URL or plain path names. */
export function sqliteLocation(uri: string): string {
  const location = uri.replace(/^sqlite:\/\//, '');
  return location === '' ? ':memory:' : location;
}

/** Run `work` in one write transaction (or inside the caller's, when one is open). */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  commitGroups();
  if (db.isTransaction) return work();
  // IMMEDIATE takes the write lock up front, waiting out other writers under the busy timeout,
  // instead of failing half-way when a read lock cannot be upgraded.
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    walGrew(db);
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** The open group transaction of a connection (see {@link inGroup}). */
interface CommitGroup {
  committed: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Writes that joined it. */
  members: number;
  /** Whether it waits a turn of the event loop for more writes, or commits after its first. */
  deferred: boolean;
}

/**
 * Per connection: whether its groups wait a turn for company (the last group that waited got it), how
 * many groups committed at once since one last waited, and whether one committed at once in this
 * turn of the event loop. Waiting a turn costs a gate in flight alone a pass of the event loop for
 * nothing; so a group waits while waiting pays, when a write came before it in the same turn, and
 * one in {@link probeEvery} waits to find out whether it pays again.
 */
const grouping = new WeakMap<DatabaseSync, { defer: boolean; sinceProbe: number; sameTurn: boolean }>();
const probeEvery = 16;

/**
 * The open groups of this process, by connection. A group holds its file's write lock until it
 * commits; another connection of this process that waited for that lock would block the event loop
 * the commit waits for, so any use of any connection commits every open group first.
 */
const openGroups = new Map<DatabaseSync, CommitGroup>();

/**
 * Run `work` in the connection's group transaction, under a savepoint of its own: writes made in one
 * turn of the event loop (the events several gates record at once) share one `BEGIN IMMEDIATE …
 * COMMIT`, so the pages they all touch — the ends of the lists, the feed, the claims — are appended
 * to the WAL once per group instead of once per write. A group that waits for company (see
 * {@link grouping}: while waiting pays) commits at the next turn of the event loop, else right after
 * its first write; either way at once when a connection of this process is used for anything else
 * ({@link commitGroups}: every other statement, `inTransaction`, closing), so nothing else ever runs
 * inside it and no connection of this process waits for its lock.
 *
 * Callers report success only once `committed` has resolved: a write is durable when its caller
 * learns of it, as with a transaction of its own. When `work` throws, its savepoint is rolled back and
 * the rest of the group goes on; when the error ended the whole transaction (SQLite does so for
 * some I/O errors), every write of the group is lost and `committed` rejects for all of them.
 */
export function inGroup<T>(db: DatabaseSync, work: () => T): { result: T; committed: Promise<void> } {
  for (const other of openGroups.keys()) if (other !== db) commitGroup(other);
  let group = openGroups.get(db);
  if (group === undefined && !db.isTransaction) {
    db.exec('BEGIN IMMEDIATE');
    let resolve: () => void = () => {};
    let reject: (error: unknown) => void = () => {};
    const committed = new Promise<void>((done, fail) => {
      resolve = done;
      reject = fail;
    });
    // Every member awaits it; this keeps a group whose members all failed from an unhandled rejection.
    committed.catch(() => {});
    const state = grouping.get(db) ?? { defer: false, sinceProbe: 0, sameTurn: false };
    grouping.set(db, state);
    const deferred = state.defer || state.sameTurn || ++state.sinceProbe >= probeEvery;
    if (deferred) state.sinceProbe = 0;
    group = { committed, resolve, reject, members: 0, deferred };
    openGroups.set(db, group);
    if (deferred) setImmediate(() => commitGroup(db));
  }
  if (group !== undefined) group.members++;
  db.exec('SAVEPOINT holdpoint_group');
  try {
    const result = work();
    db.exec('RELEASE holdpoint_group');
    const committed = group?.committed ?? Promise.resolve();
    if (group !== undefined && !group.deferred) commitAlone(db);
    return { result, committed };
  } catch (error) {
    if (db.isTransaction) {
      db.exec('ROLLBACK TO holdpoint_group');
      db.exec('RELEASE holdpoint_group');
    } else if (group !== undefined) {
      openGroups.delete(db);
      group.reject(error);
    }
    if (group !== undefined && !group.deferred) commitAlone(db);
    throw error;
  }
}

/** Commit a group that did not wait, and note that a write came in this turn (the next one waits). */
function commitAlone(db: DatabaseSync): void {
  commitGroup(db);
  const state = grouping.get(db);
  if (state === undefined || state.sameTurn) return;
  state.sameTurn = true;
  setImmediate(() => {
    state.sameTurn = false;
  });
}

/** Commit every open group of this process now (see {@link inGroup}). */
export function commitGroups(): void {
  for (const db of [...openGroups.keys()]) commitGroup(db);
}

/** Commit the connection's open group now, if it has one. */
function commitGroup(db: DatabaseSync): void {
  const group = openGroups.get(db);
  if (group === undefined) return;
  openGroups.delete(db);
  if (group.deferred) {
    const state = grouping.get(db);
    if (state !== undefined) state.defer = group.members > 1;
  }
  try {
    if (db.isTransaction) db.exec('COMMIT');
    walGrew(db);
    group.resolve();
  } catch (error) {
    try {
      if (db.isTransaction) db.exec('ROLLBACK');
    } catch {
      // The connection is gone; the group is lost either way.
    }
    group.reject(error);
  }
}

/**
 * A Keyv 5 storage adapter over Node's built-in `node:sqlite` (Node ≥ 22.13): no native module to
 * compile, unlike `@keyv/sqlite`. The file is opened with WAL, `synchronous=NORMAL` and a busy
 * timeout (see {@link openSqliteDatabase}), so several processes can share it; its WAL checkpoints
 * run in a worker thread of the process rather than inside a write.
 *
 * Records live in one table `(key TEXT PRIMARY KEY, value TEXT, expires INTEGER)`; `expires` is set
 * from the TTL Keyv passes, so expired records are neither read nor counted by `has`.
 * `node:sqlite` is synchronous: each call runs to completion before its promise settles.
 *
 * @example
 * import Keyv from 'keyv';
 * import { KeyvNodeSqlite } from '@holdpoint/core';
 *
 * const keyv = new Keyv({ store: new KeyvNodeSqlite('sqlite://./data/app.db'), throwOnErrors: true });
 * await keyv.set('greeting', 'hello', 60_000);
 */
export class KeyvNodeSqlite extends EventEmitter implements KeyvStoreAdapter {
  /** The adapter's settings; Keyv reads `dialect` and `url`. */
  readonly opts: KeyvNodeSqliteProperties;
  /** Set by Keyv: records of other namespaces are left alone by `clear()` and `iterator()`. */
  namespace?: string | undefined;
  /** The connection; shared with Holdpoint's SQLite store when that opened it. */
  readonly db: DatabaseSync;
  readonly #ownsDatabase: boolean;
  readonly #table: string;
  readonly #statements = new Map<string, StatementSync>();
  readonly [brand] = true;

  /** @param options a file path or `sqlite://` URL, or {@link KeyvNodeSqliteOptions}. */
  constructor(options: string | KeyvNodeSqliteOptions = {}) {
    super();
    const settings = typeof options === 'string' ? { uri: options } : options;
    const table = settings.table ?? 'keyv';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) {
      throw new TypeError(
        `KeyvNodeSqlite: table must be a plain SQL identifier; got ${JSON.stringify(table)}.`,
      );
    }
    const busyTimeout = settings.busyTimeout ?? 5000;
    const location = sqliteLocation(settings.uri ?? ':memory:');
    this.opts = {
      dialect: 'sqlite',
      url: `sqlite://${settings.db ? (settings.db.location() ?? ':memory:') : location}`,
      table,
      busyTimeout,
      iterationLimit: settings.iterationLimit ?? 100,
    };
    this.#table = `"${table}"`;
    this.#ownsDatabase = settings.db === undefined;
    this.db = settings.db ?? openSqliteDatabase(location, { busyTimeout });
    try {
      this.db.exec(
        `CREATE TABLE IF NOT EXISTS ${this.#table} (key TEXT PRIMARY KEY, value TEXT, expires INTEGER)`,
      );
    } catch (error) {
      if (this.#ownsDatabase) discardConnection(this.db);
      throw error;
    }
  }

  /** Whether `value` is a KeyvNodeSqlite (of any copy of this package). */
  static isInstance(value: unknown): value is KeyvNodeSqlite {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const row = this.#statement(
      `SELECT value FROM ${this.#table} WHERE key = ? AND (expires IS NULL OR expires > ?)`,
    ).get(key, Date.now());
    return (row?.value ?? undefined) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    if (keys.length === 0) return [];
    const rows = this.#statement(
      `SELECT key, value FROM ${this.#table}
       WHERE key IN (SELECT value FROM json_each(?)) AND (expires IS NULL OR expires > ?)`,
    ).all(JSON.stringify(keys), Date.now());
    const values = new Map(rows.map((row) => [row.key as string, row.value]));
    return keys.map((key) => (values.get(key) ?? undefined) as StoredData<Value | undefined>);
  }

  async set(key: string, value: unknown, ttl?: number): Promise<void> {
    this.#set(key, value, ttl);
  }

  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    inTransaction(this.db, () => {
      for (const entry of entries) this.#set(entry.key, entry.value, entry.ttl);
    });
  }

  async delete(key: string): Promise<boolean> {
    const deleted = Number(this.#statement(`DELETE FROM ${this.#table} WHERE key = ?`).run(key).changes) > 0;
    walGrew(this.db);
    return deleted;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    if (keys.length === 0) return false;
    const result = this.#statement(
      `DELETE FROM ${this.#table} WHERE key IN (SELECT value FROM json_each(?))`,
    ).run(JSON.stringify(keys));
    walGrew(this.db);
    return Number(result.changes) > 0;
  }

  async clear(): Promise<void> {
    if (this.namespace) {
      const [low, high] = namespaceRange(this.namespace);
      this.#statement(`DELETE FROM ${this.#table} WHERE key >= ? AND key < ?`).run(low, high);
    } else {
      this.#statement(`DELETE FROM ${this.#table}`).run();
    }
    walGrew(this.db);
  }

  async has(key: string): Promise<boolean> {
    const row = this.#statement(
      `SELECT 1 AS found FROM ${this.#table} WHERE key = ? AND (expires IS NULL OR expires > ?)`,
    ).get(key, Date.now());
    return row !== undefined;
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    const values = await this.getMany(keys);
    return values.map((value) => value !== undefined);
  }

  /** Every live record, as `[key, value]`, of `namespace` (of all namespaces when omitted), in key order. */
  async *iterator<Value>(
    namespace?: string,
  ): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const [low, high] = namespace ? namespaceRange(namespace) : ['', undefined];
    const page = this.#statement(
      high === undefined
        ? `SELECT key, value FROM ${this.#table}
           WHERE key > ? AND key >= ? AND (expires IS NULL OR expires > ?) ORDER BY key LIMIT ?`
        : `SELECT key, value FROM ${this.#table}
           WHERE key > ? AND key >= ? AND key < ? AND (expires IS NULL OR expires > ?) ORDER BY key LIMIT ?`,
    );
    // Keyset pagination: each page starts after the last key read, so records written or deleted
    // while iterating neither repeat nor shift the pages.
    let after = '';
    for (;;) {
      const parameters: SQLInputValue[] = high === undefined ? [after, low] : [after, low, high];
      const rows = page.all(...parameters, Date.now(), this.opts.iterationLimit);
      for (const row of rows) yield [row.key as string, row.value as Awaited<Value>];
      if (rows.length < this.opts.iterationLimit) return;
      after = rows.at(-1)?.key as string;
    }
  }

  /** Close the connection, unless it was passed in as `db`. */
  async disconnect(): Promise<void> {
    this.#statements.clear();
    commitGroups();
    if (this.#ownsDatabase) await closeSqliteDatabase(this.db);
  }

  #set(key: string, value: unknown, ttl: number | undefined): void {
    const expires = typeof ttl === 'number' && ttl > 0 ? Date.now() + ttl : null;
    this.#statement(
      `INSERT INTO ${this.#table} (key, value, expires) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
    ).run(key, typeof value === 'string' ? value : JSON.stringify(value), expires);
    walGrew(this.db);
  }

  #statement(sql: string): StatementSync {
    commitGroups();
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * Keys of a namespace are exactly those in [`ns:`, `ns;`): `;` follows `:` in byte order. Unlike
 * `LIKE 'ns:%'` this needs no escaping of `%` and `_` and uses the primary key index.
 */
function namespaceRange(namespace: string): [string, string] {
  return [`${namespace}:`, `${namespace};`];
}
