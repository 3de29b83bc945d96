import { eventually } from '@holdpoint/test-services';
import { vi } from 'vitest';

// Captured before any clock is faked: waiting for store I/O must not move the fake clock.
const realSetTimeout = globalThis.setTimeout;
const pause = (ms: number) => new Promise((resolve) => realSetTimeout(resolve, ms));

/** Fake `setTimeout`, `setInterval` and `Date` from `start` (call in `beforeEach`; `vi.useRealTimers()` after). */
export function fakeClock(start = '2026-11-20T09:00:00Z'): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(new Date(start));
}

/** Run the fake timers that fell due now (armed by store I/O that finished meanwhile), without moving the clock. */
export const runDueTimers = (): Promise<unknown> => vi.advanceTimersByTimeAsync(0);

/** Let real store I/O finish and run the fake timers it armed for "now", without moving the clock. */
export async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) {
    await runDueTimers();
    await pause(10);
  }
}

/**
 * Move the fake clock by `ms`, letting store I/O finish before and after. What the engine does once
 * the clock moved is awaited with {@link eventuallyAtFakeTime}: `settle` only gives it a head start.
 */
export async function advance(ms: number): Promise<void> {
  await settle();
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

/** The suite's `eventually` under a fake clock: between tries, the timers due now run. */
export function eventuallyAtFakeTime<T>(check: () => T | Promise<T>): Promise<T> {
  return eventually(check, { beforeRetry: runDueTimers });
}
