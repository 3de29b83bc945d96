import { eventually } from '@holdpoint/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { TimerLoop } from '../src/engine/timer-loop.js';
import { createStore, type StoreBackend } from '../src/index.js';
import { layout } from '../src/store/layout.js';
import { wrapStore } from './helpers/wrap-store.js';

// The timer loop alone, over the memory store, with a host that stands in for the engine: what it
// fires, in which order, and when it reads the due index.

interface Firing {
  timerId: string;
  startedAt: number;
  endedAt?: number;
}

describe('the timer loop', () => {
  const loops: TimerLoop[] = [];
  const stores: StoreBackend[] = [];
  afterEach(async () => {
    await Promise.all(loops.splice(0).map((loop) => loop.close()));
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  /** A loop whose firings take what `fire` says (`'slow'` waits for `release`, `'leased'` is another engine's). */
  async function loopWith(behaviour: (timerId: string) => 'done' | 'slow' | 'leased') {
    const store = await createStore('memory://');
    stores.push(store);
    // A round reads what is due by now (`max`); after it, the loop reads the first entry to plan the next.
    let reads = 0;
    let plans = 0;
    const counted = wrapStore(store, {
      indexRange: (index, options) => {
        if (index === layout.dueIndex && options.max !== undefined) reads++;
        else if (index === layout.dueIndex) plans++;
        return store.indexRange(index, options);
      },
    });
    const firings: Firing[] = [];
    const errors: unknown[] = [];
    let release: () => void = () => {};
    const released = new Promise<void>((done) => {
      release = done;
    });
    const loop = new TimerLoop({
      store: counted,
      engineId: 'eng_test',
      now: Date.now,
      pollIntervalMs: 60_000,
      enabled: true,
      onError: (error) => errors.push(error),
      host: {
        fire: async (timerId) => {
          const firing: Firing = { timerId, startedAt: performance.now() };
          firings.push(firing);
          const kind = behaviour(timerId);
          if (kind === 'slow') await released;
          firing.endedAt = performance.now();
          if (kind === 'leased') return false;
          // The engine's event takes the timer out of the index in its own commit.
          await store.indexRemove(layout.dueIndex, [timerId]);
          return 'removed';
        },
        afterRound: async () => {},
      },
    });
    loops.push(loop);
    /** Timers due now, in the index only: as timers made long ago fall due, nobody tells the loop. */
    const due = async (timerIds: string[], at = Date.now() - 1) => {
      await store.indexAdd(
        layout.dueIndex,
        timerIds.map((member) => ({ member, score: at })),
      );
    };
    return { loop, firings, errors, release, due, reads: () => reads, plans: () => plans, store };
  }

  const fired = (firings: Firing[]) =>
    firings.filter((firing) => firing.endedAt !== undefined).map((firing) => firing.timerId);

  it('fires timers that fall due while a slow firing is in flight, without waiting for it to end', async () => {
    const { loop, firings, errors, release, due } = await loopWith((timerId) =>
      timerId.startsWith('tsk_slow') ? 'slow' : 'done',
    );
    await due(['tsk_slow|deadline', 'tsk_a|deadline', 'tsk_b|deadline']);
    loop.start();
    try {
      await eventually(() => expect(fired(firings).sort()).toEqual(['tsk_a|deadline', 'tsk_b|deadline']));
      // Falls due while the slow one still fires (and nobody tells the loop): it fires now, not after the slow one.
      await due(['tsk_late|reminder|1']);
      await eventually(() => expect(fired(firings)).toContain('tsk_late|reminder|1'), { timeout: 2_000 });
      expect(firings.find((firing) => firing.timerId === 'tsk_slow|deadline')?.endedAt).toBeUndefined();
    } finally {
      release();
    }
    await eventually(() => expect(fired(firings)).toContain('tsk_slow|deadline'));
    expect(firings.map((firing) => firing.timerId).sort()).toEqual(
      ['tsk_a|deadline', 'tsk_b|deadline', 'tsk_late|reminder|1', 'tsk_slow|deadline'].sort(),
    );
    expect(errors).toEqual([]);
  });

  it("fires one task's timers one after another, in due order, and many tasks' at once", async () => {
    const { loop, firings, errors, store } = await loopWith(() => 'done');
    const now = Date.now();
    await store.indexAdd(
      layout.dueIndex,
      Array.from({ length: 150 }, (_, index) => [
        { member: `tsk_${index}|reminder|1`, score: now - 300 + index },
        { member: `tsk_${index}|deadline`, score: now - 100 + index },
      ]).flat(),
    );
    loop.start();
    await eventually(() => expect(fired(firings)).toHaveLength(300));
    for (let index = 0; index < 150; index++) {
      const reminder = firings.find((firing) => firing.timerId === `tsk_${index}|reminder|1`);
      const deadline = firings.find((firing) => firing.timerId === `tsk_${index}|deadline`);
      // The deadline starts only once the reminder has ended.
      expect(deadline?.startedAt).toBeGreaterThanOrEqual(reminder?.endedAt ?? Number.POSITIVE_INFINITY);
    }
    expect(await store.indexRange(layout.dueIndex, { limit: 10 })).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("holds back a task's later timers for the round when an earlier one is another engine's", async () => {
    const { loop, firings, errors, due, plans, store } = await loopWith((timerId) =>
      timerId === 'tsk_x|reminder|1' ? 'leased' : 'done',
    );
    const now = Date.now();
    await store.indexAdd(layout.dueIndex, [
      { member: 'tsk_x|reminder|1', score: now - 20 },
      { member: 'tsk_x|deadline', score: now - 10 },
    ]);
    // Other tasks, so that the round reads again after the reminder was left.
    await due(Array.from({ length: 40 }, (_, index) => `tsk_${index}|deadline`));
    loop.start();
    await eventually(() => expect(plans()).toBeGreaterThan(0));
    expect(fired(firings)).toHaveLength(41);
    // The reminder was tried and left; the deadline behind it was not fired ahead of it.
    expect(firings.map((firing) => firing.timerId)).toContain('tsk_x|reminder|1');
    expect(firings.map((firing) => firing.timerId)).not.toContain('tsk_x|deadline');
    expect((await store.indexRange(layout.dueIndex, { limit: 10 })).map((entry) => entry.member)).toEqual([
      'tsk_x|reminder|1',
      'tsk_x|deadline',
    ]);
    expect(errors).toEqual([]);
  });

  it("ends a round when all that is due is another engine's, after a read or two: it does not spin", async () => {
    const { loop, firings, errors, due, reads, plans } = await loopWith(() => 'leased');
    await due(Array.from({ length: 20 }, (_, index) => `tsk_${index}|deadline`));
    loop.start();
    // The round is over once the loop plans the next one.
    await eventually(() => expect(plans()).toBeGreaterThan(0));
    expect(firings).toHaveLength(20);
    // One read found them; at most one more per ended firing, each finding nothing new (they are
    // another engine's for this round). A loop that read again while nothing changed would spin.
    expect(reads()).toBeGreaterThanOrEqual(1);
    expect(reads()).toBeLessThanOrEqual(21);
    expect(errors).toEqual([]);
  });
});
