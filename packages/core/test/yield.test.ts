import { setImmediate } from 'node:timers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { yieldIfLong } from '../src/engine/yield.js';

// `yieldIfLong` measures stretches of work with `performance.now()`. Here that clock moves only by
// the work the test says it does: on a busy machine the process may be descheduled for tens of
// milliseconds in the middle of "3 ms of work", and a wall clock would count that as work.
let now = 0;

beforeEach(() => {
  now = 1_000_000;
  vi.spyOn(performance, 'now').mockImplementation(() => now);
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Hold the event loop for `ms` of the test's clock, as a synchronous store statement does. */
function busy(ms: number): void {
  now += ms;
}

describe('yieldIfLong', () => {
  it('lets the event loop in once a stretch is over, for every loop working at once', async () => {
    // Eight loops of 4 ms items (the timer loop's eight workers on SQLite), and a check-phase ticker
    // that counts the items run between two turns of the event loop.
    let sinceTurn = 0;
    let most = 0;
    let running = true;
    const tick = () => {
      most = Math.max(most, sinceTurn);
      sinceTurn = 0;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const loop = async () => {
      for (let item = 0; item < 40; item++) {
        busy(4);
        sinceTurn++;
        await yieldIfLong();
      }
    };
    await Promise.all(Array.from({ length: 8 }, loop));
    running = false;
    // One shared stretch of 20 ms (5 items) plus the item each other loop is in when it ends: at most
    // 5 + 8. With a yield per loop, the loops resumed one after another, each for a stretch of its
    // own, before the event loop got its next turn (8 × 5 = 40 items, 160 ms).
    expect(most).toBeGreaterThanOrEqual(5);
    expect(most).toBeLessThanOrEqual(13);
  });

  it('never yields work shorter than a stretch', async () => {
    let turns = 0;
    // A fresh stretch: whatever ran before ends with this turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setImmediate(resolve));
    for (let item = 0; item < 3; item++) {
      busy(1);
      if (yieldIfLong() !== undefined) turns++;
    }
    expect(turns).toBe(0);
  });
});
