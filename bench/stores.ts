import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, KeyvNodeSqlite, type StoreBackend } from '@holdpoint/core';
import {
  deleteRedisPrefixes,
  dropPostgresSchemas,
  type StoreName,
  unreachableReason as serviceUnreachable,
  storeNames,
} from '@holdpoint/test-services';
import KeyvPostgres from '@keyv/postgres';
import KeyvRedis, { createClient } from '@keyv/redis';
import Keyv from 'keyv';

/** The stores the bench knows, in the order it runs them. */
export { type StoreName, storeNames };

/**
 * The `--stores` list of a bench that runs on the file and server stores (sqlite, postgres, redis);
 * an unknown name ends the process with a message naming the bench.
 */
export function fileAndServerStores(list: string, bench: string): StoreName[] {
  const stores = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '') as StoreName[];
  for (const store of stores) {
    if (!['sqlite', 'postgres', 'redis'].includes(store)) {
      console.error(`${bench}: unknown store "${store}"; use sqlite, postgres, redis`);
      process.exit(2);
    }
  }
  return stores;
}

/** Redis for the bench: `HOLDPOINT_BENCH_REDIS_URL`, or a local server. */
export const redisUrl = process.env.HOLDPOINT_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** PostgreSQL for the bench: `HOLDPOINT_BENCH_POSTGRES_URL`, or a local server (database `test`). */
export const postgresUrl =
  process.env.HOLDPOINT_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Where one scenario keeps its data: a name no other run uses (a SQLite file in the run's
 * directory, a Redis key prefix, a PostgreSQL schema), so runs never see each other's records and
 * the parent can delete exactly what a scenario made, even when the scenario crashed.
 */
export interface StorePlace {
  store: StoreName;
  /** A lower-case identifier unique to this scenario: usable as a file name, Redis prefix and schema name. */
  name: string;
  /** The run's scratch directory (SQLite files live here). */
  directory: string;
}

/** A description of the store, for the results: durability settings matter to the numbers. */
export function describeStore(store: StoreName): string {
  switch (store) {
    case 'memory':
      return 'memory:// (a Map in this process)';
    case 'sqlite':
      return 'sqlite file (node:sqlite, WAL, synchronous=NORMAL)';
    case 'redis':
      return `${withoutPassword(redisUrl)}`;
    case 'postgres':
      return `${withoutPassword(postgresUrl)}`;
  }
}

/** Why the store cannot be used now, or `undefined` when it answers. Never throws. */
export async function unreachableReason(store: StoreName): Promise<string | undefined> {
  if (store !== 'redis' && store !== 'postgres') return undefined;
  const url = store === 'redis' ? redisUrl : postgresUrl;
  const reason = await serviceUnreachable(store, url);
  return reason === undefined ? undefined : `${withoutPassword(url)} unreachable: ${reason}`;
}

/** The engine's store backend, opened the way a user opens it: from a URL. */
export function openBackend(
  place: StorePlace,
  /** Another core's `createStore` (a baseline commit's): the default is this checkout's. */
  create: (spec: string) => Promise<StoreBackend> = createStore,
): Promise<StoreBackend> {
  switch (place.store) {
    case 'memory':
      return create('memory://');
    case 'sqlite':
      return create(`sqlite://${sqliteFile(place, 'engine')}`);
    case 'redis': {
      const url = new URL(redisUrl);
      url.searchParams.set('prefix', place.name);
      return create(url.toString());
    }
    case 'postgres': {
      const url = new URL(postgresUrl);
      url.searchParams.set('schema', place.name);
      return create(url.toString());
    }
  }
}

/** A raw Keyv on the same kind of store, set up as the engine's is, for the baseline. */
export async function openBaselineKeyv(
  place: StorePlace,
): Promise<{ keyv: Keyv; close: () => Promise<void> }> {
  let keyv: Keyv;
  switch (place.store) {
    case 'memory':
      keyv = new Keyv({ store: new Map(), namespace: place.name, throwOnErrors: true });
      break;
    case 'sqlite':
      // The project's adapter opens the file as the engine's store does: WAL, synchronous=NORMAL.
      keyv = new Keyv({
        store: new KeyvNodeSqlite({ uri: sqliteFile(place, 'baseline') }),
        namespace: place.name,
        throwOnErrors: true,
      });
      break;
    case 'redis': {
      const client = createClient({
        url: redisUrl,
        socket: { connectTimeout: 3_000, reconnectStrategy: false },
      });
      client.on('error', () => {});
      await client.connect();
      // @keyv/redis prefixes keys itself (`PREFIX::key`), as in the engine's Redis store.
      const adapter = new KeyvRedis(client, { namespace: place.name, throwOnErrors: true });
      keyv = new Keyv({ store: adapter, namespace: place.name, useKeyPrefix: false, throwOnErrors: true });
      break;
    }
    case 'postgres':
      // A schema of its own; @keyv/postgres creates it. Its pool is pg's default size (10), as the engine's.
      keyv = new Keyv({
        store: new KeyvPostgres({ uri: postgresUrl, schema: place.name }),
        namespace: place.name,
        throwOnErrors: true,
      });
      break;
  }
  keyv.on('error', () => {});
  // The first call waits for the connection and table, so it is made before anything is timed.
  await keyv.get('warm-up');
  return { keyv, close: () => keyv.disconnect() };
}

/** Delete what the scenarios at `places` left: SQLite files, Redis keys, PostgreSQL schemas. */
export async function cleanUp(places: readonly StorePlace[], directory: string): Promise<string[]> {
  const problems: string[] = [];
  rmSync(directory, { recursive: true, force: true });
  const redisPrefixes = places.filter((place) => place.store === 'redis').map((place) => place.name);
  const postgresSchemas = places.filter((place) => place.store === 'postgres').map((place) => place.name);
  await deleteRedisPrefixes(redisUrl, redisPrefixes).catch((error) =>
    problems.push(`redis keys ${redisPrefixes.join(', ')} not deleted: ${messageOf(error)}`),
  );
  await dropPostgresSchemas(postgresUrl, postgresSchemas).catch((error) =>
    problems.push(`postgres schemas ${postgresSchemas.join(', ')} not dropped: ${messageOf(error)}`),
  );
  return problems;
}

/** The SQLite file of a scenario's engine or baseline. */
export function sqliteFile(place: StorePlace, role: 'engine' | 'baseline'): string {
  return join(place.directory, `${place.name}-${role}.db`);
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** A one-line message of an error, with its cause when the message alone says little. */
export function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
