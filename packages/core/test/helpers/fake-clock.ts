import { vi } from 'vitest';

// Captured before any clock is faked: waiting for store I/O must not move the fake clock.
const realSetTimeout = globalThis.setTimeout;
const pause = (ms: number) => new Promise((resolve) => realSetTimeout(resolve, ms));

/** Fake `setTimeout`, `setInterval` and `Date` from `start` (call in `beforeEach`; `vi.useRealTimers()` after). */
export function fakeClock(start = '2026-11-20T09:00:00Z'): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(new Date(start));
}

/** Let real store I/O finish and run the fake timers it armed for "now", without moving the clock. */
export async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) {
    await vi.advanceTimersByTimeAsync(0);
    await pause(10);
  }
}

/** Move the fake clock by `ms`, letting store I/O finish before and after. */
export async function advance(ms: number): Promise<void> {
  await settle();
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

/** Retry an assertion in real time until it passes, running timers that fall due now. */
export async function eventually(check: () => Promise<void>, timeoutMs = 5_000): Promise<void> {
  const started = performance.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (performance.now() - started > timeoutMs) throw error;
      await vi.advanceTimersByTimeAsync(0);
      await pause(10);
    }
  }
}
