import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { genericPlan, statementsRan } from './helpers/postgres-plan.js';
import { postgresUrl, storeCases } from './helpers/stores.js';

// The PostgreSQL backend runs its statements prepared under names, once per pooled connection. A
// prepared statement outlives the tables it was planned on: these tests drop and re-create a schema
// under the same name while the pool's connections still hold statements prepared on the old tables.

const opened: StoreBackend[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Record `count` events of one intent and read them back through the feed, lists and records. */
async function roundTrip(store: StoreBackend, count: number): Promise<void> {
  for (let seq = 1; seq <= count; seq++) {
    const won = await store.appendEvent(
      `ev:int_a:${seq}`,
      `{"seq":${seq}}`,
      { intentId: 'int_a', seq, taskId: 'tsk_a', assignees: ['ann@acme.test'] },
      {
        indexAdd: [{ index: 'tasks:pending', member: `tsk_${seq}`, score: seq }],
        counters: [{ counter: 'pending', delta: 1 }],
        records: [{ key: 'rec:int_a', value: `${seq}` }],
      },
    );
    expect(won).toBe(true);
  }
  expect(await store.appendEvent('ev:int_a:1', '{}', { intentId: 'int_a', seq: 1, assignees: [] })).toBe(
    false,
  );
  const feed = await store.readFeed({ limit: 100, assignee: 'ann@acme.test' });
  expect(feed.map((entry) => entry.seq)).toEqual(Array.from({ length: count }, (_, at) => at + 1));
  expect((await store.indexRange('tasks:pending', { limit: 100 })).length).toBe(count);
  expect(await store.readCounters(['pending'])).toEqual([count]);
  expect(await store.readRecords(['rec:int_a'])).toEqual([`${count}`]);
}

describe.each(storeCases.filter((storeCase) => storeCase.name === 'postgres'))(
  'prepared statements on $name',
  (storeCase) => {
    it('keep working when the schema is dropped and made again under the same name', async () => {
      const spec = storeCase.spec();
      const schema = new URL(spec).searchParams.get('schema') as string;
      // Enough rounds that every pooled connection has prepared (and PostgreSQL may have planned
      // generically) the statements used.
      const first = await createStore(spec);
      opened.push(first);
      await roundTrip(first, 12);
      await first.close();
      // A second store on the same URI keeps the pool (and its prepared statements) alive meanwhile.
      const keeper = await createStore(storeCase.spec());
      opened.push(keeper);
      await dropSchema(schema);
      const again = await createStore(spec);
      opened.push(again);
      await roundTrip(again, 7);
    });

    it('keep the plan settings beside the options a store URL gives, which win where they overlap', async () => {
      const pools: pg.Pool[] = [];
      const query = pg.Pool.prototype.query;
      pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
        pools.push(this);
        return (query as (...args: unknown[]) => unknown).apply(this, args);
      } as typeof query;
      const url = new URL(storeCase.spec());
      url.searchParams.set('options', '-c statement_timeout=4321 -c enable_mergejoin=on');
      try {
        const store = await createStore(url.toString());
        opened.push(store);
        await roundTrip(store, 1);
      } finally {
        pg.Pool.prototype.query = query;
      }
      const pool = pools.at(-1) as pg.Pool;
      const client = await pool.connect();
      try {
        const setting = async (name: string) =>
          (await client.query(`SELECT current_setting('${name}') AS value`)).rows[0]?.value;
        expect(await setting('statement_timeout')).toBe('4321ms');
        expect(await setting('enable_hashjoin')).toBe('off');
        expect(await setting('enable_mergejoin')).toBe('on');
      } finally {
        client.release();
      }
    });

    it('find list entries by their key in a plan made while the tables were empty', async () => {
      // A plan made on empty tables and kept while they grow must not scan a table: the append
      // removes list entries by joining the names and members it is given to the index table.
      const store = await createStore(storeCase.spec());
      opened.push(store);
      const statements = await statementsRan(
        (text) => text.includes('DELETE FROM'),
        () => roundTrip(store, 1),
      );
      const append = statements.find(
        ({ config }) => config.text.includes('DELETE FROM') && config.text.includes('held'),
      );
      expect(append).toBeDefined();
      const { pool, config } = append as { pool: pg.Pool; config: pg.QueryConfig };
      // Planned generically (as PostgreSQL does after a few runs) on tables that hold one entry each.
      const plan = await genericPlan(pool, config);
      expect(plan).toContain('Index Scan using holdpoint_index_pkey');
      expect(plan).not.toMatch(/Seq Scan on holdpoint_index\b/);
    });
  },
);
