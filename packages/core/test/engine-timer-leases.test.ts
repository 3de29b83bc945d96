import { eventually } from '@holdpoint/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore, type HumanTask, type StoreBackend } from '../src/index.js';
import { layout, timerId } from '../src/store/layout.js';
import { auditEvents, backgroundErrors, engineFor } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

// A timer fires under a lease only while another engine may be firing it too — one heard from (by
// its wake-ups) within the last minute, that does not say it fires no timers (`timers: false`). A lone engine saves the lease's two writes per firing; the
// chain keeps each firing exactly once either way, which the last test shows with two engines that
// cannot hear each other firing one backlog.

describe.each(storeCases)('timer leases on $name', (storeCase) => {
  const stores: StoreBackend[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  async function open(spec: string, overrides: Partial<StoreBackend> = {}) {
    const store = await createStore(spec);
    stores.push(store);
    const leases: string[] = [];
    const released: string[] = [];
    const watched = wrapStore(store, {
      claim: (key, value, ttl) => {
        if (key.startsWith(layout.timerLease(''))) leases.push(key);
        return store.claim(key, value, ttl);
      },
      releaseClaim: (key, value) => {
        released.push(key);
        return store.releaseClaim(key, value);
      },
      ...overrides,
    });
    return { store, watched, leases, released };
  }

  async function timedOutOnce(engine: Awaited<ReturnType<typeof engineFor>>, tasks: HumanTask[]) {
    for (const task of tasks) {
      const types = (await auditEvents(engine, task.intentId)).map((event) => event.type);
      expect(types.filter((type) => type === 'task-timed-out')).toHaveLength(1);
    }
    for (const task of tasks)
      expect(await engine.audit.verify(await engine.audit.export(task.intentId))).toMatchObject({ ok: true });
  }

  it('fires without leases on an engine that has heard from no other', async () => {
    const { watched, leases } = await open(storeCase.spec());
    const hp = await engineFor('unused', { store: watched });
    const tasks = await Promise.all(
      Array.from({ length: 6 }, (_, at) =>
        hp.requestHuman({ assignee: 'ann@acme.test', title: `T${at}`, timeout: 1 }),
      ),
    );
    await eventually(async () => {
      for (const task of tasks) expect((await hp.getTask(task.id)).status).toBe('timed_out');
    });
    expect(leases).toEqual([]);
    await timedOutOnce(hp, tasks);
    expect(backgroundErrors).toEqual([]);
  });

  /**
   * An engine that fires timers (as far as its wake-ups tell) but never finds one due: the other
   * engine is the one that fires, and it has to count with this one.
   */
  async function timerEngineThatNeverFires(spec: string) {
    const { store } = await open(spec);
    const blind = wrapStore(store, {
      indexRange: (index, options) =>
        index === layout.dueIndex ? Promise.resolve([]) : store.indexRange(index, options),
    });
    return engineFor('unused', { store: blind });
  }

  it('fires under leases once another timer engine was heard from, each released by its event', async () => {
    const spec = storeCase.spec();
    const { store, watched, leases, released } = await open(spec);
    const firing = await engineFor('unused', { store: watched });
    const asking = await timerEngineThatNeverFires(spec);
    // Subscribing to wake-ups takes a moment on some stores (a Redis subscription that is not up yet
    // misses a message for good): tasks are asked until the firing engine has heard of one, so it
    // has heard from the asking engine (and hears of the next one).
    const heard: string[] = [];
    firing.subscribe((event) => heard.push(event.intentId));
    const asked: string[] = [];
    await eventually(
      async () => {
        if (!asked.some((intentId) => heard.includes(intentId))) {
          asked.push((await asking.requestHuman({ assignee: 'ann@acme.test', timeout: '1h' })).intentId);
        }
        expect(asked.some((intentId) => heard.includes(intentId))).toBe(true);
      },
      { interval: 100 },
    );
    const task = await asking.requestHuman({ assignee: 'ann@acme.test', timeout: 300 });
    await eventually(async () => expect((await firing.getTask(task.id)).status).toBe('timed_out'));
    const lease = layout.timerLease(timerId({ taskId: task.id, kind: 'deadline', count: 0 }));
    expect(leases).toEqual([lease]);
    // Released in the commit of the event that fired it, not by a call of its own.
    expect(released).toEqual([]);
    expect(await store.readClaims([lease])).toEqual([undefined]);
    await timedOutOnce(firing, [task]);
    expect(backgroundErrors).toEqual([]);
  });

  it('fires without leases beside engines that fire no timers (`timers: false`)', async () => {
    const spec = storeCase.spec();
    const { watched, leases } = await open(spec);
    const firing = await engineFor('unused', { store: watched });
    const asking = await engineFor(spec, { timers: false });
    const deciding = await engineFor(spec, { timers: false });
    // Both other engines record events the firing engine hears of; neither can fire its timers.
    const decided = await asking.requestHuman({ assignee: 'ann@acme.test' });
    await deciding.decide(decided.id, { outcome: 'approved', actor: 'ann@acme.test' });
    await eventually(async () => expect((await firing.getTask(decided.id)).status).toBe('decided'));
    const tasks = await Promise.all(
      Array.from({ length: 4 }, (_, at) =>
        asking.requestHuman({ assignee: 'ann@acme.test', title: `T${at}`, timeout: 300 }),
      ),
    );
    await eventually(async () => {
      for (const task of tasks) expect((await firing.getTask(task.id)).status).toBe('timed_out');
    });
    expect(leases).toEqual([]);
    await timedOutOnce(firing, tasks);
    expect(backgroundErrors).toEqual([]);
  });

  it('records each deadline once when two engines that cannot hear each other fire one backlog', async () => {
    const spec = storeCase.spec();
    const seeder = await engineFor(spec, { timers: false });
    const tasks = await Promise.all(
      Array.from({ length: 40 }, (_, at) =>
        seeder.requestHuman({ assignee: 'ann@acme.test', title: `Backlog ${at}`, timeout: 1 }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Deaf to wake-ups: neither learns of the other, so both fire without leases.
    const deaf = { subscribe: () => () => {} };
    const first = await open(spec, deaf);
    const second = await open(spec, deaf);
    const engines = await Promise.all([
      engineFor('unused', { store: first.watched }),
      engineFor('unused', { store: second.watched }),
    ]);
    await eventually(async () => {
      for (const task of tasks) expect((await seeder.getTask(task.id)).status).toBe('timed_out');
    });
    expect([...first.leases, ...second.leases]).toEqual([]);
    await Promise.all(engines.map((engine) => engine.close()));
    await timedOutOnce(seeder, tasks);
    expect(backgroundErrors).toEqual([]);
  });
});
