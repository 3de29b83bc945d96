// The feed's filters read their own index, not the whole feed: the plans SQLite and PostgreSQL give
// the statements the stores run for `events({ intentId | taskId | assignee })`. (The memory and
// Redis stores keep a list per intent, task and assignee, so they cannot scan.)
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventsOptions, Holdpoint } from '../src/index.js';
import { engineFor } from './helpers/engine.js';
import { genericPlan, statementsRan } from './helpers/postgres-plan.js';
import { storeCases } from './helpers/stores.js';

const ann = 'ann@acme.test';
const bob = 'bob@acme.test';

/** Each filter, and the index its statement must search. */
const filters: Array<{
  name: string;
  options: (ids: { intentId: string; taskId: string }) => EventsOptions;
}> = [
  { name: 'intent', options: ({ intentId }) => ({ intentId }) },
  { name: 'task', options: ({ taskId }) => ({ taskId }) },
  { name: 'assignee', options: () => ({ assignee: ann }) },
  { name: 'intent and assignee', options: ({ intentId }) => ({ intentId, assignee: ann }) },
  { name: 'task and assignee', options: ({ taskId }) => ({ taskId, assignee: ann }) },
];

/** A feed of 200 tasks' events for two people; the ids of one intent and task in its middle. */
async function fill(hp: Holdpoint): Promise<{ intentId: string; taskId: string }> {
  let middle: { intentId: string; taskId: string } | undefined;
  for (let batch = 0; batch < 10; batch++) {
    const tasks = await Promise.all(
      Array.from({ length: 20 }, (_, n) => hp.requestHuman({ assignee: n % 2 === 0 ? ann : bob })),
    );
    await Promise.all(
      tasks
        .slice(0, 10)
        .map((task) => hp.decide(task.id, { outcome: 'approved', actor: task.assignees[0] as string })),
    );
    if (batch === 5) middle = { intentId: tasks[0]?.intentId as string, taskId: tasks[0]?.id as string };
  }
  return middle as { intentId: string; taskId: string };
}

const opened: DatabaseSync[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});

describe.each(storeCases.filter((storeCase) => storeCase.name === 'sqlite'))(
  'feed filters on $name',
  (storeCase) => {
    it.each(filters)('searches an index for the $name filter, never scans the feed', async ({ options }) => {
      const spec = storeCase.spec();
      const hp = await engineFor(spec, { timers: false });
      const ids = await fill(hp);
      const statements: string[] = [];
      const prepare = DatabaseSync.prototype.prepare;
      DatabaseSync.prototype.prepare = function (this: DatabaseSync, sql: string) {
        if (/FROM holdpoint_feed/.test(sql)) statements.push(sql);
        return prepare.call(this, sql);
      } as typeof prepare;
      let page: Awaited<ReturnType<Holdpoint['events']>>;
      try {
        page = await hp.events({ ...options(ids), limit: 50 });
      } finally {
        DatabaseSync.prototype.prepare = prepare;
      }
      expect(page.entries.length).toBeGreaterThan(0);
      expect(statements).toHaveLength(1);
      const db = new DatabaseSync(new URL(spec).pathname, { readOnly: true });
      opened.push(db);
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN ${statements[0]}`)
        .all()
        .map((row) => String(row.detail));
      // SQLite’s plan says SCAN for a table read through, SEARCH for an index's range.
      expect(plan.filter((step) => step.startsWith('SCAN'))).toEqual([]);
      expect(plan.join('\n')).toMatch(/SEARCH (feed|assigned) USING/);
    });
  },
);

describe.each(storeCases.filter((storeCase) => storeCase.name === 'postgres'))(
  'feed filters on $name',
  (storeCase) => {
    it.each(filters)('reads an index for the $name filter, never the whole feed', async ({ options }) => {
      const hp = await engineFor(storeCase.spec(), { timers: false });
      const ids = await fill(hp);
      const statements = await statementsRan(
        (text) => text.includes('holdpoint_feed') && text.trimStart().startsWith('SELECT'),
        async () =>
          expect((await hp.events({ ...options(ids), limit: 50 })).entries.length).toBeGreaterThan(0),
      );
      expect(statements).toHaveLength(1);
      const { pool, config } = statements[0] as (typeof statements)[number];
      const plan = await genericPlan(pool, config);
      expect(plan).not.toMatch(/Seq Scan on holdpoint_feed/);
      expect(plan).toMatch(/Index (Only )?Scan using holdpoint_feed/);
      // Combined with an intent or task, the assignees' index is searched for each entry's own key,
      // not read through for each entry.
      const given = options(ids);
      if (given.assignee !== undefined && (given.intentId ?? given.taskId) !== undefined)
        for (const scan of plan.matchAll(/on holdpoint_feed_assignees assigned.*\n\s*Index Cond: (.*)/g))
          expect(scan[1]).toContain('"position" =');
    });
  },
);
