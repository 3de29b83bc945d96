// The real clock, even under a test's fake timers (see sleep() in store-arguments).
import { clearTimeout, setTimeout } from 'node:timers';
import KeyvRedis, { createClient, type RedisClientType } from '@keyv/redis';
import Keyv from 'keyv';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { checkAfter, checkEventAppends, checkFeedOptions, integerPosition } from './feed-arguments.js';
import { ListenerSet } from './listener-set.js';
import { redisRefusal } from './refusals.js';
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

/**
 * A first connection (TCP and handshake) that takes longer than this fails: an unreachable or
 * silent server is reported, not waited for.
 */
const CONNECT_TIMEOUT_MS = 3_000;
/** A command without a reply after this long fails (a server that stopped answering but kept the socket). */
const COMMAND_TIMEOUT_MS = 5_000;
/** `close()` waits this long for pending replies before dropping the connection. */
const CLOSE_TIMEOUT_MS = 2_000;

/** Deletes a claim only while it still holds the caller's value, in one atomic step. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * `appendEvents` in one atomic step: the claims (every key free, else nothing is written), the feed
 * positions (`INCR`, one per event, in order) and the feed's sorted sets (scored by position), list
 * index entries, counters, records, the leases to release (each only while it holds its value) and
 * the wake-up message (PUBLISH, sent once the script has run).
 * Redis runs a script alone, so positions become readable in the order they are taken. ARGV[1] is
 * a JSON plan with every key already prefixed, ARGV[2…] the claims' values in the plan's order;
 * scores travel as strings so that no precision is lost in Lua. A lapsed lease is an expired key,
 * so it does not count as held.
 */
const APPEND_EVENTS_SCRIPT = `
local plan = cjson.decode(ARGV[1])
for _, key in ipairs(plan.claims) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for i, key in ipairs(plan.claims) do redis.call('SET', key, ARGV[i + 1]) end
local position = 0
for _, event in ipairs(plan.events) do
  position = redis.call('INCR', plan.sequence)
  for _, key in ipairs(event.feeds) do redis.call('ZADD', key, position, event.member) end
end
for _, entry in ipairs(plan.add) do redis.call('ZADD', entry[1], entry[3], entry[2]) end
for _, entry in ipairs(plan.remove) do redis.call('ZREM', entry[1], entry[2]) end
for _, entry in ipairs(plan.counters) do redis.call('HINCRBY', plan.counterHash, entry[1], entry[2]) end
for _, entry in ipairs(plan.records) do redis.call('SET', entry[1], entry[2]) end
for _, entry in ipairs(plan.release) do
  if redis.call('GET', entry[1]) == entry[2] then redis.call('DEL', entry[1]) end
end
if plan.channel then redis.call('PUBLISH', plan.channel, plan.message) end
return position
`;

/**
 * A page of the feed: members of the chosen sorted set after position ARGV[1], those passing the
 * other filters (ARGV[3], a member prefix for the intent; ARGV[4], an assignee's set holding the
 * member), at most ARGV[2]. Reads on in chunks while filters drop entries.
 */
const READ_FEED_SCRIPT = `
local key, limit, intentPrefix, assigneeKey = KEYS[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local from = '(' .. ARGV[1]
local out = {}
while true do
  local chunk = redis.call('ZRANGE', key, from, '+inf', 'BYSCORE', 'LIMIT', 0, limit, 'WITHSCORES')
  for i = 1, #chunk, 2 do
    local member = chunk[i]
    from = '(' .. chunk[i + 1]
    if (intentPrefix == '' or string.sub(member, 1, #intentPrefix) == intentPrefix)
      and (assigneeKey == '' or redis.call('ZSCORE', assigneeKey, member)) then
      out[#out + 1] = member
      out[#out + 1] = chunk[i + 1]
      if #out >= 2 * limit then return out end
    end
  end
  if #chunk < 2 * limit then return out end
end
`;

/**
 * A keyset page of an index: the entries after (ARGV[1] score, ARGV[2] member), with
 * ARGV[3] ≤ score ≤ ARGV[4], at most ARGV[5]. Redis ranges by score or by rank, not by (score,
 * member): a sentinel member, ARGV[2] followed by a NUL byte, is added at the cursor's score to find
 * the rank, then removed. No member holds a NUL (the store refuses them), and bytewise every member
 * greater than ARGV[2] is greater than the sentinel and every other member smaller, so the entries
 * after the sentinel are exactly those after the cursor — whether or not the cursor's member is
 * still in the index, or scored otherwise now.
 */
