// One scenario of the long-running bench (long-running.ts), in a process of its own with a fresh heap,
// run against the engine at hand ("after") or a baseline copy of the core's sources ("before").
// Prints one JSON line: { result } or { error }.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { createHoldpoint as CreateHoldpoint, Holdpoint } from '@holdpoint/core';
import { percentile } from './measure.js';
import { postgresUrl, redisUrl, type StorePlace } from './stores.js';

/** What the parent asks of one run. */
export interface LongRunSpec {
  scenario: 'waiters' | 'startup' | 'contexts' | 'history';
  place: StorePlace;
  /** `import()` target of the core: `@holdpoint/core`, or a file URL of a baseline copy's `src/index.ts`. */
  core: string;
  /** Waiters, overdue timers, tasks, or the longest intent's events (history). */
  count: number;
  /** Measured time, in ms. */
  durationMs: number;
}

/** What one run measured. */
export type LongRunResult = Record<string, number>;

const spec = JSON.parse(process.argv[2] as string) as LongRunSpec;
const { createHoldpoint } = (await import(spec.core)) as { createHoldpoint: typeof CreateHoldpoint };

/** The URL a user would give for the scenario's store. */
function storeUrl(place: StorePlace): string {
  switch (place.store) {
    case 'sqlite':
      return `sqlite://${place.directory}/${place.name}.db`;
    case 'redis':
    case 'postgres': {
      const base = new URL(place.store === 'redis' ? redisUrl : postgresUrl);
      base.searchParams.set(place.store === 'redis' ? 'prefix' : 'schema', place.name);
      return base.toString();
    }
    default:
      return `memory://${place.name}`;
  }
}

/** Run `count` calls of `work`, `concurrency` at a time. */
async function inParallel(count: number, concurrency: number, work: (index: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < count; index = next++) await work(index);
    }),
  );
}

const megabyte = 1024 * 1024;
const errors: unknown[] = [];
const onError = (error: unknown) => void errors.push(error);

/**
 * Waiters: `count` agents wait in one engine (pollInterval '1s', the shortest a user might pick), none
 * decided. Over the window: heap growth, event-loop delay, CPU, and the latency of the engine's own
 * getTask, sampled one after another.
 */
