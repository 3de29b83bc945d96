import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuditEvent,
  createHoldpoint,
  createStore,
  type HumanResult,
  type StoreBackend,
  StoreUnavailableError,
} from '../src/index.js';
import { backgroundErrors, engineFor } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { watchReads, wrapStore } from './helpers/wrap-store.js';

// `waitForHuman` registers its waiter on the task it just created without reading the store: the
// state that event made is current, unless this engine changed the intent since or heard from
// another engine meanwhile — then the waiter is checked on a fresh read, as it always was. The
// waiters' safety-net poll is a day here, so a waiter that missed its decision would hang.

/** The waiter's result, or a failure naming what hung. */
function settledWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    sleep(ms, undefined, { ref: false }).then(() => {
      throw new Error(`${what}: not settled after ${ms} ms`);
    }),
  ]);
}

describe.each(storeCases)('registering a waiter on $name', (storeCase) => {
  const stores: StoreBackend[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  async function readsCounted(spec: string) {
    const store = await createStore(spec);
    stores.push(store);
    return watchReads(store);
  }

  it('reads nothing for a task the same call created, and resumes on the decision', async () => {
    const { watched, calls } = await readsCounted(storeCase.spec());
    const hp = await engineFor('unused', { store: watched, timers: false, pollInterval: '24h' });
    let taskId: string | undefined;
    hp.subscribe((event) => {
      if (event.type === 'task-created') taskId = event.taskId;
    });
    const waiting = hp.waitForHuman({ assignee: 'ann@acme.test', title: 'Refund 1' });
    while (taskId === undefined) await sleep(1);
    // Registered by now (it follows the creation within the same turn).
    await sleep(20);
    await hp.decide(taskId, { outcome: 'approved', actor: 'ann@acme.test' });
    const result = await settledWithin(waiting, 5_000, 'the waiter');
    expect(result).toMatchObject({ outcome: 'approved', actor: { id: 'ann@acme.test' } });
    expect(calls).toEqual([]);
    expect(backgroundErrors).toEqual([]);
  });

  it('resumes a waiter whose task was decided on this engine before the waiter registered', async () => {
    // The delivery hook of `task-created` runs before `waitForHuman` registers its waiter; here it
    // decides the task, so the state the task was created in is no longer current.
    const { watched, calls } = await readsCounted(storeCase.spec());
    const decided: Array<Promise<unknown>> = [];
    const hp = await engineFor('unused', {
      store: watched,
      timers: false,
      pollInterval: '24h',
      notify: async (notification) => {
        if (notification.type !== 'task-created') return;
        const decision = hp.decide(notification.task.id, { outcome: 'rejected', actor: 'ann@acme.test' });
        decided.push(decision);
        await decision;
      },
    });
    const result: HumanResult = await settledWithin(
      hp.waitForHuman({ assignee: 'ann@acme.test', title: 'Refund 2' }),
      5_000,
      'the waiter of a task decided before it registered',
    );
    expect(result).toMatchObject({ outcome: 'rejected' });
    expect(decided).toHaveLength(1);
    // The waiter was checked on a fresh read (of the events after the cached state).
    expect(calls.length).toBeGreaterThan(0);
    expect(backgroundErrors).toEqual([]);
  });

  it('hands a listener the events another engine announced when the first reads of them fail', async () => {
    const spec = storeCase.spec();
    const announcing = await engineFor(spec, { timers: false, pollInterval: '24h' });
    const base = await createStore(spec);
    stores.push(base);
    // The listening engine's store fails its next reads of claims and records, as an overloaded one would.
    let failing = 0;
    const fail = <T>(read: () => Promise<T>): Promise<T> => {
      if (failing <= 0) return read();
      failing--;
      return Promise.reject(
        new StoreUnavailableError({
          store: base.kind,
          operation: 'read',
          cause: new Error('too many clients'),
        }),
      );
    };
    const flaky = wrapStore(base, {
      readClaims: (keys) => fail(() => base.readClaims(keys)),
      readRecords: (keys) => fail(() => base.readRecords(keys)),
      close: async () => {},
    });
    const errors: unknown[] = [];
    const listening = await createHoldpoint({
      store: flaky,
      timers: false,
      onError: (error) => errors.push(error),
    });
    try {
      const heard: AuditEvent[] = [];
      listening.subscribe((event) => heard.push(event));
      // Until the listening engine hears the other's events (its subscription is up), nothing is tested.
      for (let at = 0; heard.length === 0; at++) {
        await announcing.requestHuman({ assignee: 'bob@acme.test', title: `Warm-up ${at}` });
        await sleep(50);
      }
      failing = 2;
      const task = await announcing.requestHuman({ assignee: 'bob@acme.test', title: 'Refund 7' });
      await expect
        .poll(() => heard.some((event) => event.type === 'task-created' && event.taskId === task.id), {
          timeout: 5_000,
        })
        .toBe(true);
      expect(failing).toBe(0);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((error) => StoreUnavailableError.isInstance(error))).toBe(true);
    } finally {
      await listening.close();
    }
  });

  it('resumes a waiter whose task another engine decides as soon as it hears of it', async () => {
    const spec = storeCase.spec();
    const asking = await engineFor(spec, { timers: false, pollInterval: '24h' });
    const deciding = await engineFor(spec, { timers: false, pollInterval: '24h' });
    const decisions: Array<Promise<unknown>> = [];
    let heard = false;
    deciding.subscribe((event) => {
      if (event.type !== 'task-created' || event.taskId === undefined) return;
      if (!heard) heard = true;
      else decisions.push(deciding.decide(event.taskId, { outcome: 'approved', actor: 'bob@acme.test' }));
    });
    // Until the deciding engine hears the other's events (its subscription is up), nothing is tested.
    for (let at = 0; !heard; at++) {
      await asking.requestHuman({ assignee: 'bob@acme.test', title: `Warm-up ${at}` });
      await sleep(50);
    }
    for (let round = 0; round < 5; round++) {
      const result = await settledWithin(
        asking.waitForHuman({ assignee: 'bob@acme.test', title: `Refund ${3 + round}` }),
        10_000,
        `the waiter of round ${round}`,
      );
      expect(result).toMatchObject({ outcome: 'approved', actor: { id: 'bob@acme.test' } });
    }
    await Promise.all(decisions);
    expect(decisions).toHaveLength(5);
    expect(backgroundErrors).toEqual([]);
  });
});
