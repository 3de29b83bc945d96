import { performance } from 'node:perf_hooks';
// The real setImmediate, even under a test's fake timers: it marks when the event loop got a turn,
// and it is the turn itself (after the poll phase, so waiting I/O is served first). A yield is not
// logic time: under a fake clock, work that yields goes on as store I/O does, without the clock.
import { setImmediate } from 'node:timers';

/** The longest stretch background work runs before it lets the event loop in, in ms. */
const sliceMs = 20;
/** When the current stretch of work without a turn of the event loop began. */
let sliceStart: number | undefined;
/** The turn of the event loop that every caller waits for once the stretch is over. */
let pending: Promise<void> | undefined;

/**
 * Let the event loop run (I/O, timers, other calls) when the work in progress has held it for
 * {@link sliceMs} or more. Background work that loops over many items — due timers, deliveries, the
 * waiters' poll — calls this between items, and the SQLite store before each statement it runs: on a
 * synchronous store the work would otherwise hold the event loop until its end (a storm of 20,000
 * due timers for seconds). Short work never yields, so it runs as it would without.
 *
 * Every caller in the process shares one stretch and one yield: several loops working at once (the
 * timer loop's workers, deliveries, polls) all wait for the same turn, and resume together with a new
 * stretch. (With a yield each, they resumed one after another within one timers phase, each taking a
 * full stretch: eight workers held the event loop 8 × 20 ms at a time.)
 *
 * @example for (const item of items) { await fire(item); await yieldIfLong(); }
 */
export function yieldIfLong(): Promise<void> | undefined {
  if (pending) return pending;
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
  pending = new Promise((resolve) =>
    setImmediate(() => {
      pending = undefined;
      sliceStart = undefined;
      resolve();
    }),
  );
  return pending;
}
