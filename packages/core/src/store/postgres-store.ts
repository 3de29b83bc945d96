import { createHash, randomInt } from 'node:crypto';
// The real clock, even under a test's fake timers (see sleep() in store-arguments).
import { clearTimeout, setTimeout } from 'node:timers';
import { KeyvPostgres, type KeyvPostgresOptions } from '@keyv/postgres';
import Keyv from 'keyv';
import pg from 'pg';
import { ValidationError } from '../errors/validation-error.js';
import { type MergedAppend, mergeAppends, takeGroup } from './append-groups.js';
import {
  badPosition,
  type CheckedAppend,
  checkAfter,
  checkEventAppends,
  checkFeedOptions,
} from './feed-arguments.js';
import { ListenerSet } from './listener-set.js';
import { postgresRefusal } from './refusals.js';
import { StatementGroups } from './statement-groups.js';
import {
  checkEntries,
  checkKey,
  checkKeys,
  checkTtl,
  checkValue,
  rangeBounds,
  sleep,
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

/** How long a feed read waits for transactions older than it to end (see `readFeed`). */
const FEED_WAIT_MS = 1_000;
/**
 * Append statements a store runs at once; appends that come while they run are recorded together
 * by the next ({@link StatementGroups}).
 */
const APPEND_STATEMENTS = 2;
/** Appends recorded by one statement at most. */
const APPEND_GROUP = 32;
/** Record reads a store runs at once, and reads answered by one statement at most (`readRecords`). */
const READ_STATEMENTS = 2;
const READ_GROUP = 64;
/** Rows per task counter (`appendEvent`): a count is the sum of its rows. */
const COUNTER_SLOTS = 16;
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

/**
 * Every statement of this store finds its rows by key: a few rows out of tables that grow without
 * bound. A prepared statement's plan is made once per connection, so a plan made while a table was
 * small (a hash join over a scan of the whole table) would be kept as the table grows: an append
 * (which removes list entries by joining the given names and members to the index table) scanned
 * every list entry of the store, and its cost grew with the number of tasks (651, 403, then 281
 * appends a second over three runs of 4,000 on a new schema, `bench/postgres-appends.ts`). Without
 * hash and merge joins a join is a nested loop over the key's index whatever the table's size at
 * planning time. Set for each connection of the pool as it opens (the startup message's `options`),
 * ahead of the `options` parameter of the store's URL, if it has one (so the URL's win).
 */
const planSettings = '-c enable_hashjoin=off -c enable_mergejoin=off';

/**
 * The pool's connection string and startup `options`: pg lets a URL's `options` parameter replace
 * the config's, so that parameter is taken out of the URL and put after {@link planSettings}.
 */
function connectionOf(uri: string): { connectionString: string; options: string } {
  try {
    const url = new URL(uri);
    const own = url.searchParams.get('options');
    if (own !== null) {
      url.searchParams.delete('options');
      return { connectionString: url.toString(), options: `${planSettings} ${own}` };
    }
  } catch {
    // Not a URL (pg also takes a socket path): no parameter to move.
  }
  return { connectionString: uri, options: planSettings };
}

function acquirePool(uri: string): pg.Pool {
  let shared = pools.get(uri);
  if (shared === undefined) {
    const pool = new pg.Pool({
      ...connectionOf(uri),
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
  readonly #tables: {
    claims: string;
    index: string;
    feed: string;
    feedAssignees: string;
    counters: string;
    records: string;
  };
  readonly #channel: string;
  readonly #listeners = new ListenerSet();
  #listenClient: Client | undefined;
  #listenRetryMs = LISTEN_RETRY_MS;
  #listenTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The clock lease expiry is compared with ({@link useClock}). */
  #now: () => number = Date.now;
  #lastSweep = 0;
  /**
   * Queries in flight, with the means to fail them: `pg.Pool.end()` never answers requests still
   * queued for a connection, so close() waits for them, and fails those the server never answers.
   */
  readonly #inFlight = new Map<Promise<unknown>, (error: unknown) => void>();
  /** Appends waiting for a statement ({@link appendEvents}): groups of appends that share no row. */
  readonly #appends = new StatementGroups<QueuedAppend>({
    statements: APPEND_STATEMENTS,
    take: (queue) => takeGroup(queue, APPEND_GROUP),
    run: (group) => this.#recordGroup(group),
  });
  /** Record reads waiting for a statement ({@link readRecords}). */
  readonly #reads = new StatementGroups<QueuedRead>({
    statements: READ_STATEMENTS,
    take: (queue) => queue.splice(0, READ_GROUP),
    run: (group) => this.#readGroup(group),
  });

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
      feed: `"${options.schema}".holdpoint_feed`,
      feedAssignees: `"${options.schema}".holdpoint_feed_assignees`,
      counters: `"${options.schema}".holdpoint_counters`,
      records: `"${options.schema}".holdpoint_records`,
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
    const query: Query = async (sql, values) =>
      (values === undefined ? await pool.query(sql) : await pool.query(preparedQuery(sql, values))).rows;
    try {
      await createTables(query, schema, 'keyv');
      await createFeedTables(query, schema);
      await createRecordTable(query, schema);
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
      await createFeedTables(query, schema);
      await createRecordTable(query, schema);
    } catch (error) {
      throw storeError('postgres', 'connect', error, postgresRefusal);
    }
    return new PostgresStore({ query, uri, schema, prefix, keyv, ownsPool: false });
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    const now = this.#now();
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
      [keys.map((key) => this.#key(key)), this.#now()],
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
    const after = checkAfter(options.after);
    if (limit === 0) {
      this.#ensureOpen('indexRange');
      return [];
    }
    if (after !== undefined) {
      const rows = await this.#run(
        'indexRange',
        `SELECT member, score FROM ${this.#tables.index}
         WHERE name = $1 AND score >= $2::float8 AND score <= $3::float8
           AND (score, member) > ($4::float8, $5::text COLLATE "C")
         ORDER BY score, member LIMIT $6`,
        [this.#key(index), min, max, after.score, after.member, limit],
      );
      return rows.map((row) => ({ member: row.member as string, score: Number(row.score) }));
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

  // -------------------------------------------------------------------------------------------
  // Feed, list indexes and counters (appendEvent and what reads it)

  async appendEvent(key: string, value: string, feed: FeedRecord, writes?: EventWrites): Promise<boolean> {
    return this.appendEvents([{ key, value, feed }], writes);
  }

  /**
   * Queued, and recorded by one statement with the appends queued beside it ({@link StatementGroups};
   * `bench/postgres-appends.ts`): each call still answers for its own events alone.
   */
  async appendEvents(
    events: readonly EventAppend[],
    writes?: EventWrites,
    claims?: readonly EventClaim[],
  ): Promise<boolean> {
    const append = checkEventAppends(events, writes, claims);
    this.#ensureOpen('appendEvent');
    return new Promise<boolean>((resolve, reject) => this.#appends.add({ append, resolve, reject }));
  }

  /**
   * One statement for the group, all or nothing. When it records nothing (one of them lost a claim)
   * or the server refused it (so it rolled back), each append is tried alone to find its own answer.
   * A failure that may have left the commit's outcome unknown (the connection dropped) is each one's.
   */
  async #recordGroup(group: QueuedAppend[]): Promise<void> {
    const [first] = group;
    if (group.length === 1 && first !== undefined) {
      await this.#appendStatement(mergeAppends([first.append])).then(first.resolve, first.reject);
      return;
    }
    try {
      if (await this.#appendStatement(mergeAppends(group.map((queued) => queued.append)))) {
        for (const queued of group) queued.resolve(true);
        return;
      }
    } catch (error) {
      if (!refusedByServer(error)) {
        for (const queued of group) queued.reject(error);
        return;
      }
    }
    await Promise.all(
      group.map((queued) =>
        this.#appendStatement(mergeAppends([queued.append])).then(queued.resolve, queued.reject),
      ),
    );
  }

  /**
   * The statement that records appends ({@link MergedAppend}); false when it recorded nothing.
   * One statement, so one transaction: the claims (`held`), the events' keys only when every claim
   * won (`claimed`), and — only when every key won (every other part reads from `won`) — the feed
   * rows, their assignees, the index entries, the counters, the records and the wake-up
   * (`pg_notify`; a plain SELECT in a WITH runs only when the statement reads it). A held
   * idempotency key — an agent's retry — thus writes nothing and answers false. When some keys win
   * and others do not (two claims, or two events' keys, of which one is held), the statement divides
   * by zero (by a value, not a constant the planner would fold): the error rolls back the keys it
   * took, and the call answers false as when none won. Keys are claimed in key order, claims before
   * events, so two calls that share keys cannot deadlock.
   */
  async #appendStatement(checked: MergedAppend): Promise<boolean> {
    const normalized = checked.writes;
    const { claims: claimTable, feed: feedTable, feedAssignees, index, counters, records } = this.#tables;
    const assignees = checked.events.flatMap(({ feed }) =>
      feed.assignees.map((assignee) => ({ assignee, intentId: feed.intentId, seq: feed.seq })),
    );
    let rows: Record<string, unknown>[];
    try {
      rows = await this.#run(
        'appendEvent',
        `WITH held AS (
           INSERT INTO ${claimTable} AS claim (key, value, expires)
           SELECT entry.key, entry.value, NULL FROM unnest($23::text[], $24::text[]) AS entry (key, value)
           ORDER BY entry.key
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires = NULL
           WHERE claim.expires IS NOT NULL AND claim.expires <= $3
           RETURNING key
         ), claimed AS (
           INSERT INTO ${claimTable} AS claim (key, value, expires)
           SELECT entry.key, entry.value, NULL FROM unnest($1::text[], $2::text[]) AS entry (key, value)
           WHERE (SELECT count(*) FROM held) = cardinality($23::text[])
           ORDER BY entry.key
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires = NULL
           WHERE claim.expires IS NOT NULL AND claim.expires <= $3
           RETURNING key
         ), won AS (
           SELECT count(*) = cardinality($1::text[]) AS every,
             count(*) + (SELECT count(*) FROM held) AS some
           FROM claimed
         ), fed AS (
           INSERT INTO ${feedTable} (prefix, intent_id, seq, task_id)
           SELECT $4::text, entry.intent_id, entry.seq, entry.task_id
           FROM won, unnest($5::text[], $6::int[], $7::text[]) WITH ORDINALITY AS entry (intent_id, seq, task_id, n)
           WHERE won.every ORDER BY entry.n
           RETURNING xid, position, intent_id, seq
         ), assigned AS (
           INSERT INTO ${feedAssignees} (prefix, assignee, xid, position)
           SELECT $4::text, entry.assignee, fed.xid, fed.position
           FROM fed JOIN unnest($8::text[], $9::text[], $10::int[]) AS entry (assignee, intent_id, seq)
             ON entry.intent_id = fed.intent_id AND entry.seq = fed.seq
         ), added AS (
           INSERT INTO ${index} (name, member, score)
           SELECT entry.name, entry.member, entry.score
           FROM won, unnest($11::text[], $12::text[], $13::float8[]) AS entry (name, member, score)
           WHERE won.every
           ON CONFLICT (name, member) DO UPDATE SET score = EXCLUDED.score
         ), removed AS (
           DELETE FROM ${index} AS existing USING won, unnest($14::text[], $15::text[]) AS entry (name, member)
           WHERE existing.name = entry.name AND existing.member = entry.member AND won.every
         ), counted AS (
           INSERT INTO ${counters} AS counter (name, slot, value)
           SELECT entry.name, $18::smallint, entry.delta
           FROM won, unnest($16::text[], $17::bigint[]) AS entry (name, delta)
           WHERE won.every
           ON CONFLICT (name, slot) DO UPDATE SET value = counter.value + EXCLUDED.value
         ), recorded AS (
           INSERT INTO ${records} (name, value)
           SELECT entry.name, entry.value FROM won, unnest($19::text[], $20::text[]) AS entry (name, value)
           WHERE won.every
           ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
         ), released AS (
           -- By key (= ANY: an index scan, never a scan of the claims), each only while it holds its value.
           DELETE FROM ${claimTable} AS lease
           WHERE lease.key = ANY($25::text[])
             AND lease.value = ($26::text[])[array_position($25::text[], lease.key)]
             AND (SELECT every FROM won)
         ), notified AS (
           SELECT pg_notify($21, message) FROM won, unnest($22::text[]) AS message WHERE won.every
         )
         SELECT CASE WHEN won.every THEN 1 WHEN won.some = 0 THEN 0 ELSE 1 / won.every::int END AS won,
           (SELECT count(*)::int FROM notified) AS notified
         FROM won`,
        [
          checked.events.map(({ key }) => this.#key(key)),
          checked.events.map(({ value }) => value),
          this.#now(),
          this.#prefix,
          checked.events.map(({ feed }) => feed.intentId),
          checked.events.map(({ feed }) => feed.seq),
          checked.events.map(({ feed }) => feed.taskId ?? null),
          assignees.map((entry) => entry.assignee),
          assignees.map((entry) => entry.intentId),
          assignees.map((entry) => entry.seq),
          normalized.indexAdd.map((entry) => this.#key(entry.index)),
          normalized.indexAdd.map((entry) => entry.member),
          normalized.indexAdd.map((entry) => entry.score),
          normalized.indexRemove.map((entry) => this.#key(entry.index)),
          normalized.indexRemove.map((entry) => entry.member),
          normalized.counters.map((entry) => this.#key(entry.counter)),
          normalized.counters.map((entry) => entry.delta),
          // One of several rows per counter, so concurrent appends do not queue on one row lock
          // until commit; rows are taken in name order, so two appends cannot deadlock.
          randomInt(COUNTER_SLOTS),
          normalized.records.map((entry) => this.#key(entry.key)),
          normalized.records.map((entry) => entry.value),
          // NOTIFY is transactional: the wake-up goes out when the event commits, never without it.
          this.#channel,
          checked.messages,
          checked.claims.map(({ key }) => this.#key(key)),
          checked.claims.map(({ value }) => value),
          normalized.releaseClaims.map(({ key }) => this.#key(key)),
          normalized.releaseClaims.map(({ value }) => value),
        ],
      );
    } catch (error) {
      // Some keys won and some were held: the statement's division by zero rolled it all back.
      if ((error as { cause?: { code?: unknown } }).cause?.code === '22012') return false;
      throw error;
    }
    return Number(rows[0]?.won) === 1;
  }

  /**
   * Feed rows ordered by (writing transaction id, position), only those of transactions older than
   * every transaction still running (`pg_snapshot_xmin`): a transaction that commits later has a
   * transaction id at least that large, so it can never land behind a page already read. Positions
   * alone (a sequence) could: a sequence value is taken at insert, not at commit.
   */
  async readFeed(options: FeedReadOptions): Promise<FeedEntryRef[]> {
    const { limit, intentId, taskId, assignee } = checkFeedOptions(options);
    const [xid, position] = postgresPosition(options.after);
    if (limit === 0) {
      this.#ensureOpen('readFeed');
      return [];
    }
    await this.#awaitOlderTransactions('readFeed');
    const { feed, feedAssignees } = this.#tables;
    let rows: Record<string, unknown>[];
    if (assignee !== undefined && intentId === undefined && taskId === undefined) {
      rows = await this.#run(
        'readFeed',
        `SELECT assigned.xid::text AS xid, assigned.position, entry.intent_id, entry.seq
         FROM ${feedAssignees} AS assigned JOIN ${feed} AS entry ON entry.position = assigned.position
         WHERE assigned.prefix = $1 AND assigned.assignee = $2
           AND (assigned.xid, assigned.position) > ($3::xid8, $4::bigint)
           AND assigned.xid < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY assigned.xid, assigned.position LIMIT $5`,
        [this.#prefix, assignee, xid, position, limit],
      );
    } else {
      const values: unknown[] = [this.#prefix, xid, position, limit];
      const conditions: string[] = [];
      if (intentId !== undefined) {
        values.push(intentId);
        conditions.push(`entry.intent_id = $${values.length}`);
      }
      if (taskId !== undefined) {
        values.push(taskId);
        conditions.push(`entry.task_id = $${values.length}`);
      }
      if (assignee !== undefined) {
        values.push(assignee);
        // A subquery per entry (LIMIT keeps PostgreSQL from turning it into a join), so that each
        // looks up one key of the assignees' index. As an EXISTS, a generic plan made on small tables
        // joined each of the intent's entries to a scan of every entry of the assignee.
        conditions.push(
          `(SELECT 1 FROM ${feedAssignees} AS assigned WHERE assigned.prefix = entry.prefix
           AND assigned.assignee = $${values.length} AND assigned.xid = entry.xid
           AND assigned.position = entry.position LIMIT 1) IS NOT NULL`,
        );
      }
      rows = await this.#run(
        'readFeed',
        `SELECT entry.xid::text AS xid, entry.position, entry.intent_id, entry.seq FROM ${feed} AS entry
         WHERE entry.prefix = $1 AND (entry.xid, entry.position) > ($2::xid8, $3::bigint)
           AND entry.xid < pg_snapshot_xmin(pg_current_snapshot())
           ${conditions.map((condition) => `AND ${condition}`).join(' ')}
         ORDER BY entry.xid, entry.position LIMIT $4`,
        values,
      );
    }
    return rows.map((row) => ({
      position: `${String(row.xid)}.${String(row.position)}`,
      intentId: row.intent_id as string,
      seq: Number(row.seq),
    }));
  }

  async feedHead(): Promise<string> {
    await this.#awaitOlderTransactions('feedHead');
    const rows = await this.#run(
      'feedHead',
      `SELECT xid::text AS xid, position FROM ${this.#tables.feed}
       WHERE prefix = $1 AND xid < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY xid DESC, position DESC LIMIT 1`,
      [this.#prefix],
    );
    const row = rows[0];
    return row === undefined ? '0.0' : `${String(row.xid)}.${String(row.position)}`;
  }

  /**
   * Wait (up to {@link FEED_WAIT_MS}) until every transaction that had begun writing when this call
   * started has ended, so a feed read includes every event recorded before it — by this process or
   * another — as on the other stores. A transaction open longer than that (elsewhere on the server)
   * only delays its own and later entries: the read returns what is final, never skipping any.
   */
  async #awaitOlderTransactions(operation: string): Promise<void> {
    const [snapshot] = await this.#run(
      operation,
      `SELECT pg_snapshot_xmin(now) >= pg_snapshot_xmax(now) AS settled, pg_snapshot_xmax(now)::text AS xmax
       FROM pg_current_snapshot() AS now`,
      [],
    );
    if (snapshot === undefined || snapshot.settled === true) return;
    const started = performance.now();
    while (performance.now() - started < FEED_WAIT_MS) {
      await sleep(2);
      const [now] = await this.#run(
        operation,
        'SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS settled',
        [snapshot.xmax],
      );
      if (now?.settled === true) return;
    }
  }

  async readCounters(counters: readonly string[]): Promise<number[]> {
    checkKeys(counters, 'counter name');
    if (counters.length === 0) {
      this.#ensureOpen('readCounters');
      return [];
    }
    const rows = await this.#run(
      'readCounters',
      `SELECT name, sum(value) AS value FROM ${this.#tables.counters} WHERE name = ANY($1::text[]) GROUP BY name`,
      [counters.map((counter) => this.#key(counter))],
    );
    const values = new Map(rows.map((row) => [row.name as string, Number(row.value)]));
    return counters.map((counter) => values.get(this.#key(counter)) ?? 0);
  }

  /**
   * Queued like the appends: reads that come while {@link READ_STATEMENTS} run go together in the
   * next statement (a busy timer engine reads one intent per firing). One statement is one snapshot,
   * so each call still sees the records of one event all or none.
   */
  async readRecords(keys: readonly string[]): Promise<(string | undefined)[]> {
    checkKeys(keys, 'record key');
    this.#ensureOpen('readRecords');
    if (keys.length === 0) return [];
    return new Promise((resolve, reject) => this.#reads.add({ keys, resolve, reject }));
  }

  async #readGroup(group: QueuedRead[]): Promise<void> {
    try {
      const keys = [...new Set(group.flatMap((read) => read.keys.map((key) => this.#key(key))))];
      const rows = await this.#run(
        'readRecords',
        `SELECT name, value FROM ${this.#tables.records} WHERE name = ANY($1::text[])`,
        [keys],
      );
      const values = new Map(rows.map((row) => [row.name as string, row.value as string]));
      for (const read of group) read.resolve(read.keys.map((key) => values.get(this.#key(key))));
    } catch (error) {
      for (const read of group) read.reject(error);
    }
  }

  async readClock(): Promise<number> {
    const rows = await this.#run(
      'readClock',
      'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
      [],
    );
    return Math.floor(Number(rows[0]?.now));
  }

  useClock(now: () => number): void {
    this.#now = now;
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

/** An append waiting to be recorded, and its caller's answer. */
interface QueuedAppend {
  append: CheckedAppend;
  resolve: (won: boolean) => void;
  reject: (error: unknown) => void;
}

/** A record read waiting for a statement, and its caller's answer. */
interface QueuedRead {
  keys: readonly string[];
  resolve: (values: (string | undefined)[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Whether a failed statement was refused by the server (an SQLSTATE came back): then it rolled back,
 * since every statement of this store is its own transaction. A dropped connection leaves no such
 * code, and whether the commit happened is not known.
 */
function refusedByServer(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** The name each statement text is prepared under (see {@link preparedQuery}). */
const statementNames = new Map<string, string>();

/**
 * A statement with parameters, named: each pooled connection parses and plans it once and then only
 * binds and runs it (an append is one large statement of data-modifying CTEs: prepared, a gate's
 * lifecycle ran 1.2× as fast, bench/RESULTS.md). The name is a digest of the text, so the same text
 * has the same name on every connection and different texts (other schemas) never share one.
 */
function preparedQuery(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `holdpoint_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

/**
 * Opens a DO block whose statements run only when one of `relations` is missing (close it with
 * `END IF; END $holdpoint$;`). Once the tables exist, a start takes no table lock at all:
 * `CREATE INDEX IF NOT EXISTS` locks its table even when the index is there, and with engines
 * already writing (a claim, then index rows, in one transaction) that lock order deadlocks.
 */
function unlessPresent(relations: readonly string[]): string {
  const missing = relations
    .map((name) => `to_regclass('${name.replaceAll("'", "''")}') IS NULL`)
    .join(' OR ');
  return `DO $holdpoint$ BEGIN IF ${missing} THEN`;
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
    ${unlessPresent([`"${schema}"."${keyvTable}"`, `"${schema}".holdpoint_claims_lapsing`])}
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
    END IF; END $holdpoint$;
  `);
}

/**
 * The feed's tables (see {@link PostgresStore.readFeed} for why rows carry their transaction id),
 * and the counters of `appendEvent`. Separate from {@link createTables}, under the same lock.
 */
async function createFeedTables(query: Query, schema: string): Promise<void> {
  await query(`
    SELECT pg_advisory_xact_lock(hashtext('holdpoint:create-tables'));
    ${unlessPresent([`"${schema}".holdpoint_counters`])}
    CREATE TABLE IF NOT EXISTS "${schema}".holdpoint_feed (
      position BIGSERIAL PRIMARY KEY,
      xid XID8 NOT NULL DEFAULT pg_current_xact_id(),
      prefix TEXT NOT NULL,
      intent_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      task_id TEXT
    );
    CREATE INDEX IF NOT EXISTS holdpoint_feed_by_prefix ON "${schema}".holdpoint_feed (prefix, xid, position);
    CREATE INDEX IF NOT EXISTS holdpoint_feed_by_intent ON "${schema}".holdpoint_feed (prefix, intent_id, xid, position);
    CREATE INDEX IF NOT EXISTS holdpoint_feed_by_task ON "${schema}".holdpoint_feed (prefix, task_id, xid, position);
    CREATE TABLE IF NOT EXISTS "${schema}".holdpoint_feed_assignees (
      prefix TEXT NOT NULL,
      assignee TEXT NOT NULL,
      xid XID8 NOT NULL,
      position BIGINT NOT NULL,
      PRIMARY KEY (prefix, assignee, xid, position)
    );
    CREATE TABLE IF NOT EXISTS "${schema}".holdpoint_counters (
      name TEXT NOT NULL,
      slot SMALLINT NOT NULL,
      value BIGINT NOT NULL,
      PRIMARY KEY (name, slot)
    );
    END IF; END $holdpoint$;
  `);
}

/**
 * The records `appendEvent` keeps with the chain (an intent's header, its tasks, its task ids):
 * added after the feed's tables, so a database made before them gets this one too.
 */
async function createRecordTable(query: Query, schema: string): Promise<void> {
  await query(`
    SELECT pg_advisory_xact_lock(hashtext('holdpoint:create-tables'));
    ${unlessPresent([`"${schema}".holdpoint_records`])}
    CREATE TABLE IF NOT EXISTS "${schema}".holdpoint_records (
      name TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
    END IF; END $holdpoint$;
  `);
}

/**
 * A feed position of this store, `<transaction id>.<position>`, as its two parts. `0` (the start
 * cursor of an engine that read an empty feed, on every store) and `0.0` are the start.
 */
function postgresPosition(position: string | undefined): [string, string] {
  if (position === undefined || position === '0') return ['0', '0'];
  const match = typeof position === 'string' ? /^(0|[1-9]\d{0,19})\.(0|[1-9]\d{0,18})$/.exec(position) : null;
  // Within xid8 and bigint, or PostgreSQL would refuse the number as if the store had failed.
  if (!match || BigInt(match[1] as string) >= 2n ** 64n || BigInt(match[2] as string) >= 2n ** 63n)
    throw badPosition('postgres', position);
  return [match[1] as string, match[2] as string];
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
