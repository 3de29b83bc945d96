import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@keyv/redis';
import pg from 'pg';
import { afterAll } from 'vitest';

/** The stores every store-dependent suite runs against. */
export type StoreName = 'memory' | 'sqlite' | 'redis' | 'postgres';

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

/** Redis for the tests: `HOLDPOINT_TEST_REDIS_URL`, or a local server. */
export const redisUrl = process.env.HOLDPOINT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** PostgreSQL for the tests (trust auth): `HOLDPOINT_TEST_POSTGRES_URL`, or a local server. */
export const postgresUrl =
  process.env.HOLDPOINT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const allStores: StoreName[] = ['memory', 'sqlite', 'redis', 'postgres'];
const skipHint =
  'or set HOLDPOINT_TEST_STORES to the stores to run, e.g. HOLDPOINT_TEST_STORES=memory,sqlite';

function selectedStores(): StoreName[] {
  const listed = process.env.HOLDPOINT_TEST_STORES;
  if (listed === undefined || listed.trim() === '') return allStores;
  const names = listed.split(',').map((name) => name.trim().toLowerCase());
  for (const name of names) {
    if (!allStores.includes(name as StoreName)) {
      throw new Error(`HOLDPOINT_TEST_STORES names an unknown store "${name}"; use ${allStores.join(', ')}.`);
    }
  }
  return allStores.filter((name) => names.includes(name));
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
      const url = new URL(redisUrl);
      url.searchParams.set('prefix', prefix);
      return url.toString();
    },
    ready: async () => {
      const client = createClient({
        url: redisUrl,
        socket: { connectTimeout: 2_000, reconnectStrategy: false },
      });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
      } catch (error) {
        throw new Error(`Redis is unreachable at ${redisUrl} (${String(error)}): start it, ${skipHint}.`);
      } finally {
        if (client.isOpen) client.destroy();
      }
    },
  },
  postgres: {
    name: 'postgres',
    spec: () => {
      const schema = `hp_test_${unique()}`;
      postgresSchemas.push(schema);
      const url = new URL(postgresUrl);
      url.searchParams.set('schema', schema);
      return url.toString();
    },
    ready: async () => {
      const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2_000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('SELECT 1');
      } catch (error) {
        throw new Error(
          `PostgreSQL is unreachable at ${postgresUrl} (${String(error)}): start it, ${skipHint}.`,
        );
      } finally {
        await client.end().catch(() => {});
      }
    },
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
    deleteRedisKeys(redisPrefixes.splice(0)),
    dropPostgresSchemas(postgresSchemas.splice(0)),
  ]);
}

async function deleteRedisKeys(prefixes: string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const client = createClient({ url: redisUrl, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch {
    return; // Unreachable: its tests already failed saying so, and there is nothing to delete.
  }
  try {
    for (const prefix of prefixes) {
      for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) {
        if (keys.length > 0) await client.del(keys);
      }
    }
  } finally {
    client.destroy();
  }
}

async function dropPostgresSchemas(schemas: string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch {
    return; // Unreachable: its tests already failed saying so, and there is nothing to drop.
  }
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end().catch(() => {});
  }
}

afterAll(cleanupStores);
