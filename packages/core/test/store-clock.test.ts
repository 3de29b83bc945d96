import { afterEach, describe, expect, it } from 'vitest';
import { ClockSkewWarning, storeClock } from '../src/engine/store-clock.js';
import { createHoldpoint, createStore, type Holdpoint, type StoreBackend } from '../src/index.js';
import { errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

const opened: Array<StoreBackend | Holdpoint> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((item) => item.close()));
});

async function open(spec: string): Promise<StoreBackend> {
  const store = await createStore(spec);
  opened.push(store);
  return store;
}

describe.each(storeCases.filter((storeCase) => storeCase.name !== 'memory'))(
  "the store's clock on $name",
  (storeCase) => {
    it('reads the time of this host within a few ms (the store and this test share the host)', async () => {
      await storeCase.ready();
      const store = await open(storeCase.spec());
      const before = Date.now();
      const storeNow = await store.readClock?.();
      const after = Date.now();
      expect(Number.isInteger(storeNow)).toBe(true);
      expect(storeNow).toBeGreaterThanOrEqual(before - 2);
      expect(storeNow).toBeLessThanOrEqual(after + 2);
    });

    it('gives an engine on a host in time the host clock exactly, and reports nothing', async () => {
      await storeCase.ready();
      const store = await open(storeCase.spec());
      const errors: unknown[] = [];
      const clock = await storeClock(store, (error) => errors.push(error));
      clock.close();
      expect(clock.offsetMs()).toBe(0);
      expect(errors).toEqual([]);
    });
  },
);

describe('an engine on a host whose clock is off the store’s', () => {
  /** A memory store whose clock reads `skewMs` ahead of this process. */
  async function skewedStore(skewMs: number) {
    const inner = await open(`memory://skew-${Math.random()}`);
    return wrapStore(inner, { readClock: async () => Date.now() + skewMs });
  }

  it('takes deadlines and audit times from the store’s clock and reports the skew once', async () => {
    const store = await skewedStore(300_000);
    const errors: unknown[] = [];
    const hp = await createHoldpoint({ store, timers: false, onError: (error) => errors.push(error) });
    opened.push(hp);
    const before = Date.now();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', timeout: '2m' });
    const createdAt = Date.parse(task.createdAt);
    expect(createdAt).toBeGreaterThanOrEqual(before + 300_000 - 10);
    expect(createdAt).toBeLessThanOrEqual(Date.now() + 300_000 + 10);
    expect(Date.parse(task.deadlineAt ?? '') - createdAt).toBe(120_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ClockSkewWarning);
    expect((errors[0] as Error).message).toMatch(/host's clock is 300\.0 s behind the memory store's/);
  });

  it('keeps following the store’s clock when the host clock moves', async () => {
    let skew = -90_000;
    const inner = await open(`memory://skew-${Math.random()}`);
    const store = wrapStore(inner, { readClock: async () => Date.now() + skew });
    const errors: ClockSkewWarning[] = [];
    const clock = await storeClock(store, (error) => errors.push(error as ClockSkewWarning));
    try {
      expect(Math.abs(clock.offsetMs() + 90_000)).toBeLessThanOrEqual(5);
      // The host's clock was stepped: the next reading (every minute, or now by hand) follows it.
      skew = 30_000;
      await clock.resync();
      expect(Math.abs(clock.offsetMs() - 30_000)).toBeLessThanOrEqual(5);
      expect(Math.abs(clock.now() - (Date.now() + 30_000))).toBeLessThanOrEqual(5);
      // The same skew again is not reported again.
      await clock.resync();
    } finally {
      clock.close();
    }
    expect(errors.map((error) => Math.round(error.offsetMs / 1000))).toEqual([-90, 30]);
    expect(errors[0]?.message).toMatch(/90\.0 s ahead of the memory store's/);
    expect(errors[1]?.message).toMatch(/30\.0 s behind the memory store's/);
  });

  it("uses this process's clock with clock: 'local', and refuses an unknown clock", async () => {
    const store = await skewedStore(300_000);
    const hp = await createHoldpoint({ store, timers: false, clock: 'local', onError: () => {} });
    opened.push(hp);
    const before = Date.now();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    expect(Date.parse(task.createdAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(task.createdAt)).toBeLessThanOrEqual(Date.now());
    const error = await errorOf(createHoldpoint({ store, clock: 'host' as never }));
    expect(error).toMatchObject({ code: 'VALIDATION', field: 'createHoldpoint.clock' });
  });

  it('fails the start with the store’s error when its clock cannot be read, and closes what it opened', async () => {
    const inner = await open(`memory://skew-${Math.random()}`);
    let closed = false;
    const store = wrapStore(inner, {
      readClock: async () => {
        throw new Error('clock read refused');
      },
      close: async () => {
        closed = true;
      },
    });
    await expect(createHoldpoint({ store, onError: () => {} })).rejects.toThrow('clock read refused');
    // A backend the caller built stays theirs to close.
    expect(closed).toBe(false);
  });
});
