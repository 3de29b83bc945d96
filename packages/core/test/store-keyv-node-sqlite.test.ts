import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import Keyv from 'keyv';
import * as Vitest from 'vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyvNodeSqlite } from '../src/store/keyv-node-sqlite.js';

const directory = mkdtempSync(join(tmpdir(), 'holdpoint-keyv-node-sqlite-'));
const file = join(directory, 'nested', 'keyv.db');
const adapters: KeyvNodeSqlite[] = [];

// The suite builds many Keyv instances over `store()` and expects them to see one database, each
// with its own namespace: so every call opens another connection to the same file.
function store(): KeyvNodeSqlite {
  const adapter = new KeyvNodeSqlite(`sqlite://${file}`);
  adapters.push(adapter);
  return adapter;
}

afterAll(async () => {
  await Promise.all(adapters.map((adapter) => adapter.disconnect()));
  rmSync(directory, { recursive: true, force: true });
});

describe('KeyvNodeSqlite: @keyv/test-suite', () => {
  keyvTestSuite(Vitest, Keyv, store);
  keyvIteratorTests(Vitest, Keyv, store);
});

describe('KeyvNodeSqlite', () => {
  it('opens the file in WAL mode with synchronous=NORMAL and a busy timeout', () => {
    const adapter = store();
    expect(adapter.db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    // 1 is NORMAL.
    expect(adapter.db.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 1 });
    expect(adapter.db.prepare('PRAGMA busy_timeout').get()).toEqual({ timeout: 5000 });
  });

  it('does not return or count a record whose TTL has passed', async () => {
    const adapter = store();
    await adapter.set('lapsing', 'value', 30);
    expect(await adapter.has('lapsing')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await adapter.get('lapsing')).toBeUndefined();
    expect(await adapter.has('lapsing')).toBe(false);
    expect(await adapter.getMany(['lapsing'])).toEqual([undefined]);
  });

  it('treats % and _ in a namespace literally when clearing', async () => {
    const wild = new Keyv({ store: store(), namespace: 'a_%' });
    const other = new Keyv({ store: store(), namespace: 'ab%' });
    await wild.set('key', 1);
    await other.set('key', 2);
    await wild.clear();
    expect(await wild.get('key')).toBeUndefined();
    expect(await other.get('key')).toBe(2);
  });

  it('shares a connection passed as db without closing it', async () => {
    const owner = store();
    const shared = new KeyvNodeSqlite({ db: owner.db, table: 'other_records' });
    await shared.set('key', 'value');
    await shared.disconnect();
    expect(owner.db.isOpen).toBe(true);
    expect(await shared.get('key')).toBe('value');
  });

  it('works in memory', async () => {
    const keyv = new Keyv({ store: new KeyvNodeSqlite(), throwOnErrors: true });
    await keyv.set('key', { nested: true });
    expect(await keyv.get('key')).toEqual({ nested: true });
    await keyv.disconnect();
  });
});
