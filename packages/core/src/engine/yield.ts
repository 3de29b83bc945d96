import { performance } from 'node:perf_hooks';
// The real setImmediate marks when the event loop got a turn. The yield itself is a 0 ms timeout on
// the clock the engine's own timers use: under a test's fake clock it runs as part of the clock's
// advance, like the rest of the engine's background work.
import { setImmediate } from 'node:timers';

/** The longest stretch background work runs before it lets the event loop in, in ms. */
const sliceMs = 20;
/** When the current stretch of work without a turn of the event loop began. */
let sliceStart: number | undefined;

/**
 * Let the event loop run (I/O, timers, other calls) when the work in progress has held it for
 * {@link sliceMs} or more. Background work that loops over many items — due timers, deliveries, the
 * waiters' poll — calls this between items: on a synchronous store (SQLite, memory) the loop would
 * otherwise hold the event loop until its end (a storm of 20,000 due timers for seconds). Short work
 * never yields, so it runs as it would without.
 *
 * @example for (const item of items) { await fire(item); await yieldIfLong(); }
 */
export function yieldIfLong(): Promise<void> | undefined {
  const now = performance.now();
  if (sliceStart === undefined) {
    sliceStart = now;
    // The event loop reached its check phase: whatever ran before was one stretch.
    setImmediate(() => {
      sliceStart = undefined;
    });
    return undefined;
  }
  if (now - sliceStart < sliceMs) return undefined;
  return new Promise((resolve) =>
    setTimeout(() => {
      sliceStart = undefined;
      resolve();
    }, 0),
  );
}
