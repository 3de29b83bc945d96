import { openBatchedSqliteBackend } from './batched-sqlite.js';
import {
  counting,
  countsBetween,
  emptyCounts,
  type OperationCounts,
  type OperationTimes,
  observedKeyv,
  observedStore,
} from './counting-store.js';
import { type Gate, openBaselineGate, openEngineGate } from './gate-lifecycle.js';
import { drive, percentile } from './measure.js';
import { openBackend, openBaselineKeyv, type StorePlace, sqliteFile } from './stores.js';
import type { LifecycleTrace } from './trace.js';

/**
 * What runs: the baseline's raw Keyv calls, the engine, the engine with a trivial delivery hook,
 * or (SQLite only) the engine with each group of parallel writes in one transaction, an experiment.
 */
export type Mode = 'baseline' | 'engine' | 'engine+notify' | 'engine+batch';

/** One measured run, done in a process of its own so that its peak RSS is its own. */
export interface ScenarioSpec {
  place: StorePlace;
  mode: Mode;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** For the baseline: the engine's store calls to replay. */
  trace?: LifecycleTrace;
}

/**
 * What one scenario measured. Rates, latencies and CPU cover the measured window; store calls cover
 * the whole run, so that every lifecycle counted in them has finished.
 */
export interface ScenarioResult {
  spec: ScenarioSpec;
  completed: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Peak resident set size of the scenario's process, in bytes. */
  peakRssBytes: number;
  /** RSS of the process before the store was opened, in bytes: what node and tsx weigh alone. */
  startRssBytes: number;
  /** CPU time of the process in the window as a share of one core. */
  cpuShare: number;
  /** CPU time of the process per lifecycle, in ms: what one lifecycle costs this process, whatever else runs. */
  cpuMsPerLifecycle: number;
  /** Share of all the machine's cores busy during the window (this process, the store's server, others). */
  machineBusy: number;
  /** Lifecycles run in all (warm-up and window). */
  lifecycles: number;
  /** Store calls made over the whole run, warm-up included (by all lifecycles and any background work). */
  operations: OperationCounts;
  /**
   * Time in those calls, per operation, in ms, over the whole run: until each returned (all of
   * the store's work for `node:sqlite` and memory, the client's encoding for Redis and PostgreSQL)
   * and until it settled (the round trip).
   */
  operationTimes: OperationTimes;
  /** What was checked after the run. */
  check: string;
}

/** Open the store, drive the lifecycle, check the result, close. */
export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const startRssBytes = process.memoryUsage().rss;
  const counts = emptyCounts();
  const times: OperationTimes = { sync: emptyCounts(), settled: emptyCounts() };
  let gate: Gate;
  if (spec.mode === 'baseline') {
    if (spec.trace === undefined) throw new Error('a baseline needs the trace of the engine lifecycle');
    const { keyv, close } = await openBaselineKeyv(spec.place);
    gate = openBaselineGate(observedKeyv(keyv, counting(counts, times)), spec.trace, close);
  } else {
    const backend =
      spec.mode === 'engine+batch'
        ? await openBatchedSqliteBackend(sqliteFile(spec.place, 'engine'), spec.place.name)
        : await openBackend(spec.place);
    gate = await openEngineGate(observedStore(backend, counting(counts, times)), {
      notify: spec.mode === 'engine+notify',
    });
  }
  try {
    // Counted over the whole run, not the window: every lifecycle of the run has finished when
    // drive() returns, so none is counted in part.
    const atStart = { ...counts };
    const timesAtStart = { sync: { ...times.sync }, settled: { ...times.settled } };
    const measured = await drive({
      concurrency: spec.concurrency,
      warmupMs: spec.warmupMs,
      durationMs: spec.durationMs,
      lifecycle: (id) => gate.lifecycle(id),
    });
    const operations = countsBetween(atStart, counts);
    const operationTimes: OperationTimes = {
      sync: countsBetween(timesAtStart.sync, times.sync),
      settled: countsBetween(timesAtStart.settled, times.settled),
    };
    const check = await gate.check();
    return {
      spec,
      completed: measured.completed,
      perSecond: measured.completed / measured.seconds,
      p50Ms: percentile(measured.latenciesMs, 0.5),
      p99Ms: percentile(measured.latenciesMs, 0.99),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      startRssBytes,
      cpuShare: measured.cpuShare,
      cpuMsPerLifecycle: measured.cpuMs / measured.completed,
      machineBusy: measured.machineBusy,
      lifecycles: measured.total,
      operations,
      operationTimes,
      check,
    };
  } finally {
    await gate.close();
  }
}
