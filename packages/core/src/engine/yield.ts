// The real clock's setImmediate, even under a test's fake timers: yielding is plumbing, not time.
import { setImmediate } from 'node:timers';

/**
 * Let the event loop run (I/O, timers, other calls) before going on. Background work that loops over
 * many items — due timers, the waiters' poll — yields between items or batches: on a synchronous
 * store (SQLite, memory) it would otherwise hold the event loop for the whole loop.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
