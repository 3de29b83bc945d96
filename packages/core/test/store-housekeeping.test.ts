import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createHoldpoint } from '../src/create-holdpoint.js';
import { createStore } from '../src/store/create-store.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { errorOf } from './helpers/engine.js';
import { postgresUrl, storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

const opened: StoreBackend[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function open(spec: string): Promise<StoreBackend> {
  const store = await createStore(spec);
  opened.push(store);
  return store;
}

/** How many rows of the claims table hold `key` (lapsed or not), read past the backend. */
async function rawClaimRows(spec: string, key: string): Promise<number> {
  if (spec.startsWith('sqlite://')) {
    const db = new DatabaseSync(spec.slice('sqlite://'.length), { readOnly: true });
    try {
      const row = db
        .prepare('SELECT count(*) AS n FROM holdpoint_claims WHERE key = ?')
        .get(`holdpoint:${key}`);
      return Number(row?.n);
    } finally {
      db.close();
    }
  }
  const schema = new URL(spec).searchParams.get('schema') as string;
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const result = await client.query(
      `SELECT count(*) AS n FROM "${schema}".holdpoint_claims WHERE key = $1`,
      [`holdpoint:${key}`],
    );
    return Number(result.rows[0].n);
  } finally {
    await client.end();
  }
}

describe.each(storeCases.filter((storeCase) => storeCase.name === 'sqlite' || storeCase.name === 'postgres'))(
  'lapsed leases on $name',
  (storeCase) => {
    it('are deleted from the claims table, not only hidden', async () => {
      await storeCase.ready();
      const spec = storeCase.spec();
      const first = await open(spec);
      expect(await first.claim('notified:evt_1', 'engine-a', 1)).toBe(true);
      expect(await first.claim('ev:int_1:1', 'an event')).toBe(true);
      await expect.poll(() => first.readClaims(['notified:evt_1'])).toEqual([undefined]);
      expect(await rawClaimRows(spec, 'notified:evt_1')).toBe(1);
      // A backend sweeps at its first claim, then once a minute.
      const second = await open(spec);
      await second.claim('something', 'else');
      await expect.poll(() => rawClaimRows(spec, 'notified:evt_1')).toBe(0);
      // Permanent claims (the audit events) stay.
      expect(await second.readClaims(['ev:int_1:1'])).toEqual(['an event']);
    });
  },
);

describe('the message of a store failure', () => {
  it('says a failed read changed nothing, and a failed write was recorded whole or not at all', async () => {
    const store = await open('memory://');
    const failing = (operation: 'readClaims' | 'appendEvent'): StoreBackend => {
      const broken = wrapStore(store);
      (broken as unknown as Record<string, () => Promise<never>>)[operation] = () =>
        Promise.reject(new Error('connection reset'));
      return broken;
    };
    const reader = await createHoldpoint({ store: failing('readClaims'), timers: false });
    const read = await errorOf(reader.getTask('tsk_abc.def'));
    await reader.close();
    expect(read.code).toBe('STORE_UNAVAILABLE');
    expect(read.message).toContain('connection reset');
    expect(read.message).toContain('It failed while reading: no change was recorded.');
    expect(read.message).not.toContain('half-written');

    // An event is written by appendEvent (the claim with its feed entry and list entries).
    const writer = await createHoldpoint({ store: failing('appendEvent'), timers: false });
    const write = await errorOf(writer.submit({ type: 'report' }));
    await writer.close();
    expect(write.code).toBe('STORE_UNAVAILABLE');
    expect(write.message).toContain('recorded whole or not at all');
  });
});
