import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyvPostgres } from '@keyv/postgres';
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import { KeyvNodeSqlite } from '../src/store/keyv-node-sqlite.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { errorOf } from './helpers/refusal.js';
import { postgresUrl, redisUrl, storeCases } from './helpers/stores.js';

const selected = new Set(storeCases.map((storeCase) => storeCase.name));
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-create-store-'));
const opened: StoreBackend[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

async function open(...parameters: Parameters<typeof createStore>): Promise<StoreBackend> {
  const store = await createStore(...parameters);
  opened.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('createStore from a URL', () => {
  it.each([
    ['mysql://localhost/db', 'the scheme "mysql:" is not a supported store'],
    ['./holdpoint.db', 'it is not a URL'],
    ['sqlite://', 'names no database file'],
    ['redis://exa mple:6379', 'not a valid URL'],
    ['postgres://localhost/db?schema=Bad-Name', 'schema "Bad-Name" is not usable'],
  ])('refuses %s with an accepted example', async (spec, reason) => {
    const error = await errorOf(createStore(spec));
    expect(error.code).toBe('VALIDATION');
    expect(error.message).toContain(reason);
    expect(error.message).toMatch(/sqlite:\/\/|postgres:\/\/localhost\/app\?schema=holdpoint/);
  });

  it('refuses a prefix that Keyv cannot namespace by', async () => {
    const error = await errorOf(createStore('memory://', { prefix: 'a:b' }));
    expect(error).toMatchObject({ code: 'VALIDATION', field: 'store.prefix' });
  });

  it('refuses something that is neither a URL, a Keyv nor a backend', async () => {
    const error = await errorOf(createStore(42 as unknown as string));
    expect(error.code).toBe('VALIDATION');
  });

  it('shares memory://NAME within the process and keeps memory:// private', async () => {
    const name = `memory://create-${Date.now()}`;
    const [first, second] = [await open(name), await open(name)];
    await first.claim('key', 'a');
    expect(await second.readClaims(['key'])).toEqual(['a']);
    const [private1, private2] = [await open('memory://'), await open('memory://')];
    await private1.claim('key', 'a');
    expect(await private2.readClaims(['key'])).toEqual([undefined]);
  });

  it('keeps a named memory store after its backends close, as a restarted engine expects', async () => {
    const name = `memory://restart-${Date.now()}`;
    const before = await createStore(name);
    await before.keyv.set('task', 'pending');
    await before.close();
    expect(await (await open(name)).keyv.get('task')).toBe('pending');
  });

  it('opens sqlite:// relative to the working directory, creating directories', async () => {
    const relative = join('.holdpoint-test', `nested-${Date.now()}`, 'store.db');
    cleanups.push(async () => rmSync('.holdpoint-test', { recursive: true, force: true }));
    const store = await open(`sqlite://./${relative}`);
    await store.claim('key', 'value');
    const again = await open(`sqlite://${join(process.cwd(), relative)}`);
    expect(await again.readClaims(['key'])).toEqual(['value']);
  });

  it('opens sqlite://:memory: as a private database', async () => {
    const store = await open('sqlite://:memory:');
    expect(store.kind).toBe('sqlite');
    expect(await store.claim('key', 'value')).toBe(true);
  });

  it('refuses a SQLite file that cannot be created with VALIDATION: a retry would fail the same way', async () => {
    const notADirectory = join(directory, 'plain-file');
    writeFileSync(notADirectory, '');
    const error = await errorOf(createStore(`sqlite://${join(notADirectory, 'store.db')}`));
    expect(error).toMatchObject({ code: 'VALIDATION', retryable: false, field: 'store' });
    expect(error.message).toContain('is a file, not a directory');
  });

  it.runIf(selected.has('postgres'))(
    'fails promptly with STORE_UNAVAILABLE when PostgreSQL is unreachable',
    async () => {
      const started = Date.now();
      const error = await errorOf(createStore('postgres://postgres@127.0.0.1:1/test'));
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', store: 'postgres' });
      expect(Date.now() - started).toBeLessThan(3_000);
    },
  );
});

describe('createStore from a Keyv or a backend', () => {
  it('returns a StoreBackend as is', async () => {
    const store = await open('memory://');
    expect(await createStore(store)).toBe(store);
  });

  it('runs a Keyv over a Map on memory, sharing claims between Keyv instances over one Map', async () => {
    const records = new Map();
    const keyv = new Keyv({ store: records });
    const store = await open(keyv);
    expect(store.kind).toBe('memory');
    expect(store.keyv).toBe(keyv);
    expect(keyv.throwOnErrors).toBe(true);
    await store.claim('key', 'a');
    const sibling = await open(new Keyv({ store: records }));
    expect(await sibling.claim('key', 'b')).toBe(false);
    expect(await (await open(new Keyv())).claim('key', 'b')).toBe(true);
  });

  it('runs a Keyv over KeyvNodeSqlite on the sqlite backend, on its connection', async () => {
    const adapter = new KeyvNodeSqlite(`sqlite://${join(directory, 'keyv.db')}`);
    cleanups.push(() => adapter.disconnect());
    const keyv = new Keyv({ store: adapter, namespace: 'app' });
    const store = await open(keyv);
    expect(store.kind).toBe('sqlite');
    await store.claim('key', 'a');
    await keyv.set('record', 1);
    await store.close();
    // The Keyv keeps its connection after the backend closes.
    expect(await keyv.get('record')).toBe(1);
    const again = await open(
      new Keyv({ store: new KeyvNodeSqlite(`sqlite://${join(directory, 'keyv.db')}`) }),
      {
        prefix: 'app',
      },
    );
    expect(await again.readClaims(['key'])).toEqual(['a']);
  });

  /** A fresh Redis prefix or PostgreSQL schema from the helper, which deletes it after the file. */
  function fresh(name: 'redis' | 'postgres', parameter: string): string {
    const spec = storeCases.find((storeCase) => storeCase.name === name)?.spec() ?? '';
    return new URL(spec).searchParams.get(parameter) ?? '';
  }

  it.runIf(selected.has('redis'))(
    'runs a Keyv over @keyv/redis on the redis backend, leaving its client open',
    async () => {
      const adapter = new KeyvRedis(redisUrl);
      cleanups.push(() => adapter.disconnect());
      const keyv = new Keyv({ store: adapter, namespace: fresh('redis', 'prefix'), useKeyPrefix: false });
      const store = await open(keyv);
      expect(store.kind).toBe('redis');
      expect(await store.claim('key', 'a')).toBe(true);
      expect(await store.claim('key', 'b')).toBe(false);
      await store.close();
      expect(adapter.client.isOpen).toBe(true);
      expect(await keyv.set('record', 1)).toBe(true);
    },
  );

  it.runIf(selected.has('postgres'))('runs a Keyv over @keyv/postgres on the postgres backend', async () => {
    const adapter = new KeyvPostgres({ uri: postgresUrl, schema: fresh('postgres', 'schema') });
    cleanups.push(() => adapter.disconnect());
    const keyv = new Keyv({ store: adapter });
    const store = await open(keyv);
    expect(store.kind).toBe('postgres');
    expect(await store.claim('key', 'a')).toBe(true);
    expect(await store.claim('key', 'b')).toBe(false);
    await keyv.set('record', { n: 1 });
    expect(await keyv.get('record')).toEqual({ n: 1 });
  });

  it('refuses a Keyv store without an atomic claim, saying which stores work', async () => {
    const store = {
      opts: { dialect: 'mongo' },
      get: async () => undefined,
      set: async () => true,
      delete: async () => true,
      clear: async () => {},
      on: () => store,
    };
    const error = await errorOf(createStore(new Keyv({ store })));
    expect(error.code).toBe('VALIDATION');
    expect(error.message).toContain('atomic first-writer-wins claim');
    expect(error.message).toContain('KeyvNodeSqlite');
  });
});
