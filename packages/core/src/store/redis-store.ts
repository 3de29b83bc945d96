// The real clock, even under a test's fake timers (see sleep() in store-arguments).
import { clearTimeout, setTimeout } from 'node:timers';
import KeyvRedis, { createClient, type RedisClientType } from '@keyv/redis';
import Keyv from 'keyv';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
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
import type { IndexEntry, IndexRangeOptions, StoreBackend } from './store-backend.js';

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
    if (limit === 0) {
      this.#ensureOpen('indexRange');
      return [];
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
