// One measurement of the million-pending bench (million-pending.ts), in a process of its own run
// with --expose-gc: start an engine on a store (empty, or filled with pending tasks), and measure
// its start, its heap, and — on the filled store — one page of an assignee's pending tasks and the
// lag of timers falling due at a steady rate.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type {
  createHoldpoint as CreateHoldpoint,
  createStore as CreateStore,
  HumanTask,
  StoreBackend,
} from '@holdpoint/core';
import { percentile } from './measure.js';

export interface PendingSpec {
  /** The store's URL. */
  url: string;
  role: 'empty' | 'filled';
  /** Assignees the fill spread its tasks over (`assignee-<i>@bench.test`). */
  assignees: number;
  /** Timers falling due per second in the lag test. */
  timersPerSecond: number;
  /** How long timers keep falling due, in seconds. */
  timerSeconds: number;
  /** `listTasks` calls to time. */
  pages: number;
  /** `import()` target of the core: `@holdpoint/core` (default), or a baseline copy's `src/index.ts` URL. */
  core?: string;
}

export interface PendingResult {
  openStoreMs: number;
  startMs: number;
  /** Heap used after a full GC, 1 s after the engine started (its first timer round done). */
  heapBytes: number;
  listP50Ms?: number;
  listP99Ms?: number;
  listTasksPerPage?: number;
  timers?: {
    fired: number;
    planned: number;
    lateCreated: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
  };
  /** Tasks per second the lag test's creator reached (to place the timers ahead of time). */
  createPerSecond?: number;
  load: number[];
}

const gc = (globalThis as { gc?: () => void }).gc;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function heapAfterGc(): number {
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function measure(spec: PendingSpec): Promise<PendingResult> {
  const errors: unknown[] = [];
  const opening = performance.now();
  const store: StoreBackend = await createStore(spec.url);
  const openStoreMs = performance.now() - opening;
  const starting = performance.now();
  const hp = await createHoldpoint({ store, onError: (error) => errors.push(error) });
  const startMs = performance.now() - starting;
  const result: PendingResult = { openStoreMs, startMs, heapBytes: 0, load: loadavg() };
  try {
    await sleep(1_000);
    result.heapBytes = heapAfterGc();
    if (spec.role === 'empty') return result;

    // Timers of an earlier run on a kept file that fell due while no engine ran fire now, in the
    // background: let them finish (up to 2 minutes) so they do not run during the measurements.
    for (let waited = 0; waited < 120_000; waited += 500) {
      if ((await hp.listTasks({ overdue: true, limit: 1 })).tasks.length === 0) break;
      await sleep(500);
    }

    // One page of an assignee's pending tasks, for random assignees, one call at a time.
    const latencies: number[] = [];
    let tasksSeen = 0;
    for (let i = 0; i < spec.pages; i++) {
      const assignee = `assignee-${Math.floor(Math.random() * spec.assignees)}@bench.test`;
      const began = performance.now();
      const page = await hp.listTasks({ assignee, status: 'pending', limit: 50 });
      latencies.push(performance.now() - began);
      tasksSeen += page.tasks.length;
      if (page.tasks.some((task) => task.status !== 'pending' || !task.assignees.includes(assignee)))
        throw new Error(`listTasks for ${assignee} returned a task that is not theirs or not pending`);
    }
    latencies.sort((a, b) => a - b);
    result.listP50Ms = percentile(latencies, 0.5);
    result.listP99Ms = percentile(latencies, 0.99);
    result.listTasksPerPage = tasksSeen / spec.pages;

    // Timers: a second engine (timers off: another process's agents, in effect) creates tasks whose
    // deadlines fall due at `timersPerSecond` from a moment after all are created; this engine fires them.
    const creatorStore = await createStore(spec.url);
    const creator = await createHoldpoint({ store: creatorStore, timers: false });
    try {
      const planned = Math.round(spec.timersPerSecond * spec.timerSeconds);
      const ask = (timeout: number, n: number) =>
        creator.requestHuman({
          task: 'approval',
          title: `Timer ${n}`,
          assignee: 'timers@bench.test',
          context: { n },
          timeout,
        });
      // How fast tasks are created now, to put the first deadline after the last creation.
      const probe = 100;
      const probing = performance.now();
      await Promise.all(Array.from({ length: probe }, (_, n) => ask(86_400_000, -n)));
      const perSecond = probe / ((performance.now() - probing) / 1000);
      result.createPerSecond = perSecond;
      const firstDue = Date.now() + (planned / perSecond) * 1000 * 1.5 + 3_000;
      const deadlines = new Map<string, number>();
      const fired: number[] = [];
      const unsubscribe = hp.subscribe((event) => {
        if (event.type !== 'task-timed-out' || event.taskId === undefined) return;
        const deadline = deadlines.get(event.taskId);
        if (deadline !== undefined) fired.push(Date.now() - deadline);
      });
      let lateCreated = 0;
      let next = 0;
      const worker = async () => {
        while (next < planned) {
          const n = next++;
          const due = firstDue + Math.round((n * 1000) / spec.timersPerSecond);
          const task: HumanTask = await ask(Math.max(1, due - Date.now()), n);
          const deadline = Date.parse(task.deadlineAt as string);
          if (Date.now() >= deadline) lateCreated++;
          else deadlines.set(task.id, deadline);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      const lastDue = firstDue + spec.timerSeconds * 1000;
      while (Date.now() < lastDue + 5_000 && fired.length < deadlines.size) await sleep(100);
      unsubscribe();
      fired.sort((a, b) => a - b);
      result.timers = {
        fired: fired.length,
        planned,
        lateCreated,
        p50Ms: percentile(fired, 0.5),
        p99Ms: percentile(fired, 0.99),
        maxMs: fired.at(-1) ?? Number.NaN,
      };
    } finally {
      await creator.close();
      await creatorStore.close();
    }
    if (errors.length > 0)
      throw new Error(`the engine reported ${errors.length} errors: ${String(errors[0])}`);
    result.load = loadavg();
    return result;
  } finally {
    await hp.close();
    await store.close();
  }
}

const spec = JSON.parse(process.argv[2] ?? '{}') as PendingSpec;
const { createHoldpoint, createStore } = (await import(spec.core ?? '@holdpoint/core')) as {
  createHoldpoint: typeof CreateHoldpoint;
  createStore: typeof CreateStore;
};
try {
  const result = await measure(spec);
  console.log(JSON.stringify({ result }));
} catch (error) {
  console.log(
    JSON.stringify({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
}
process.exit(0);
