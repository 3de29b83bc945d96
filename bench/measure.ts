import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** How to drive a lifecycle: how many at once, and for how long. */
export interface DriveOptions {
  /** Lifecycles in flight at once. */
  concurrency: number;
  /** Time run before measuring, so the JIT, caches and connection pools are warm, in ms. */
  warmupMs: number;
  /** Time measured, in ms. */
  durationMs: number;
  /** One lifecycle; `id` is unique within the run. It throws when the lifecycle went wrong. */
  lifecycle: (id: string) => Promise<void>;
}

/** What one driven run measured, over the measured window only. */
export interface DriveResult {
  /** Lifecycles that finished inside the window. */
  completed: number;
  /** Lifecycles run in all, warm-up and window: every one finished, so per-lifecycle counts over the run are exact. */
  total: number;
  /** Length of the window, in seconds. */
  seconds: number;
  /** Latencies of the lifecycles that started and finished inside the window, in ms, ascending. */
  latenciesMs: number[];
  /** CPU time of this process (user + system) during the window, as a share of one core (1 = 100 %). */
  cpuShare: number;
  /** CPU time of this process (user + system) during the window, in ms. */
  cpuMs: number;
  /**
   * How busy the whole machine was during the window, as a share of all its cores (1 = all busy):
   * this process, the store's server, and anything else running. NaN where `/proc/stat` is missing.
   */
  machineBusy: number;
}

/** Busy and total CPU time of the machine since boot, in clock ticks, from `/proc/stat` (Linux). */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0);
    // idle and iowait are the 4th and 5th fields.
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return Number.isFinite(total) && total > 0 ? { busy: total - idle, total } : undefined;
  } catch {
    return undefined;
  }
}

/** The share of the machine's cores that was busy between two readings of {@link machineTicks}. */
export function busyBetween(
  before: ReturnType<typeof machineTicks>,
  after: ReturnType<typeof machineTicks>,
): number {
  if (before === undefined || after === undefined || after.total === before.total) return Number.NaN;
  return (after.busy - before.busy) / (after.total - before.total);
}

/**
 * Run `lifecycle` from `concurrency` loops until warm-up and window have passed. The window's
 * edges are checked between lifecycles, not by timers: on the memory and SQLite stores every call
 * settles in a microtask, so a chain of lifecycles would never let a timer fire. For the same
 * reason each loop yields to the event loop (`setImmediate`) after each lifecycle, as a process
 * that also serves I/O would, so the engine's own timers and the store's polling run too. No new
 * lifecycle starts after the window closes; those in flight are awaited.
 */
export async function drive(options: DriveOptions): Promise<DriveResult> {
  const began = performance.now();
  const opensAt = began + options.warmupMs;
  const closesAt = opensAt + options.durationMs;
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let cpuAtStart = process.cpuUsage();
  let cpuInWindow = { user: 0, system: 0 };
  let ticksAtStart = machineTicks();
  let machineBusy = Number.NaN;
  let completed = 0;
  let total = 0;
  const latenciesMs: number[] = [];
  const edges = (now: number) => {
    if (windowStart === Number.POSITIVE_INFINITY && now >= opensAt) {
      windowStart = now;
      cpuAtStart = process.cpuUsage();
      ticksAtStart = machineTicks();
    }
    if (windowEnd === Number.POSITIVE_INFINITY && now >= closesAt) {
      windowEnd = now;
      cpuInWindow = process.cpuUsage(cpuAtStart);
      machineBusy = busyBetween(ticksAtStart, machineTicks());
    }
  };

  let failure: unknown;
  const loop = async (worker: number) => {
    for (let sequence = 0; failure === undefined; sequence++) {
      const started = performance.now();
      edges(started);
      if (windowEnd !== Number.POSITIVE_INFINITY) return;
      try {
        await options.lifecycle(`${worker}.${sequence}`);
      } catch (error) {
        failure ??= error;
        return;
      }
      const finished = performance.now();
      total++;
      edges(finished);
      // A lifecycle counts when it finished inside the window.
      if (finished >= windowStart && finished <= windowEnd) {
        completed++;
        if (started >= windowStart) latenciesMs.push(finished - started);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, worker) => loop(worker)));
  if (failure !== undefined) throw failure;
  latenciesMs.sort((a, b) => a - b);
  const seconds = (windowEnd - windowStart) / 1000;
  const cpuMs = (cpuInWindow.user + cpuInWindow.system) / 1000;
  return { completed, total, seconds, latenciesMs, cpuShare: cpuMs / 1000 / seconds, cpuMs, machineBusy };
}

/** The `fraction` percentile (0.5 for p50) of ascending values, nearest rank; NaN when empty. */
export function percentile(ascending: readonly number[], fraction: number): number {
  if (ascending.length === 0) return Number.NaN;
  const rank = Math.min(ascending.length, Math.max(1, Math.ceil(fraction * ascending.length)));
  return ascending[rank - 1] as number;
}
