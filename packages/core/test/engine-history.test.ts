import { describe, expect, it } from 'vitest';
import type { Holdpoint, HumanTask } from '../src/index.js';
import { createStore } from '../src/store/create-store.js';
import { layout } from '../src/store/layout.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { auditEvents, engineFor, errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

const ann = 'ann@acme.test';

/** Bytes the engine wrote to and read from the store (claims, events, records and Keyv), since the last reset. */
interface Traffic {
  written: number;
  read: number;
}

/** A backend that counts the bytes passing through it — Keyv's included — in `traffic`. */
function countingStore(store: StoreBackend, traffic: Traffic): StoreBackend {
  const sizeOf = (value: unknown) => (value === undefined ? 0 : JSON.stringify(value).length);
  const keyv = new Proxy(store.keyv, {
    get(target, property, receiver) {
      if (property === 'set') {
        return async (key: string, value: unknown, ttl?: number) => {
          traffic.written += sizeOf(value);
          return target.set(key, value, ttl);
        };
      }
      if (property === 'get') {
        return async (key: string) => {
          const value = await target.get(key);
          traffic.read += sizeOf(value);
          return value;
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const counted = (values: (string | undefined)[]) => {
    for (const value of values) traffic.read += value?.length ?? 0;
    return values;
  };
  return wrapStore(store, {
    keyv,
    claim: (key, value, ttl) => {
      traffic.written += value.length;
      return store.claim(key, value, ttl);
    },
    appendEvent: (key, value, feed, writes) => {
      traffic.written += value.length;
      for (const record of writes?.records ?? []) traffic.written += record.value.length;
      return store.appendEvent(key, value, feed, writes);
    },
    readClaims: async (keys) => counted(await store.readClaims(keys)),
    readRecords: async (keys) => counted(await store.readRecords(keys)),
  });
}

/** One gate of a long agent session: a task asked for and decided (two events). */
async function gate(engine: Holdpoint, intentId: string, n: number): Promise<string> {
  const task = await engine.requestHuman({
    intentId,
    assignee: ann,
    title: 'Run step',
    context: { step: n },
  });
  await engine.decide(task.id, { outcome: 'approved', actor: ann });
  return task.id;
}

describe.each(storeCases)('an intent with a long history on $name', (storeCase) => {
  it('writes and reads as much per change and per cold read at 5,000 events as at 100', async () => {
    await storeCase.ready();
    const spec = storeCase.spec();
    const traffic: Traffic = { written: 0, read: 0 };
    const backends: StoreBackend[] = [await createStore(spec), await createStore(spec)];
    try {
      const agent = await engineFor('unused', {
        store: countingStore(backends[0] as StoreBackend, traffic),
        timers: false,
      });
      const intent = await agent.submit({ type: 'agent-session' });
      const taskIds: string[] = [];
      /** Bytes of 8 gates (16 events: snapshots were written every 8) and of a cold getTask by a new engine. */
      const measure = async () => {
        traffic.written = 0;
        traffic.read = 0;
        for (let n = 0; n < 8; n++) taskIds.push(await gate(agent, intent.id, taskIds.length));
        const perGates = { ...traffic };
        traffic.written = 0;
        traffic.read = 0;
        // A new engine: nothing cached (another process, or this one after a restart).
        const cold = await engineFor('unused', {
          store: countingStore(backends[1] as StoreBackend, traffic),
          timers: false,
        });
        const early = await cold.getTask(taskIds[3] as string);
        expect(early).toMatchObject({ status: 'decided', context: { step: 3 } });
        await cold.close();
        return { written: perGates.written, read: perGates.read, coldRead: traffic.read };
      };
      while (taskIds.length < 50) taskIds.push(await gate(agent, intent.id, taskIds.length));
      const short = await measure();
      while (taskIds.length < 2_500) taskIds.push(await gate(agent, intent.id, taskIds.length));
      const long = await measure();
      expect((await agent.getIntent(intent.id)).seq).toBeGreaterThan(5_000);
      // The same work costs the same: what grows with the history (the whole state was rewritten
      // every 8 events, 1.3 MB at 5,000; a cold read read all of it) would be 20–100 times more.
      expect(long.written).toBeLessThan(short.written * 1.5);
      expect(long.read).toBeLessThan(short.read * 1.5 + 1_000);
      expect(long.coldRead).toBeLessThan(short.coldRead * 1.5);
      // And the intent still lists every task id, in order.
      expect((await agent.getIntent(intent.id)).taskIds).toEqual(taskIds);
    } finally {
      await Promise.all(backends.map((backend) => backend.close()));
    }
  }, 600_000);
});

describe.each(storeCases)('an intent recorded by an engine before the records, on $name', (storeCase) => {
  it.each([
    ['its events alone', false],
    ['an old snapshot and the events after it', true],
  ])(
    'is read from %s, and its next event writes every record',
    async (_, withSnapshot) => {
      await storeCase.ready();
      const spec = storeCase.spec();
      const backend = await createStore(spec);
      try {
        // An engine that writes events but no records, as engines before them did.
        const old = await engineFor('unused', {
          store: wrapStore(backend, {
            appendEvent: (key, value, feed, writes) =>
              backend.appendEvent(key, value, feed, { ...writes, records: [] }),
          }),
          timers: false,
        });
        const intent = await old.submit({ type: 'agent-session' });
        const taskIds: string[] = [];
        while (taskIds.length < 70) taskIds.push(await gate(old, intent.id, taskIds.length));
        const open = await old.requestHuman({ intentId: intent.id, assignee: ann, title: 'Ship it' });
        taskIds.push(open.id);
        expect(
          await errorOf(old.decide(open.id, { outcome: 'approved', actor: 'eve@else.test' })),
        ).toMatchObject({
          code: 'NOT_ASSIGNED',
        });
        if (withSnapshot) {
          // The whole state at this point, as the engines before the records kept it in Keyv (read
          // by an engine that folds the chain, since there are no records).
          const reader = await engineFor(spec, { timers: false });
          const events = await auditEvents(reader, intent.id);
          const listed = await reader.listTasks({ intentId: intent.id, limit: 1000 });
          await backend.keyv.set(layout.snapshotKey(intent.id), {
            intent: await reader.getIntent(intent.id),
            tasks: Object.fromEntries(listed.tasks.map((task: HumanTask) => [task.id, task])),
            headHash: events.at(-1)?.hash,
            recentEventIds: events.slice(-64).map((event) => event.id),
            once: [`refused:${open.id}:eve@else.test`],
          });
          // And events after the snapshot.
          for (let n = 0; n < 2; n++) taskIds.push(await gate(old, intent.id, taskIds.length));
        }
        const engine = await engineFor(spec, { timers: false });
        // A list finds such tasks though they have no records (read through their intent's state).
        const pending = await engine.listTasks({ assignee: ann, status: 'pending' });
        expect(pending.tasks.map((task: HumanTask) => task.id)).toEqual([open.id]);
        const decided = await engine.listTasks({ assignee: ann, status: 'decided', limit: 1000 });
        expect(decided.tasks).toHaveLength(taskIds.length - 1);
        expect(await engine.getTask(taskIds[5] as string)).toMatchObject({
          status: 'decided',
          context: { step: 5 },
        });
        expect((await engine.getIntent(intent.id)).taskIds).toEqual(taskIds);
        // The refusal is recorded once per person and task, whatever engine kept the mark.
        await errorOf(engine.decide(open.id, { outcome: 'approved', actor: 'eve@else.test' }));
        const refusals = (await auditEvents(engine, intent.id)).filter(
          (event) => event.type === 'task-decision-refused',
        );
        expect(refusals).toHaveLength(1);
        expect(await engine.decide(open.id, { outcome: 'approved', actor: ann })).toMatchObject({
          status: 'decided',
        });

        // From here on the intent is read from its records: a cold engine finds every task without
        // reading a single event (a fold of the chain would read all 140-odd).
        await backend.keyv.delete(layout.snapshotKey(intent.id));
        let eventsRead = 0;
        const cold = await engineFor('unused', {
          store: wrapStore(backend, {
            readClaims: async (keys) => {
              const values = await backend.readClaims(keys);
              eventsRead += values.filter((value) => value !== undefined).length;
              return values;
            },
          }),
          timers: false,
        });
        for (const taskId of [taskIds[0], taskIds[64], open.id] as string[])
          expect((await cold.getTask(taskId)).id).toBe(taskId);
        expect(eventsRead).toBe(0);
        expect((await cold.getIntent(intent.id)).taskIds).toEqual(taskIds);
        expect((await cold.listTasks({ intentId: intent.id, limit: 1000 })).tasks).toHaveLength(
          taskIds.length,
        );
      } finally {
        await backend.close();
      }
    },
    300_000,
  );
});
