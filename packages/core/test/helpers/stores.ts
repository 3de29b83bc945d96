import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deleteRedisPrefixes,
  dropPostgresSchemas,
  type StoreName,
  selectedStores,
  testPostgresUrl,
  testRedisUrl,
  unreachableReason,
} from '@holdpoint/test-services';
import { afterAll } from 'vitest';

export type { StoreName };

/** One store to run a suite against. */
export interface StoreCase {
  name: StoreName;
  /**
   * A spec for `createStore` naming a fresh, empty store: a unique memory name, a new SQLite file,
   * a unique Redis prefix, a new PostgreSQL schema. Open it twice for two engines on one store.
   */
  spec(): string;
  /** Fails with a message that says what to start (or how to leave the store out) when it is unreachable. */
  ready(): Promise<void>;
}

/** Redis and PostgreSQL for the tests (`HOLDPOINT_TEST_REDIS_URL`, `HOLDPOINT_TEST_POSTGRES_URL`). */
export { testPostgresUrl as postgresUrl, testRedisUrl as redisUrl };

const skipHint =
  'or set HOLDPOINT_TEST_STORES to the stores to run, e.g. HOLDPOINT_TEST_STORES=memory,sqlite';

/** Fail with a message that says what to start when a service does not answer. */
async function mustAnswer(service: 'redis' | 'postgres', url: string): Promise<void> {
  const reason = await unreachableReason(service, url);
  const name = service === 'redis' ? 'Redis' : 'PostgreSQL';
  if (reason !== undefined)
    throw new Error(`${name} is unreachable at ${url} (${reason}): start it, ${skipHint}.`);
}

function unique(): string {
  return `${process.pid}_${randomBytes(5).toString('hex')}`;
}

let sqliteDirectory: string | undefined;
const redisPrefixes: string[] = [];
const postgresSchemas: string[] = [];

const cases: Record<StoreName, StoreCase> = {
  memory: {
    name: 'memory',
    spec: () => `memory://test-${unique()}`,
    ready: async () => {},
  },
  sqlite: {
    name: 'sqlite',
    spec: () => {
      sqliteDirectory ??= mkdtempSync(join(tmpdir(), 'holdpoint-test-'));
      return `sqlite://${join(sqliteDirectory, `store-${unique()}.db`)}`;
    },
    ready: async () => {},
  },
  redis: {
    name: 'redis',
    spec: () => {
      const prefix = `hp-test-${unique()}`;
      redisPrefixes.push(prefix);
      const url = new URL(testRedisUrl);
      url.searchParams.set('prefix', prefix);
      return url.toString();
    },
    ready: () => mustAnswer('redis', testRedisUrl),
  },
  postgres: {
    name: 'postgres',
    spec: () => {
      const schema = `hp_test_${unique()}`;
      postgresSchemas.push(schema);
      const url = new URL(testPostgresUrl);
      url.searchParams.set('schema', schema);
      return url.toString();
    },
    ready: () => mustAnswer('postgres', testPostgresUrl),
  },
};

/**
 * The stores to test against: all four, or those listed in `HOLDPOINT_TEST_STORES`
 * (`memory,sqlite`). A listed store that is unreachable fails its tests; it is never skipped.
 *
 * @example
 * describe.each(storeCases)('engine on $name', (storeCase) => {
 *   it('…', async () => { const hp = await createHoldpoint({ store: storeCase.spec() }); … });
 * });
 */
export const storeCases: StoreCase[] = selectedStores().map((name) => cases[name]);

/**
 * Delete what the specs of this file created: the SQLite files, the Redis keys under each prefix,
 * the PostgreSQL schemas. Registered with `afterAll` for every file that imports this helper; close
 * the stores first (each test closes what it opens).
 */
export async function cleanupStores(): Promise<void> {
  if (sqliteDirectory !== undefined) {
    rmSync(sqliteDirectory, { recursive: true, force: true });
    sqliteDirectory = undefined;
  }
  await Promise.all([
    // An unreachable service already failed its tests saying so; there is nothing to delete then.
    deleteRedisPrefixes(testRedisUrl, redisPrefixes.splice(0)).catch(() => {}),
    dropPostgresSchemas(testPostgresUrl, postgresSchemas.splice(0)).catch(() => {}),
  ]);
}

afterAll(cleanupStores);
