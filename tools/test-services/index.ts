// The real services the tests and the bench talk to: which stores to run, whether a service
// answers, and removing what a run left in it. One copy, used by the core's suite, test/ and bench/.
import { createClient } from '@keyv/redis';
import pg from 'pg';

/** The stores a suite can run against. */
export const storeNames = ['memory', 'sqlite', 'redis', 'postgres'] as const;
/** One of {@link storeNames}. */
export type StoreName = (typeof storeNames)[number];
/** The stores that run on a server. */
export type ServiceName = 'redis' | 'postgres';

/** Redis for the tests: `HOLDPOINT_TEST_REDIS_URL`, or the local server. */
export const testRedisUrl = process.env.HOLDPOINT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** PostgreSQL for the tests: `HOLDPOINT_TEST_POSTGRES_URL`, or the local server (database `test`). */
export const testPostgresUrl =
  process.env.HOLDPOINT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The stores to test: all four, or those listed in `HOLDPOINT_TEST_STORES` (`memory,sqlite`).
 * @throws Error naming an unknown store in the list.
 */
export function selectedStores(): StoreName[] {
  const listed = process.env.HOLDPOINT_TEST_STORES;
  if (listed === undefined || listed.trim() === '') return [...storeNames];
  const names = listed.split(',').map((name) => name.trim().toLowerCase());
  for (const name of names) {
    if (!storeNames.includes(name as StoreName)) {
      throw new Error(
        `HOLDPOINT_TEST_STORES names an unknown store "${name}"; use ${storeNames.join(', ')}.`,
      );
    }
  }
  return storeNames.filter((name) => names.includes(name));
}

function redisClient(url: string) {
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => {});
  return client;
}

function postgresClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  return client;
}

/** Why the service at `url` cannot be used now, or `undefined` when it answers. Never throws. */
export async function unreachableReason(service: ServiceName, url: string): Promise<string | undefined> {
  try {
    if (service === 'redis') {
      const client = redisClient(url);
      try {
        await client.connect();
        await client.ping();
      } finally {
        if (client.isOpen) client.destroy();
      }
    } else {
      const client = postgresClient(url);
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => {});
      }
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  }
}

/** Delete every key under these prefixes (the engine's `PREFIX:claim:…`, `PREFIX:index:…`, Keyv's `PREFIX::…`). */
export async function deleteRedisPrefixes(url: string, prefixes: readonly string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const client = redisClient(url);
  await client.connect();
  try {
    for (const prefix of prefixes) {
      for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1_000 })) {
        if (keys.length > 0) await client.del(keys);
      }
    }
  } finally {
    client.destroy();
  }
}

/** Drop these schemas and everything in them. */
export async function dropPostgresSchemas(url: string, schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = postgresClient(url);
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end().catch(() => {});
  }
}

// Captured when this module loads, before a test fakes the clock: waiting must take real time
// without moving a fake clock.
const realSetTimeout = globalThis.setTimeout;

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /**
   * How long to keep trying, in real ms, before the last failure is thrown. Generous on purpose: on a
   * busy two-core machine a correct wait can take seconds; a wrong one still fails.
   * @default 15_000
   */
  timeout?: number;
  /** Real ms between tries. @default 20 */
  interval?: number;
  /**
   * Run before each retry: under a fake clock, `() => vi.advanceTimersByTimeAsync(0)` runs the
   * timers that fell due now, without moving the clock.
   */
  beforeRetry?: () => unknown;
}

/**
 * The suite's one way to wait: run `check` (an assertion, or anything that throws until the awaited
 * thing is so) until it passes, and return what it returned. Wait for the very thing the test then
 * asserts on — never for a proxy of it, never for a fixed time.
 * @example
 * const task = await eventually(async () => {
 *   const [found] = await hp.listTasks({ assignee: 'ann@acme.test' });
 *   expect(found).toBeDefined();
 *   return found!;
 * });
 * @throws the last failure of `check` once `timeout` has passed.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<T> {
  const { timeout = 15_000, interval = 20, beforeRetry } = options;
  const started = performance.now();
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (performance.now() - started > timeout) throw error;
    }
    await new Promise((resolve) => realSetTimeout(resolve, interval));
    await beforeRetry?.();
  }
}
