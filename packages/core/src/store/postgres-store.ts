import { createHash } from 'node:crypto';
// The real clock, even under a test's fake timers (see sleep() in store-arguments).
import { clearTimeout, setTimeout } from 'node:timers';
import { KeyvPostgres, type KeyvPostgresOptions } from '@keyv/postgres';
import Keyv from 'keyv';
import pg from 'pg';
import { ValidationError } from '../errors/validation-error.js';
import { ListenerSet } from './listener-set.js';
import { postgresRefusal } from './refusals.js';
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
import type { IndexEntry, IndexRangeOptions, StoreBackend } from './store-backend.js';

/** A connection that cannot be made within this long fails the call instead of waiting. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How often lapsed leases are deleted from the claims table, and how many at most each time. */
const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 1_000;
/** `close()` waits this long for queries in flight before it ends the pool and fails them. */
const CLOSE_DRAIN_MS = 10_000;
/** First wait before the listening connection is opened again after it dropped; doubles up to 5 s. */
const LISTEN_RETRY_MS = 250;

type Query = (sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * One pool per connection string, counted: `@keyv/postgres` keeps a single module-level pool and
 * its `disconnect()` ends whichever pool is current for every user (DESIGN §6), so backends never
 * call it. They share a pool per URI here and the last one to close ends it.
 */
const pools = new Map<string, { pool: pg.Pool; users: number }>();

/**
 * pg's client with its connect timeout on the real clock. pg arms its own (`connectionTimeoutMillis`)
 * with the global `setTimeout`, which a test's fake timers replace: advancing a fake clock by hours
 * would then cut every connection being opened. This one does what pg's does, on `node:timers`.
 */
class Client extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: (error: Error) => void): void;
  override connect(callback?: (error: Error) => void): Promise<pg.Client> | undefined {
    const timer = setTimeout(() => {
      const { connection } = this as unknown as {
        connection?: { _ending?: boolean; stream?: { destroy(error: Error): void } };
      };
      if (connection?.stream === undefined) return;
      connection._ending = true;
      connection.stream.destroy(new Error(`timeout expired after ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    timer.unref();
    if (callback === undefined) return super.connect().finally(() => clearTimeout(timer));
    super.connect((error: Error) => {
      clearTimeout(timer);
      callback(error);
    });
    return undefined;
  }
}

function acquirePool(uri: string): pg.Pool {
  let shared = pools.get(uri);
  if (shared === undefined) {
    const pool = new pg.Pool({
      connectionString: uri,
      // Connect timeout on the real clock (above), instead of the pool's connectionTimeoutMillis.
      Client,
      // Idle connections alone do not keep the process alive.
      allowExitOnIdle: true,
    });
    // An idle connection that drops (server restart) is reported here and replaced on next use;
    // without a listener the 'error' event would crash the process.
    pool.on('error', () => {});
    shared = { pool, users: 0 };
    pools.set(uri, shared);
  }
  shared.users += 1;
  return shared.pool;
}

async function releasePool(uri: string): Promise<void> {
  const shared = pools.get(uri);
  if (shared === undefined) return;
  shared.users -= 1;
  if (shared.users > 0) return;
  pools.delete(uri);
  await shared.pool.end().catch(() => {});
}

const poolOption = Symbol('holdpoint.pool');

/** `@keyv/postgres` over a pool of ours: it runs its SQL there and its `disconnect()` ends nothing. */
class SharedPoolKeyvPostgres extends KeyvPostgres {
  override async connect(): Promise<(sql: string, values?: unknown) => Promise<unknown[]>> {
    // Read from the options: `connect()` runs inside the parent constructor, before our fields exist.
    const pool = (this.opts as { [poolOption]: pg.Pool })[poolOption];
    return async (sql, values) => (await pool.query(sql, values as unknown[] | undefined)).rows;
  }

  override async disconnect(): Promise<void> {
    // The pool is shared and counted; PostgresStore.close() releases it.
  }
}

/** Schema names go into SQL unquoted by `@keyv/postgres`, so they must be plain lower-case identifiers. */
export function checkSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new ValidationError({
      field: 'store',
      message: `The PostgreSQL schema ${JSON.stringify(schema)} is not usable: give a lower-case identifier (letters, digits, "_"), e.g. postgres://localhost/app?schema=holdpoint.`,
    });
  }
  return schema;
}

/**
 * A store in a PostgreSQL database, for engines on several machines. Keyv records go through
 * `@keyv/postgres` (table `keyv`); the backend's own tables sit in the same schema:
 * `holdpoint_claims` (first writer wins by `INSERT … ON CONFLICT … DO UPDATE … WHERE lapsed
 * RETURNING`) and `holdpoint_index` (indexed by name, score, member). Wake-ups are `NOTIFY` on a
 * channel named from the schema and prefix, received by `LISTEN` on one dedicated connection,
 * opened at the first `subscribe` and opened again whenever it drops.
 *
 * Durability is the server's: with PostgreSQL's default `synchronous_commit = on` a call returns
 * only after its commit is flushed to the write-ahead log, so it survives a crash of the server.
 */
export class PostgresStore implements StoreBackend {
  readonly kind = 'postgres';
  readonly keyv: Keyv;
  readonly #query: Query;
  readonly #uri: string;
  /** Whether close() releases a pool: not when the Keyv came from the caller. */
  readonly #ownsPool: boolean;
  readonly #prefix: string;
  readonly #tables: { claims: string; index: string };
  readonly #channel: string;
  readonly #listeners = new ListenerSet();
  #listenClient: Client | undefined;
  #listenRetryMs = LISTEN_RETRY_MS;
  #listenTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastSweep = 0;
  /**
   * Queries in flight, with the means to fail them: `pg.Pool.end()` never answers requests still
   * queued for a connection, so close() waits for them, and fails those the server never answers.
   */
  readonly #inFlight = new Map<Promise<unknown>, (error: unknown) => void>();

  private constructor(options: {
    query: Query;
    uri: string;
    schema: string;
    prefix: string;
    keyv: Keyv;
    ownsPool: boolean;
  }) {
    this.#query = options.query;
    this.#uri = options.uri;
    this.#prefix = options.prefix;
    this.keyv = options.keyv;
    this.#ownsPool = options.ownsPool;
    this.#tables = {
      claims: `"${options.schema}".holdpoint_claims`,
      index: `"${options.schema}".holdpoint_index`,
    };
    this.#channel = channelName(options.schema, options.prefix);
  }

  /**
   * Connect to `uri`, creating the schema and tables if missing.
   * @throws {ValidationError} when the database does not exist, the login fails or the user may not
   *   create the tables: the message says what to change.
   * @throws {StoreUnavailableError} (retryable) when the server cannot be reached.
   */
  static async connect(options: { uri: string; schema: string; prefix: string }): Promise<PostgresStore> {
    const schema = checkSchema(options.schema);
    const pool = acquirePool(options.uri);
    const query: Query = async (sql, values) => (await pool.query(sql, values)).rows;
    try {
      await createTables(query, schema, 'keyv');
    } catch (error) {
      await releasePool(options.uri);
      throw storeError('postgres', 'connect', error, postgresRefusal);
    }
    const adapter = new SharedPoolKeyvPostgres({
      uri: options.uri,
      schema,
      table: 'keyv',
      [poolOption]: pool,
    } as KeyvPostgresOptions);
    const keyv = new Keyv({ store: adapter, namespace: options.prefix, throwOnErrors: true });
    keyv.on('error', () => {});
    return new PostgresStore({
      query,
      uri: options.uri,
      schema,
      prefix: options.prefix,
      keyv,
      ownsPool: true,
    });
  }

  /**
   * A backend on the pool of a Keyv whose store is `@keyv/postgres`, in the same schema. The pool
   * stays the Keyv's; the backend only adds its tables and, once subscribed, a listening connection.
   */
  static async fromKeyv(keyv: Keyv, prefix: string): Promise<PostgresStore> {
    const adapter = keyv.store as KeyvPostgres;
    const uri = adapter.opts.uri ?? 'postgresql://localhost:5432';
    const schema = checkSchema(adapter.opts.schema ?? 'public');
    const query: Query = (sql, values) => adapter.query(sql, values);
    try {
      await createTables(query, schema, adapter.opts.table ?? 'keyv');
    } catch (error) {
      throw storeError('postgres', 'connect', error, postgresRefusal);
    }
    return new PostgresStore({ query, uri, schema, prefix, keyv, ownsPool: false });
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    const now = Date.now();
    this.#sweep(now);
    // ON CONFLICT takes the existing row's lock and re-checks the WHERE on its latest version, so
    // of any number of concurrent callers exactly one inserts, or takes over a lapsed lease.
    const rows = await this.#run(
      'claim',
      `INSERT INTO ${this.#tables.claims} AS claim (key, value, expires) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires
       WHERE claim.expires IS NOT NULL AND claim.expires <= $4
       RETURNING key`,
      [this.#key(key), value, ttl === undefined ? null : now + ttl, now],
    );
    return rows.length === 1;
  }

  async readClaims(keys: readonly string[]): Promise<(string | undefined)[]> {
    checkKeys(keys, 'claim key');
    if (keys.length === 0) {
      this.#ensureOpen('readClaims');
      return [];
    }
    const rows = await this.#run(
      'readClaims',
      `SELECT key, value FROM ${this.#tables.claims}
       WHERE key = ANY($1::text[]) AND (expires IS NULL OR expires > $2)`,
      [keys.map((key) => this.#key(key)), Date.now()],
    );
    const values = new Map(rows.map((row) => [row.key as string, row.value as string]));
    return keys.map((key) => values.get(this.#key(key)));
  }

  async releaseClaim(key: string, value: string): Promise<void> {
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    await this.#run('releaseClaim', `DELETE FROM ${this.#tables.claims} WHERE key = $1 AND value = $2`, [
      this.#key(key),
      value,
    ]);
  }

  async indexAdd(index: string, entries: readonly IndexEntry[]): Promise<void> {
    checkKey(index, 'index name');
    // Rows are locked in member order, so two concurrent batches cannot deadlock each other.
    const checked = checkEntries(entries).sort((a, b) => (a.member < b.member ? -1 : 1));
    if (checked.length === 0) return this.#ensureOpen('indexAdd');
    await this.#run(
      'indexAdd',
      `INSERT INTO ${this.#tables.index} (name, member, score)
       SELECT $1, member, score FROM unnest($2::text[], $3::float8[]) AS entry (member, score)
       ON CONFLICT (name, member) DO UPDATE SET score = EXCLUDED.score`,
      [this.#key(index), checked.map((entry) => entry.member), checked.map((entry) => entry.score)],
    );
  }

  async indexRemove(index: string, members: readonly string[]): Promise<void> {
    checkKey(index, 'index name');
    checkKeys(members, 'index member');
    if (members.length === 0) return this.#ensureOpen('indexRemove');
    await this.#run(
      'indexRemove',
      `DELETE FROM ${this.#tables.index} WHERE name = $1 AND member = ANY($2::text[])`,
      [this.#key(index), [...members]],
    );
  }

  async indexRange(index: string, options: IndexRangeOptions): Promise<IndexEntry[]> {
    checkKey(index, 'index name');
    const { min, max, limit } = rangeBounds(options);
    if (limit === 0) {
      this.#ensureOpen('indexRange');
      return [];
    }
    const rows = await this.#run(
      'indexRange',
      `SELECT member, score FROM ${this.#tables.index}
       WHERE name = $1 AND score >= $2::float8 AND score <= $3::float8
       ORDER BY score, member LIMIT $4`,
      [this.#key(index), min, max, limit],
    );
    return rows.map((row) => ({ member: row.member as string, score: Number(row.score) }));
  }

  async publish(message: string): Promise<void> {
    checkValue(message, 'message');
    await this.#run('publish', 'SELECT pg_notify($1, $2)', [this.#channel, message]);
  }

  subscribe(listener: (message: string) => void): () => void {
    const remove = this.#listeners.add(listener);
    this.#listen();
    return remove;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#listenTimer);
    const client = this.#listenClient;
    this.#listenClient = undefined;
    await client?.end().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_DRAIN_MS);
    });
    await Promise.race([Promise.all(this.#inFlight.keys()), late]);
    clearTimeout(timer);
    for (const fail of this.#inFlight.values()) fail(storeClosedError('postgres', 'close'));
    if (this.#ownsPool) await releasePool(this.#uri);
  }

  /** Open the listening connection unless it is open or opening; on any failure, try again later. */
  #listen(): void {
    if (this.#listenClient !== undefined || this.#listenTimer !== undefined || this.#closed) return;
    const client = new Client({ connectionString: this.#uri, keepAlive: true });
    this.#listenClient = client;
    client.on('notification', (notification) => {
      if (notification.channel === this.#channel && notification.payload !== undefined) {
        this.#listeners.emit(notification.payload);
      }
    });
    const retry = () => {
      if (this.#listenClient !== client) return;
      this.#listenClient = undefined;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#listenTimer = setTimeout(() => {
        this.#listenTimer = undefined;
        this.#listen();
      }, this.#listenRetryMs);
      this.#listenTimer.unref();
      this.#listenRetryMs = Math.min(this.#listenRetryMs * 2, 5_000);
    };
    client.on('error', retry);
    client.on('end', retry);
    client
      .connect()
      .then(() => client.query(`LISTEN "${this.#channel}"`))
      .then(() => {
        this.#listenRetryMs = LISTEN_RETRY_MS;
      })
      .catch(retry);
  }

  /**
   * Delete lapsed leases now and then (a batch at a time, found by their partial index), so the claims
   * table holds only what may still matter: notification claims lapse after 7 days. Best effort, in
   * the background: a lapsed lease counts as absent whether or not it is deleted yet.
   */
  #sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    this.#run(
      'sweep',
      // The outer condition is checked again on a row a concurrent claim just took over: kept.
      `DELETE FROM ${this.#tables.claims} WHERE expires IS NOT NULL AND expires <= $1 AND key IN (
         SELECT key FROM ${this.#tables.claims} WHERE expires IS NOT NULL AND expires <= $1 LIMIT ${SWEEP_BATCH})`,
      [now],
    ).catch(() => {});
  }

  #key(key: string): string {
    return `${this.#prefix}:${key}`;
  }

  #ensureOpen(operation: string): void {
    if (this.#closed) throw storeClosedError('postgres', operation);
  }

  async #run(operation: string, sql: string, values: unknown[]): Promise<Record<string, unknown>[]> {
    this.#ensureOpen(operation);
    let fail!: (error: unknown) => void;
    const failed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    const query = this.#query(sql, values);
    const settled = query.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.set(settled, fail);
    try {
      return await Promise.race([query, failed]);
    } catch (error) {
      throw storeError('postgres', operation, error, postgresRefusal);
    } finally {
      this.#inFlight.delete(settled);
    }
  }
}

/**
 * Schema and tables, made once per database. A simple (parameterless) query with several
 * statements runs as one transaction, and the advisory lock makes concurrent starts take turns:
 * two `CREATE … IF NOT EXISTS` racing each other can otherwise fail with a unique violation.
 */
async function createTables(query: Query, schema: string, keyvTable: string): Promise<void> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(keyvTable)) {
    throw new ValidationError({
      field: 'store',
      message: `Unusable @keyv/postgres table name ${keyvTable}.`,
    });
  }
  await query(`
    SELECT pg_advisory_xact_lock(hashtext('holdpoint:create-tables'));
    CREATE SCHEMA IF NOT EXISTS "${schema}";
    CREATE TABLE IF NOT EXISTS "${schema}"."${keyvTable}" (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE IF NOT EXISTS "${schema}".holdpoint_claims (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      expires BIGINT
    );
    CREATE TABLE IF NOT EXISTS "${schema}".holdpoint_index (
      name TEXT NOT NULL,
      member TEXT COLLATE "C" NOT NULL,
      score DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (name, member)
    );
    CREATE INDEX IF NOT EXISTS holdpoint_index_by_score ON "${schema}".holdpoint_index (name, score, member);
    CREATE INDEX IF NOT EXISTS holdpoint_claims_lapsing ON "${schema}".holdpoint_claims (expires)
      WHERE expires IS NOT NULL;
  `);
}

/**
 * NOTIFY channel of a schema and prefix: readable when it fits PostgreSQL's 63-byte identifiers,
 * hashed when not. Characters outside [a-z0-9_] become `_`; two prefixes that then collide only
 * share wake-ups, which are hints.
 */
function channelName(schema: string, prefix: string): string {
  const readable = `holdpoint_${schema}_${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (readable.length <= 63) return readable;
  return `holdpoint_${createHash('sha256').update(`${schema}\0${prefix}`).digest('hex').slice(0, 40)}`;
}
