import { HoldpointError, type HumanTask } from '@holdpoint/core';
import type { Holdpoint } from './engine.js';

/**
 * Resolve with the task once it is no longer pending: woken by the engine's events for the task's
 * intent (also those recorded by other engines on the store), and re-read every `recheckMs` as a
 * safety net under a missed wake-up. Rejects with the signal's reason when `signal` aborts.
 * `onTick` runs on every recheck (progress notifications ride on it).
 */
export function untilEnded(
  hp: Holdpoint,
  task: HumanTask,
  options: { signal?: AbortSignal; recheckMs: number; onTick?: () => void },
): Promise<HumanTask> {
  if (task.status !== 'pending') return Promise.resolve(task);
  return new Promise<HumanTask>((resolve, reject) => {
    let settled = false;
    let reading = false;
    let again = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearInterval(timer);
      options.signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    // One read at a time; a wake-up during a read asks for one more.
    const check = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const current = await hp.getTask(task.id);
          if (current.status !== 'pending') {
            finish(() => resolve(current));
            return;
          }
        } while (again && !settled);
      } catch (error) {
        // A store that is away now is read again on the next tick.
        if (!(HoldpointError.isInstance(error) && error.retryable)) finish(() => reject(error));
      } finally {
        reading = false;
      }
    };
    const onAbort = () => finish(() => reject(options.signal?.reason));
    const unsubscribe = hp.subscribe((event) => {
      if (event.intentId === task.intentId) void check();
    });
    const timer = setInterval(() => {
      options.onTick?.();
      void check();
    }, options.recheckMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // The task may have ended between reading it and subscribing.
    void check();
  });
}