const INDEX_AFTER_SCRIPT = `
local key = KEYS[1]
local sentinel = ARGV[2] .. string.char(0)
redis.call('ZADD', key, ARGV[1], sentinel)
local rank = redis.call('ZRANK', key, sentinel)
redis.call('ZREM', key, sentinel)
local start = rank
if ARGV[3] ~= '-inf' then start = math.max(rank, redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[3])) end
local limit = tonumber(ARGV[5])
local rows = redis.call('ZRANGE', key, start, start + limit - 1, 'WITHSCORES')
local out = {}
for i = 1, #rows, 2 do
  if ARGV[4] ~= '+inf' and tonumber(rows[i + 1]) > tonumber(ARGV[4]) then break end
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
end
return out
`;

type RedisClient = RedisClientType;

/** Reconnect soon, then every second: a returning server is found within about a second. */
function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 1_000);
}

/**
 * A store on a Redis server (or Valkey), for engines on several machines. One connection serves
 * Keyv (`@keyv/redis`, records under `PREFIX::`) and the backend's own keys: claims are
 * `SET PREFIX:claim:KEY value NX [PX ttl]`, indexes are sorted sets `PREFIX:index:NAME`, wake-ups
 * are `PUBLISH PREFIX:wake` received on a second connection opened at the first `subscribe`.
 *
 * While the server is away, calls fail at once with {@link StoreUnavailableError} (the client's
 * offline queue is off, so nothing is sent late), and the connection is retried about every second;
 * once the server is back the same backend works again.
 *
 * Durability is Redis's: with the default RDB snapshots a crash loses the writes since the last
 * snapshot. Run Redis with `appendonly yes` (`appendfsync everysec` or `always`) for Holdpoint.
 */
export class RedisStore implements StoreBackend {
  readonly kind = 'redis';
  readonly keyv: Keyv;
  readonly #client: RedisClient;
  /** Whether close() ends the client: not when it came with a Keyv passed in. */
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #listeners = new ListenerSet();
  #subscriber: RedisClient | undefined;
  /** The subscriber's connection attempt: node-redis leaves the socket open if it is destroyed mid-way. */
  #subscriberConnecting: Promise<unknown> | undefined;
  #closed = false;

  private constructor(options: { client: RedisClient; keyv: Keyv; ownsClient: boolean; prefix: string }) {
    this.#client = options.client;
    this.keyv = options.keyv;
    this.#ownsClient = options.ownsClient;
    this.#prefix = options.prefix;
  }

  /**
   * Connect to `url` (`redis://host:port/db`, `rediss://…`).
   * @throws {StoreUnavailableError} when the server cannot be reached within a few seconds.
   */
  static async connect(options: { url: string; prefix: string }): Promise<RedisStore> {
    let connected = false;
    let client: RedisClient;
    try {
      client = createClient({
        url: options.url,
        // Commands sent while disconnected fail at once instead of waiting in a queue, to run
        // minutes later after the caller was told they failed.
        disableOfflineQueue: true,
        commandOptions: { timeout: COMMAND_TIMEOUT_MS },
        socket: {
          connectTimeout: CONNECT_TIMEOUT_MS,
          // Never reached: report it. Reached once: keep trying while the server is away.
          reconnectStrategy: (retries: number, cause: Error) => (connected ? reconnectDelay(retries) : cause),
        },
      }) as RedisClient;
    } catch (error) {
      throw new ValidationError({
        field: 'store',
        message: `The Redis URL is not valid (${error instanceof Error ? error.message : String(error)}); use e.g. redis://127.0.0.1:6379/0.`,
        cause: error,
      });
    }
    // Failures reach the calls that fail; without a listener an 'error' event would crash the process.
    client.on('error', () => {});
    client.on('ready', () => {
      connected = true;
    });
    try {
      await withinTimeout(client.connect(), CONNECT_TIMEOUT_MS, 'no answer from the server');
    } catch (error) {
      if (client.isOpen) client.destroy();
      throw storeError('redis', 'connect', error, redisRefusal);
    }
    const adapter = new KeyvRedis(client, {
      namespace: options.prefix,
      throwOnErrors: true,
      throwOnConnectError: true,
    });
    // @keyv/redis prefixes keys itself (`PREFIX::key`); Keyv's own prefix would double it.
    const keyv = new Keyv({
      store: adapter,
      namespace: options.prefix,
      useKeyPrefix: false,
      throwOnErrors: true,
    });
    keyv.on('error', () => {});
    return new RedisStore({ client, keyv, ownsClient: true, prefix: options.prefix });
  }