async function waiters(url: string): Promise<LongRunResult> {
  const seeder = await createHoldpoint({ store: url, timers: false, onError });
  const keys = Array.from({ length: spec.count }, (_, index) => `wait-${index}`);
  const tasks: string[] = [];
  await inParallel(spec.count, 32, async (index) => {
    const task = await seeder.requestHuman({
      assignee: 'ann@acme.test',
      idempotencyKey: keys[index] as string,
    });
    tasks[index] = task.id;
  });
  await seeder.close();
  const hp = await createHoldpoint({ store: url, timers: false, pollInterval: '1s', onError });
  const waits = keys.map((key) =>
    hp.waitForHuman({ assignee: 'ann@acme.test', idempotencyKey: key }).catch(() => undefined),
  );
  // Registered: every waiter did its first read (a getTask no longer queues behind those reads).
  for (let tries = 0; tries < 600; tries++) {
    const at = performance.now();
    await hp.getTask(tasks[0] as string);
    if (performance.now() - at < 50) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const latencies: number[] = [];
  while (performance.now() - started < spec.durationMs) {
    const at = performance.now();
    await hp.getTask(tasks[Math.floor(Math.random() * tasks.length)] as string);
    latencies.push(performance.now() - at);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  // What stays, not garbage not yet collected.
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  latencies.sort((a, b) => a - b);
  await hp.close();
  await Promise.all(waits);
  return {
    heapAfterMB: heapAfter / megabyte,
    heapRetainedGrowthMBPerSecond: (heapAfter - heapBefore) / megabyte / seconds,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
    getTaskP50Ms: percentile(latencies, 0.5),
    getTaskP99Ms: percentile(latencies, 0.99),
    backgroundErrors: errors.length,
  };
}

/**
 * Start-up: `count` timers fell due while no engine ran. How long createHoldpoint takes to return,
 * the event-loop delay until every one has fired, and how long that took.
 */
async function startup(url: string): Promise<LongRunResult> {
  const seeder = await createHoldpoint({ store: url, timers: false, onError });
  const tasks: string[] = [];
  await inParallel(spec.count, 32, async (index) => {
    const task = await seeder.requestHuman({
      assignee: 'ann@acme.test',
      timeout: 200,
      idempotencyKey: `due-${index}`,
    });
    tasks[index] = task.id;
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const held = cpuBetweenTurns();
  const started = performance.now();
  const hp: Holdpoint = await createHoldpoint({ store: url, onError });
  const returnedMs = performance.now() - started;
  // Every timer fired: the last task seeded is no longer pending (the due index fires in due order).
  const pending = async () => {
    const listed: unknown = await seeder.listTasks({ status: 'pending', limit: 1 });
    return (Array.isArray(listed) ? listed : (listed as { tasks: unknown[] }).tasks).length;
  };
  while ((await pending()) > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  const firedMs = performance.now() - started;
  delay.disable();
  const cpuHeld = held.stop();
  await hp.close();
  await seeder.close();
  return {
    createHoldpointMs: returnedMs,
    allFiredMs: firedMs,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
    // The event-loop delay counts time the process waited for a core on a busy machine as well; the
    // CPU this process used between two turns of its event loop is what the engine itself held.
    heldCpuP99Ms: percentile(
      [...cpuHeld].sort((a, b) => a - b),
      0.99,
    ),
    heldCpuMaxMs: cpuHeld.reduce((most, ms) => Math.max(most, ms), 0),
    backgroundErrors: errors.length,
  };
}

/**
 * The CPU time (ms) this process used between each two turns of its event loop (a 5 ms ticker): how
 * long work held the loop, without the time the process waited for a core.
 */
function cpuBetweenTurns(): { stop(): number[] } {
  const held: number[] = [];
  let last = process.cpuUsage();
  const ticker = setInterval(() => {
    const used = process.cpuUsage(last);
    last = process.cpuUsage();
    held.push((used.user + used.system) / 1000);
  }, 5);
  return {
    stop() {
      clearInterval(ticker);
      return held;
    },
  };
}

/**
 * Large contexts: `count` tasks whose contexts are 900 KB each (the limit is 1 MiB), all decided, in
 * one engine. The heap it keeps afterwards, and what one `events()` page of up to 100 events weighs.
 */
async function contexts(url: string): Promise<LongRunResult> {
  const hp = await createHoldpoint({ store: url, timers: false, onError });
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const draft = 'x'.repeat(900 * 1024);
  for (let index = 0; index < spec.count; index++) {
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', context: { draft, index } });
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
  }
  global.gc?.();
  const heapKept = process.memoryUsage().heapUsed - heapBefore;
  const page = await hp.events({ limit: 100 });
  const pageBytes = JSON.stringify(page.events).length;
  await hp.close();
  return {
    heapKeptMB: heapKept / megabyte,
    eventsPageEvents: page.events.length,
    eventsPageMB: pageBytes / megabyte,
    backgroundErrors: errors.length,
  };
}

/**
 * History: one intent grows to 100, 1,000, … `count` events (each gate a requestHuman and its
 * decide: two events). At each length: p50/p99 of requestHuman and decide in a warm engine, of a
 * cold getTask (a new engine, nothing cached: what a restarted process or another engine pays),
 * and how long growing the intent to that length took, per event.
 */
async function history(url: string): Promise<LongRunResult> {
  const hp = await createHoldpoint({ store: url, timers: false, onError });
  const intent = await hp.submit({ type: 'long-session' });
  const taskIds: string[] = [];
  let events = 1;
  const gate = async () => {
    const task = await hp.requestHuman({
      intentId: intent.id,
      assignee: 'ann@acme.test',
      context: { n: events },
    });
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    taskIds.push(task.id);
    events += 2;
  };
  const lengths = [100, 1_000, 10_000, 100_000].filter((length) => length <= spec.count);
  const result: LongRunResult = {};
  const samples = 40;
  for (const length of lengths) {
    const started = performance.now();
    const from = events;
    while (events < length) await gate();
    const grown = events - from;
    const requests: number[] = [];
    const decisions: number[] = [];
    for (let sample = 0; sample < samples; sample++) {
      let at = performance.now();
      const task = await hp.requestHuman({
        intentId: intent.id,
        assignee: 'ann@acme.test',
        context: { n: events },
      });
      requests.push(performance.now() - at);
      at = performance.now();
      await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
      decisions.push(performance.now() - at);
      taskIds.push(task.id);
      events += 2;
    }
    const cold: number[] = [];
    for (let sample = 0; sample < samples / 2; sample++) {
      const fresh = await createHoldpoint({ store: url, timers: false, onError });
      const at = performance.now();
      await fresh.getTask(taskIds[Math.floor(Math.random() * taskIds.length)] as string);
      cold.push(performance.now() - at);
      await fresh.close();
    }
    for (const list of [requests, decisions, cold]) list.sort((a, b) => a - b);
    const label = length >= 1000 ? `${length / 1000}k` : String(length);
    result[`${label}: requestHuman p50 ms`] = percentile(requests, 0.5);
    result[`${label}: requestHuman p99 ms`] = percentile(requests, 0.99);
    result[`${label}: decide p50 ms`] = percentile(decisions, 0.5);
    result[`${label}: decide p99 ms`] = percentile(decisions, 0.99);
    result[`${label}: cold getTask p50 ms`] = percentile(cold, 0.5);
    result[`${label}: cold getTask p99 ms`] = percentile(cold, 0.99);
    result[`${label}: growing to it, ms per event`] = grown > 0 ? (performance.now() - started) / grown : 0;
  }
  await hp.close();
  result.backgroundErrors = errors.length;
  return result;
}

try {
  const url = storeUrl(spec.place);
  const result =
    spec.scenario === 'waiters'
      ? await waiters(url)
      : spec.scenario === 'startup'
        ? await startup(url)
        : spec.scenario === 'history'
          ? await history(url)
          : await contexts(url);
  console.log(JSON.stringify({ result }));
  process.exit(0);
} catch (error) {
  console.log(
    JSON.stringify({ error: error instanceof Error ? error.stack : String(error), id: randomUUID() }),
  );
  process.exit(1);
}
