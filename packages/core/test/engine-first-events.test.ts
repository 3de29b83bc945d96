import { eventually } from '@holdpoint/test-services';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, createStore, type StoreBackend } from '../src/index.js';
import { layout, timerId } from '../src/store/layout.js';
import { auditEvents, backgroundErrors, engineFor, errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

// `requestHuman` / `waitForHuman` without an intent start one: its `intent-submitted`, the task's
// `task-created` with its timers, and the idempotency key are recorded in one store transaction
// (`appendEvents`) — all of it or none, one commit where the events one at a time made three.

describe.each(storeCases)('an implicit intent and its task in one transaction on $name', (storeCase) => {
  const stores: StoreBackend[] = [];
  beforeAll(() => storeCase.ready());
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  /** The store, and the same store with its writes written down (and `appendEvents` failing while `fail` says so). */
  async function counted(spec: string, options: { batches?: boolean } = {}) {
    const store = await createStore(spec);
    stores.push(store);
    const writes: string[] = [];
    const failing = { appendEvents: 0 };
    const watched = (name: string) => writes.push(name);
    const overrides: Partial<StoreBackend> = {
      claim: (key, value, ttl) => {
        // Timer leases are the timer loop's, not the request's.
        if (!key.startsWith('lease')) watched('claim');
        return store.claim(key, value, ttl);
      },
      indexAdd: (index, entries) => {
        watched('indexAdd');
        return store.indexAdd(index, entries);
      },
      appendEvent: (key, value, feed, eventWrites) => {
        watched('appendEvent');
        return store.appendEvent(key, value, feed, eventWrites);
      },
    };
    if (options.batches !== false) {
      overrides.appendEvents = async (events, eventWrites, claims) => {
        watched('appendEvents');
        if (failing.appendEvents > 0) {
          failing.appendEvents--;
          throw new Error('connection reset (test)');
        }
        return (store.appendEvents as NonNullable<StoreBackend['appendEvents']>)(events, eventWrites, claims);
      };
    }
    return { store, watchedStore: wrapStore(store, overrides), writes, failing };
  }

  it('records intent-submitted, task-created, its timers and the key in one write; a retry stores nothing', async () => {
    const { store, watchedStore, writes } = await counted(storeCase.spec());
    const hp = await engineFor('unused', { store: watchedStore, timers: false });
    const request = {
      assignee: 'ann@acme.test',
      title: 'Refund order 1',
      timeout: '2h',
      remind: { after: '1h' },
      idempotencyKey: 'refund-1',
    };
    const task = await hp.requestHuman(request);
    expect(writes).toEqual(['appendEvents']);
    expect((await auditEvents(hp, task.intentId)).map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
    ]);
    expect(await hp.audit.verify(await hp.audit.export(task.intentId))).toMatchObject({ ok: true });
    expect(
      (await store.indexRange(layout.dueIndex, { limit: 10 })).map((entry) => entry.member).sort(),
    ).toEqual(
      [
        timerId({ taskId: task.id, kind: 'deadline', count: 0 }),
        timerId({ taskId: task.id, kind: 'remind', count: 1 }),
      ].sort(),
    );
    expect(
      (await hp.listTasks({ assignee: 'ann@acme.test', status: 'pending' })).tasks.map((t) => t.id),
    ).toEqual([task.id]);
    expect(await hp.taskCounts()).toMatchObject({ pending: 1, total: 1 });
    expect(await hp.taskCounts({ assignee: 'ann@acme.test' })).toMatchObject({ pending: 1 });

    // The same request again (an agent that restarted): the same task. Its one write finds the key
    // held and stores nothing; the key is then read, not claimed again.
    writes.length = 0;
    expect(await hp.requestHuman(request)).toMatchObject({ id: task.id, intentId: task.intentId });
    expect(writes).toEqual(['appendEvents']);
    expect(await hp.taskCounts()).toMatchObject({ pending: 1, total: 1 });
    expect((await auditEvents(hp, task.intentId)).length).toBe(2);
    // Another request under the key is refused, as before.
    expect(await errorOf(hp.requestHuman({ ...request, title: 'Refund order 2' }))).toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
    });
    // Without a key: one write too.
    writes.length = 0;
    await hp.requestHuman({ assignee: 'bob@acme.test' });
    expect(writes).toEqual(['appendEvents']);
    expect(backgroundErrors).toEqual([]);
  });

  it('gives concurrent requests with one key, on two engines, one task, asked once', async () => {
    const spec = storeCase.spec();
    const engines = [await engineFor(spec, { timers: false }), await engineFor(spec, { timers: false })];
    const tasks = await Promise.all(
      Array.from({ length: 12 }, (_, at) =>
        (engines[at % 2] as (typeof engines)[number]).requestHuman({
          assignee: 'ann@acme.test',
          idempotencyKey: 'one-key',
        }),
      ),
    );
    expect(new Set(tasks.map((task) => task.id)).size).toBe(1);
    const [task] = tasks;
    expect((await auditEvents(engines[0] as (typeof engines)[number], task?.intentId as string)).length).toBe(
      2,
    );
    const listed = await engines[1]?.listTasks({ assignee: 'ann@acme.test' });
    expect(listed?.tasks.map((t) => t.id)).toEqual([task?.id]);
  });

  it('records nothing when the write fails; the retry under the same key asks once', async () => {
    const { store, watchedStore, failing } = await counted(storeCase.spec());
    const hp = await engineFor('unused', { store: watchedStore, timers: false });
    failing.appendEvents = 1;
    const request = { assignee: 'ann@acme.test', timeout: '1h', idempotencyKey: 'flaky-1' };
    expect(await errorOf(hp.requestHuman(request))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await store.readClaims([layout.taskIdempotencyKey('flaky-1')])).toEqual([undefined]);
    expect(await store.indexRange(layout.dueIndex, { limit: 10 })).toEqual([]);
    expect((await hp.listTasks()).tasks).toEqual([]);
    const task = await hp.requestHuman(request);
    expect((await hp.listTasks()).tasks.map((t) => t.id)).toEqual([task.id]);
    expect((await store.indexRange(layout.dueIndex, { limit: 10 })).map((entry) => entry.member)).toEqual([
      timerId({ taskId: task.id, kind: 'deadline', count: 0 }),
    ]);
  });

  it("shows another engine's listeners both events", async () => {
    const spec = storeCase.spec();
    const asking = await engineFor(spec, { timers: false });
    const watching = await engineFor(spec, { timers: false });
    const seen: AuditEvent[] = [];
    watching.subscribe((event) => seen.push(event));
    // Subscribing to the store's messages may take a moment (Redis, PostgreSQL): ask until one
    // request's events arrive, then check that every request's arrived whole.
    const asked: string[] = [];
    await eventually(
      async () => {
        asked.push((await asking.requestHuman({ assignee: 'ann@acme.test' })).intentId);
        expect(seen.length).toBeGreaterThan(0);
      },
      { interval: 100 },
    );
    const last = asked.at(-1) as string;
    await eventually(() =>
      expect(seen.filter((event) => event.intentId === last).map((event) => event.type)).toEqual([
        'intent-submitted',
        'task-created',
      ]),
    );
    for (const intentId of new Set(seen.map((event) => event.intentId))) {
      expect(seen.filter((event) => event.intentId === intentId).map((event) => event.seq)).toEqual([1, 2]);
    }
  });

  it('records the events one at a time, the key claimed first, on a backend that cannot batch them', async () => {
    const { watchedStore, writes } = await counted(storeCase.spec(), { batches: false });
    expect(watchedStore.appendEvents).toBeUndefined();
    const hp = await engineFor('unused', { store: watchedStore, timers: false });
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', timeout: '1h', idempotencyKey: 'k' });
    expect(writes).toEqual(['claim', 'appendEvent', 'appendEvent']);
    expect((await auditEvents(hp, task.intentId)).map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
    ]);
    expect(
      await hp.requestHuman({ assignee: 'ann@acme.test', timeout: '1h', idempotencyKey: 'k' }),
    ).toMatchObject({
      id: task.id,
    });
  });
});