  /**
   * A backend on the client of a Keyv whose store is `@keyv/redis`. The client stays the Keyv's:
   * `close()` leaves it open. Turn its offline queue off (`disableOfflineQueue: true`) so calls
   * fail at once while the server is away rather than wait.
   */
  static async fromKeyv(keyv: Keyv, prefix: string): Promise<RedisStore> {
    const adapter = keyv.store as KeyvRedis<unknown>;
    if (adapter.isCluster() || adapter.isSentinel()) {
      throw new ValidationError({
        field: 'store',
        message:
          'Holdpoint supports @keyv/redis over a single Redis client, not a cluster or sentinel client.',
      });
    }
    try {
      const client = (await adapter.getClient()) as RedisClient;
      return new RedisStore({ client, keyv, ownsClient: false, prefix });
    } catch (error) {
      throw new StoreUnavailableError({ store: 'redis', operation: 'connect', cause: error });
    }
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    const reply = await this.#run('claim', (client) =>
      client.set(
        this.#claimKey(key),
        value,
        ttl === undefined ? { condition: 'NX' } : { condition: 'NX', expiration: { type: 'PX', value: ttl } },
      ),
    );
    return reply !== null;
  }

  async readClaims(keys: readonly string[]): Promise<(string | undefined)[]> {
    checkKeys(keys, 'claim key');
    if (keys.length === 0) {
      this.#ensureOpen('readClaims');
      return [];
    }
    const values = await this.#run('readClaims', (client) =>
      client.mGet(keys.map((key) => this.#claimKey(key))),
    );
    return values.map((value) => value ?? undefined);
  }

  async releaseClaim(key: string, value: string): Promise<void> {
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    await this.#run('releaseClaim', (client) =>
      client.eval(RELEASE_SCRIPT, { keys: [this.#claimKey(key)], arguments: [value] }),
    );
  }

  async indexAdd(index: string, entries: readonly IndexEntry[]): Promise<void> {
    checkKey(index, 'index name');
    const checked = checkEntries(entries);
    if (checked.length === 0) return this.#ensureOpen('indexAdd');
    await this.#run('indexAdd', (client) =>
      client.zAdd(
        this.#indexKey(index),
        checked.map((entry) => ({ score: entry.score, value: entry.member })),
      ),
    );
  }

  async indexRemove(index: string, members: readonly string[]): Promise<void> {
    checkKey(index, 'index name');
    checkKeys(members, 'index member');
    if (members.length === 0) return this.#ensureOpen('indexRemove');
    await this.#run('indexRemove', (client) => client.zRem(this.#indexKey(index), [...members]));
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
      const reply = await this.#run('indexRange', (client) =>
        client.eval(INDEX_AFTER_SCRIPT, {
          keys: [this.#indexKey(index)],
          arguments: [
            scoreText(after.score),
            after.member,
            String(bound(min)),
            String(bound(max)),
            String(limit),
          ],
        }),
      );
      return pairs(reply).map(([member, score]) => ({ member, score: Number(score) }));
    }
    // Redis orders equal scores by member, byte by byte, as the interface asks.
    const rows = await this.#run('indexRange', (client) =>
      client.zRangeWithScores(this.#indexKey(index), bound(min), bound(max), {
        BY: 'SCORE',
        LIMIT: { offset: 0, count: limit },
      }),
    );
    return rows.map((row) => ({ member: String(row.value), score: Number(row.score) }));
  }

  // -------------------------------------------------------------------------------------------
  // Feed, list indexes and counters (appendEvent and what reads it)

  async appendEvent(key: string, value: string, feed: FeedRecord, writes?: EventWrites): Promise<boolean> {
    return this.appendEvents([{ key, value, feed }], writes);
  }

  async appendEvents(events: readonly EventAppend[], writes?: EventWrites, claims?: readonly EventClaim[]) {
    const checked = checkEventAppends(events, writes, claims);
    const normalized = checked.writes;
    const taken = [...checked.events, ...checked.claims];
    const plan = {
      claims: taken.map(({ key }) => this.#claimKey(key)),
      sequence: this.#feedKey('position'),
      events: checked.events.map(({ feed: record }) => ({
        member: `${record.intentId}:${record.seq}`,
        feeds: [
          this.#feedKey('all'),
          this.#feedKey(`intent:${record.intentId}`),
          ...(record.taskId === undefined ? [] : [this.#feedKey(`task:${record.taskId}`)]),
          ...record.assignees.map((assignee) => this.#feedKey(`assignee:${assignee}`)),
        ],
      })),
      add: normalized.indexAdd.map((entry) => [
        this.#indexKey(entry.index),
        entry.member,
        scoreText(entry.score),
      ]),
      remove: normalized.indexRemove.map((entry) => [this.#indexKey(entry.index), entry.member]),
      counterHash: `${this.#prefix}:counters`,
      counters: normalized.counters.map((entry) => [entry.counter, String(entry.delta)]),
      records: normalized.records.map((entry) => [this.#recordKey(entry.key), entry.value]),
      release: normalized.releaseClaims.map((entry) => [this.#claimKey(entry.key), entry.value]),
      ...(normalized.message === undefined ? {} : { channel: this.#channel(), message: normalized.message }),
    };
    const reply = await this.#run('appendEvent', (client) =>
      client.eval(APPEND_EVENTS_SCRIPT, {
        keys: [],
        arguments: [JSON.stringify(plan), ...taken.map(({ value }) => value)],
      }),
    );
    return Number(reply) > 0;
  }

  async readFeed(options: FeedReadOptions): Promise<FeedEntryRef[]> {
    const { limit, intentId, taskId, assignee } = checkFeedOptions(options);
    const after = integerPosition('redis', options.after);
    if (limit === 0) {
      this.#ensureOpen('readFeed');
      return [];
    }
    // The most selective filter's set is read; the others are checked per member.
    const key =
      taskId !== undefined
        ? this.#feedKey(`task:${taskId}`)
        : intentId !== undefined
          ? this.#feedKey(`intent:${intentId}`)
          : assignee !== undefined
            ? this.#feedKey(`assignee:${assignee}`)
            : this.#feedKey('all');
    const intentPrefix = taskId !== undefined && intentId !== undefined ? `${intentId}:` : '';
    const assigneeKey =
      assignee !== undefined && (taskId !== undefined || intentId !== undefined)
        ? this.#feedKey(`assignee:${assignee}`)
        : '';
    const reply = await this.#run('readFeed', (client) =>
      client.eval(READ_FEED_SCRIPT, {
        keys: [key],
        arguments: [String(after), String(limit), intentPrefix, assigneeKey],
      }),
    );
    return pairs(reply).map(([member, position]) => {
      const separator = member.lastIndexOf(':');
      return {
        position: String(Number(position)),
        intentId: member.slice(0, separator),
        seq: Number(member.slice(separator + 1)),
      };
    });
  }

  async feedHead(): Promise<string> {
    const value = await this.#run('feedHead', (client) => client.get(this.#feedKey('position')));
    return String(Number(value ?? 0));
  }

  async readCounters(counters: readonly string[]): Promise<number[]> {
    checkKeys(counters, 'counter name');
    if (counters.length === 0) {
      this.#ensureOpen('readCounters');
      return [];
    }
    const values = await this.#run('readCounters', (client) =>
      client.hmGet(`${this.#prefix}:counters`, [...counters]),
    );
    return values.map((value) => Number(value ?? 0));
  }

  async readRecords(keys: readonly string[]): Promise<(string | undefined)[]> {
    checkKeys(keys, 'record key');
    if (keys.length === 0) {
      this.#ensureOpen('readRecords');
      return [];
    }
    // MGET runs alone, like a script: one moment for every key.
    const values = await this.#run('readRecords', (client) =>
      client.mGet(keys.map((key) => this.#recordKey(key))),
    );
    return values.map((value) => value ?? undefined);
  }

  #recordKey(key: string): string {
    return `${this.#prefix}:record:${key}`;
  }

  #feedKey(name: string): string {
    return `${this.#prefix}:feed:${name}`;
  }

  async readClock(): Promise<number> {
    // Leases here lapse on the server's own clock (SET … PX); deadlines and audit times use it too.
    const [seconds, microseconds] = await this.#run('readClock', (client) => client.time());
    return Number(seconds) * 1000 + Math.floor(Number(microseconds) / 1000);
  }

  async publish(message: string): Promise<void> {
    checkValue(message, 'message');
    await this.#run('publish', (client) => client.publish(this.#channel(), message));
  }

  subscribe(listener: (message: string) => void): () => void {
    const remove = this.#listeners.add(listener);
    if (this.#subscriber === undefined && !this.#closed) this.#startSubscriber();
    return remove;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    // A subscriber destroyed while connecting keeps its socket (and the process) alive: let the
    // attempt end first (bounded by the connect timeout), then drop it.
    if (this.#subscriberConnecting) {
      await withinTimeout(this.#subscriberConnecting, CONNECT_TIMEOUT_MS, 'no answer').catch(() => undefined);
    }
    if (subscriber?.isOpen) subscriber.destroy();
    if (this.#ownsClient) await closeClient(this.#client);
  }

  /**
   * Subscribed mode takes over a Redis connection, so messages arrive on a second one. It retries
   * until the server answers and node-redis subscribes again after each reconnect; messages
   * published while it is away are lost (the engine's slow poll covers them).
   */
  #startSubscriber(): void {
    const subscriber = this.#client.duplicate({
      socket: { ...this.#client.options?.socket, reconnectStrategy: reconnectDelay },
    }) as RedisClient;
    subscriber.on('error', () => {});
    this.#subscriber = subscriber;
    void (async () => {
      try {
        this.#subscriberConnecting = subscriber.connect();
        await this.#subscriberConnecting;
        // Closed meanwhile: close() drops it once this attempt has ended.
        if (this.#subscriber !== subscriber) return;
        await subscriber.subscribe(this.#channel(), (message) => this.#listeners.emit(message));
      } catch {
        // Closed while connecting, or the server went away mid-way: start again unless closed.
        if (this.#subscriber !== subscriber) return;
        this.#subscriber = undefined;
        if (subscriber.isOpen) subscriber.destroy();
        await sleep(1_000);
        if (!this.#closed && this.#subscriber === undefined && this.#listeners.size > 0)
          this.#startSubscriber();
      }
    })();
  }

  #claimKey(key: string): string {
    return `${this.#prefix}:claim:${key}`;
  }

  #indexKey(index: string): string {
    return `${this.#prefix}:index:${index}`;
  }

  #channel(): string {
    return `${this.#prefix}:wake`;
  }

  #ensureOpen(operation: string): void {
    if (this.#closed) throw storeClosedError('redis', operation);
  }

  async #run<T>(operation: string, command: (client: RedisClient) => Promise<T>): Promise<T> {
    this.#ensureOpen(operation);
    try {
      return await command(this.#client);
    } catch (error) {
      throw storeError('redis', operation, error, redisRefusal);
    }
  }
}

/** A score as text Redis parses back to the same double (Lua's own number formatting would round). */
function scoreText(score: number): string {
  return String(score);
}

/** A flat `[member, score, member, score…]` script reply as pairs. */
function pairs(reply: unknown): Array<[string, string]> {
  const flat = Array.isArray(reply) ? reply.map(String) : [];
  const result: Array<[string, string]> = [];
  for (let at = 0; at + 1 < flat.length; at += 2) result.push([flat[at] as string, flat[at + 1] as string]);
  return result;
}

function bound(score: number): string | number {
  if (score === Number.POSITIVE_INFINITY) return '+inf';
  if (score === Number.NEGATIVE_INFINITY) return '-inf';
  return score;
}

/** Settle like `promise`, or reject after `ms` (the node-redis handshake has no timeout of its own). */
async function withinTimeout<T>(promise: Promise<T>, ms: number, reason: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${reason} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT politely when connected (pending replies arrive first), but never wait long for it. */
async function closeClient(client: RedisClient): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) {
    client.destroy();
    return;
  }
  try {
    await withinTimeout(client.close(), CLOSE_TIMEOUT_MS, 'no reply to QUIT');
  } catch {
    try {
      client.destroy();
    } catch {
      // Already closed in the meantime.
    }
  }
}
