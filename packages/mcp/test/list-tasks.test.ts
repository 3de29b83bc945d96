// list_human_tasks over the engine's public listTasks: the filters it cannot apply itself, and a
// cursor that holds when the list changes between pages. An engine without timers keeps a task
// pending past its deadline, so "overdue" can be seen.
import { createHoldpoint, type Holdpoint } from '@holdpoint/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTaskPage } from '../src/engine.js';

let hp: Holdpoint;

beforeAll(async () => {
  hp = await createHoldpoint({ store: 'memory://', timers: false });
});

afterAll(async () => {
  await hp?.close();
});

describe('listTaskPage', () => {
  it('lists pending tasks past their deadline as overdue, and only those', async () => {
    const late = await hp.requestHuman({ assignee: 'late@acme.test', title: 'late', timeout: '20ms' });
    await hp.requestHuman({ assignee: 'late@acme.test', title: 'in time', timeout: '1h' });
    await hp.requestHuman({ assignee: 'late@acme.test', title: 'no deadline' });
    await expect
      .poll(async () => (await listTaskPage(hp, { assignee: 'late@acme.test', overdue: true })).tasks)
      .toEqual([expect.objectContaining({ id: late.id })]);
    const others = await listTaskPage(hp, { assignee: 'late@acme.test', overdue: false });
    expect(others.tasks.map((task) => task.title)).toEqual(['no deadline', 'in time']);
  });

  it('reads on after the cursor even when tasks are created, or the last one ends, between pages', async () => {
    const asked = [];
    for (const index of [1, 2, 3, 4, 5]) {
      asked.push(await hp.requestHuman({ assignee: 'pager@acme.test', title: `t${index}` }));
      // Distinct creation times, so "newest first" is one order.
      await expect.poll(() => Date.now()).toBeGreaterThan(Date.parse(asked.at(-1)?.createdAt as string));
    }
    const filter = { assignee: 'pager@acme.test', status: 'pending' as const, limit: 2 };
    const first = await listTaskPage(hp, filter);
    expect(first.tasks.map((task) => task.title)).toEqual(['t5', 't4']);
    await hp.requestHuman({ assignee: 'pager@acme.test', title: 't6' });
    // t4, the task the cursor names, ends: under status 'pending' it leaves the list.
    await hp.decide(asked[3]?.id as string, { outcome: 'approved', actor: 'pager@acme.test' });
    const second = await listTaskPage(hp, { ...filter, cursor: first.cursor as string });
    expect(second.tasks.map((task) => task.title)).toEqual(['t3', 't2']);
    const third = await listTaskPage(hp, { ...filter, cursor: second.cursor as string });
    expect(third.tasks.map((task) => task.title)).toEqual(['t1']);
    expect(third.cursor).toBeUndefined();
  });
});
