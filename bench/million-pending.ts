// The million-pending bench of issue 6: a store full of pending tasks with deadlines, and what an
// engine on it costs.
//
//   node scripts/dev.mjs run bench/million-pending.ts [--stores sqlite,postgres,redis]
//     [--sqlite-count 1000000] [--server-count 100000] [--fill-seconds 300] [--fill-concurrency 16]
//     [--assignees 100] [--timers-per-second 1000] [--timer-seconds 3] [--pages 200]
//     [--sqlite-file PATH] [--baseline REV]
//
// Per store: fill it with N pending tasks (`requestHuman`, `--fill-concurrency` at once, each its
// own intent, spread over `--assignees` people, deadlines 7–14 days out) — until N or until
// `--fill-seconds` have passed, whichever comes first (the N reached is reported); then, each in a
// process of its own (--expose-gc; million-pending-process.ts):
// - an engine on an empty store of the same kind: `createHoldpoint` time, heap after a full GC;
// - an engine on the filled store: the same, then `listTasks({ assignee, status: 'pending',
//   limit: 50 })` for random assignees (p50/p99), then timers falling due at
//   `--timers-per-second` for `--timer-seconds` (created ahead by a second engine with timers
//   off), the lag from each deadline to its `task-timed-out` event reaching a subscriber (p50/p99);
// - bytes per task: SQLite file (and WAL) size, PostgreSQL `pg_total_relation_size` of the
//   schema's tables, Redis `INFO memory` used_memory — each after the fill minus before it, / N.
// On PostgreSQL the schema's tables are vacuumed and analyzed and the server checkpoints after the
// fill, before the measurements (a store that filled over days has had both).
//
// `--baseline REV` measures the filled store a second time with the engine of that commit
// (baseline-core.ts), before this checkout's, and prints both.
//
// `--sqlite-file PATH` keeps the SQLite file and fills it only up to N, so a later run goes on
// where this one stopped (a 1,000,000 fill takes the engine's create rate × 2 events per task).
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHoldpoint, createStore } from '@holdpoint/core';
import { createClient } from '@keyv/redis';
import pg from 'pg';
import { baselineCore } from './baseline-core.js';
import type { PendingResult, PendingSpec } from './million-pending-process.js';
import {
  cleanUp,
  fileAndServerStores,
  postgresUrl,
  redisUrl,
  type StorePlace,
  unreachableReason,
} from './stores.js';

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'sqlite,postgres,redis' },
    'sqlite-count': { type: 'string', default: '1000000' },
    'server-count': { type: 'string', default: '100000' },
    'fill-seconds': { type: 'string', default: '300' },
    'fill-concurrency': { type: 'string', default: '16' },
    assignees: { type: 'string', default: '100' },
    'timers-per-second': { type: 'string', default: '1000' },
    'timer-seconds': { type: 'string', default: '3' },
    pages: { type: 'string', default: '200' },
    'sqlite-file': { type: 'string' },
    baseline: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'node scripts/dev.mjs run bench/million-pending.ts [--stores sqlite,postgres,redis] [--sqlite-count N] [--server-count N] [--fill-seconds S] [--fill-concurrency N] [--assignees N] [--timers-per-second N] [--timer-seconds S] [--pages N] [--sqlite-file PATH] [--baseline REV]',
  );
  process.exit(0);
}
const whole = (name: keyof typeof values, min: number): number => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < min) {
    console.error(`million-pending: --${name} takes a whole number ≥ ${min}`);
    process.exit(2);
  }
  return value;
};
const stores = fileAndServerStores(String(values.stores), 'million-pending');
/** The engine of another commit, measured beside this checkout's (`--baseline`). */
const baseline = values.baseline === undefined ? undefined : baselineCore(values.baseline);
const options = {
  sqliteCount: whole('sqlite-count', 1),
  serverCount: whole('server-count', 1),
  fillSeconds: whole('fill-seconds', 1),
  fillConcurrency: whole('fill-concurrency', 1),
  assignees: whole('assignees', 1),
  timersPerSecond: whole('timers-per-second', 1),
  timerSeconds: whole('timer-seconds', 1),
  pages: whole('pages', 1),
};

/** Aims of issue 6. */
const aim = { startMs: 1_000, timerP99Ms: 100, listP99Ms: 10 };

const directory = mkdtempSync(join(tmpdir(), 'holdpoint-bench-pending-'));
const places: StorePlace[] = [];
const runId = `hppend_${process.pid}_${randomBytes(3).toString('hex')}`;

function urlOf(place: StorePlace, file?: string): string {
  switch (place.store) {
    case 'sqlite':
      return `sqlite://${file ?? join(place.directory, `${place.name}.db`)}`;
    case 'redis': {
      const url = new URL(redisUrl);
      url.searchParams.set('prefix', place.name);
      return url.toString();
    }
    default: {
      const url = new URL(postgresUrl);
      url.searchParams.set('schema', place.name);
      return url.toString();
    }
  }
}

/** What the store takes now: the file and its WAL; the schema's tables; Redis's used_memory. */
async function sizeOf(place: StorePlace, url: string): Promise<number> {
  if (place.store === 'sqlite') {
    const file = url.slice('sqlite://'.length);
    const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);
    return size(file) + size(`${file}-wal`);
  }
  if (place.store === 'postgres') {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [place.name],
      );
      return Number(rows[0]?.bytes ?? 0);
    } finally {
      await client.end();
    }
  }
  const client = createClient({ url: redisUrl });
  await client.connect();
  try {
    const info = await client.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
  } finally {
    await client.close();
  }
}

/**
 * PostgreSQL after the fill: vacuum and analyze the schema's tables, then a checkpoint. A store that
 * filled up over days has had both long before; right after a bulk fill the server's autovacuum and
 * its write-back of the fill would otherwise fall in the middle of the measurements.
 */
async function settle(place: StorePlace): Promise<void> {
  if (place.store !== 'postgres') return;
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [place.name],
    );
    for (const { name } of rows) await client.query(`VACUUM (ANALYZE) ${name}`);
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

const day = 86_400_000;

/** Fill the store up to `count` pending tasks with deadlines, or until the time is up. */
async function fill(
  url: string,
  count: number,
): Promise<{ pending: number; added: number; seconds: number }> {
  const store = await createStore(url);
  const hp = await createHoldpoint({ store, timers: false });
  try {
    const already = (await hp.taskCounts()).pending;
    let next = already;
    let added = 0;
    const began = performance.now();
    const stopAt = began + options.fillSeconds * 1000;
    let reported = began;
    const worker = async () => {
      while (next < count && performance.now() < stopAt) {
        const n = next++;
        await hp.requestHuman({
          task: 'approval',
          title: `Pending ${n}`,
          assignee: `assignee-${n % options.assignees}@bench.test`,
          context: { n, refund: { order: `ord-${n}`, amount: 129.5, currency: 'EUR' } },
          timeout: 7 * day + Math.floor(Math.random() * 7 * day),
        });
        added++;
        const now = performance.now();
        if (now - reported > 10_000) {
          reported = now;
          const rate = added / ((now - began) / 1000);
          console.error(
            `  fill: ${already + added} of ${count} pending, ${rate.toFixed(0)} tasks/s, load ${loadavg()[0]?.toFixed(1)}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: options.fillConcurrency }, worker));
    const seconds = (performance.now() - began) / 1000;
    const pending = (await hp.taskCounts()).pending;
    return { pending, added, seconds };
  } finally {
    await hp.close();
    await store.close();
  }
}

const running = new Set<ChildProcess>();

function runMeasure(spec: PendingSpec): Promise<PendingResult> {
  const entry = fileURLToPath(new URL('./million-pending-process.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = fork(entry, [JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, '--expose-gc'],
    });
    running.add(child);
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', () => {
      running.delete(child);
      const line = output.trim().split('\n').at(-1) ?? '';
      try {
        const parsed = JSON.parse(line) as { result?: PendingResult; error?: string };
        if (parsed.result) resolve(parsed.result);
        else reject(new Error(parsed.error));
      } catch {
        reject(new Error(`the measurement ended without a result: ${output.slice(-500)}`));
      }
    });
  });
}

const f = (value: number | undefined, digits = 1) =>
  value === undefined || !Number.isFinite(value)
    ? '—'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mb = (bytes: number) => f(bytes / 2 ** 20, 1);
const verdict = (met: boolean) => (met ? 'met' : '**missed**');

process.on('SIGINT', () => {
  for (const child of running) child.kill('SIGKILL');
  void cleanUp(places, directory).finally(() => process.exit(130));
});

console.log(
  `# Million pending (issue 6) — ${new Date().toISOString()}\n\n${cpus().length} cores, Node ${process.version}, ` +
    `load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')} at the start (the machine is shared with other work).\n`,
);
try {
  for (const store of stores) {
    const unreachable = await unreachableReason(store);
    if (unreachable !== undefined) {
      console.log(`## ${store}: skipped — ${unreachable}\n`);
      continue;
    }
    const count = store === 'sqlite' ? options.sqliteCount : options.serverCount;
    const emptyPlace: StorePlace = { store, name: `${runId}_${places.length}`, directory };
    places.push(emptyPlace);
    const place: StorePlace = { store, name: `${runId}_${places.length}`, directory };
    const keptFile = store === 'sqlite' && values['sqlite-file'] ? resolve(values['sqlite-file']) : undefined;
    if (keptFile === undefined) places.push(place);
    const url = urlOf(place, keptFile);
    const spec = (role: 'empty' | 'filled', at: string): PendingSpec => ({
      url: at,
      role,
      assignees: options.assignees,
      timersPerSecond: options.timersPerSecond,
      timerSeconds: options.timerSeconds,
      pages: options.pages,
    });

    // The empty store: what an engine weighs with nothing pending, and the store's own size.
    const empty = await runMeasure(spec('empty', urlOf(emptyPlace)));
    const fresh = keptFile === undefined || !existsSync(keptFile);
    if (fresh) {
      // Make the tables (and the store's fixed overhead) before measuring the size to subtract.
      const s = await createStore(url);
      const h = await createHoldpoint({ store: s, timers: false });
      await h.close();
      await s.close();
    }
    const sizeBefore = fresh ? await sizeOf(place, url) : Number.NaN;
    const loadBeforeFill = loadavg();
    console.error(`${store}: filling to ${count} pending tasks (at most ${options.fillSeconds} s)…`);
    const filled = await fill(url, count);
    const sizeAfter = await sizeOf(place, url);
    await settle(place);
    const loadAfterFill = loadavg();
    const before =
      baseline === undefined ? undefined : await runMeasure({ ...spec('filled', url), core: baseline.url });
    const measured = await runMeasure(spec('filled', url));
    const bytesPerTask = (sizeAfter - sizeBefore) / filled.pending;
    const timers = measured.timers;

    console.log(`## ${store}\n`);
    if (filled.added === 0) {
      console.log(
        `No fill: the kept file already holds ${filled.pending.toLocaleString('en-US')} pending tasks (≥ ${count.toLocaleString('en-US')}). ` +
          `Load average ${loadBeforeFill[0]?.toFixed(1)} before the measurements, ${measured.load[0]?.toFixed(1)} after.\n`,
      );
    } else
      console.log(
        `Filled: ${filled.pending.toLocaleString('en-US')} pending tasks (target ${count.toLocaleString('en-US')}${filled.pending < count ? `; **not reached**: the fill stopped after ${options.fillSeconds} s` : ''}); ` +
          `${filled.added.toLocaleString('en-US')} added in ${f(filled.seconds)} s (${f(filled.added / filled.seconds, 0)} tasks/s, ` +
          `${options.fillConcurrency} requestHuman calls in flight), over ${options.assignees} assignees. ` +
          (store === 'postgres'
            ? 'Then VACUUM (ANALYZE) of its tables and a CHECKPOINT, before the measurements. '
            : '') +
          `Load average ${loadBeforeFill[0]?.toFixed(1)} before the fill, ${loadAfterFill[0]?.toFixed(1)} after, ${measured.load[0]?.toFixed(1)} after the measurements.\n`,
      );
    console.log('| metric | empty store | filled store | aim | verdict |\n|---|--:|--:|--:|---|');
    console.log(
      `| engine heap after start and a full GC (MB) | ${mb(empty.heapBytes)} | ${mb(measured.heapBytes)} | does not grow with N | ` +
        `${verdict(measured.heapBytes - empty.heapBytes < 10 * 2 ** 20)} (${f((measured.heapBytes - empty.heapBytes) / 2 ** 20, 1)} MB difference) |`,
    );
    console.log(
      `| \`createHoldpoint\` start (ms) | ${f(empty.startMs)} | ${f(measured.startMs)} | ≤ ${aim.startMs} | ${verdict(measured.startMs <= aim.startMs)} |`,
    );
    console.log(`| \`createStore\` open (ms) | ${f(empty.openStoreMs)} | ${f(measured.openStoreMs)} | | |`);
    console.log(
      `| \`listTasks({ assignee, status: 'pending', limit: 50 })\` p50 / p99 (ms), ${options.pages} calls, ${f(measured.listTasksPerPage, 0)} tasks a page | | ` +
        `${f(measured.listP50Ms, 2)} / ${f(measured.listP99Ms, 2)} | p99 ≤ ${aim.listP99Ms} | ${verdict((measured.listP99Ms ?? Number.POSITIVE_INFINITY) <= aim.listP99Ms)} |`,
    );
    if (before !== undefined) {
      console.log(
        `| the same with the engine of ${baseline?.commit} (measured just before): listTasks p50 / p99 (ms); timer lag p50 / p99 / max (ms), ${before.timers?.fired} of ${before.timers?.planned} fired | | ` +
          `${f(before.listP50Ms, 2)} / ${f(before.listP99Ms, 2)}; ${f(before.timers?.p50Ms)} / ${f(before.timers?.p99Ms)} / ${f(before.timers?.maxMs)} | | |`,
      );
    }
    if (timers !== undefined) {
      console.log(
        `| timer lag, deadline → \`task-timed-out\` at a subscriber, p50 / p99 / max (ms); ${timers.fired} of ${timers.planned} fired at ${options.timersPerSecond}/s` +
          `${timers.lateCreated > 0 ? `, ${timers.lateCreated} created after their deadline and left out` : ''} | | ` +
          `${f(timers.p50Ms)} / ${f(timers.p99Ms)} / ${f(timers.maxMs)} | p99 ≤ ${aim.timerP99Ms} | ${verdict(timers.p99Ms <= aim.timerP99Ms && timers.fired === timers.planned - timers.lateCreated)} |`,
      );
    }
    console.log(
      `| bytes per pending task (${store === 'sqlite' ? 'file + WAL' : store === 'postgres' ? 'pg_total_relation_size of the tables' : 'INFO used_memory'}, after the fill − before) | | ` +
        `${Number.isFinite(bytesPerTask) ? f(bytesPerTask, 0) : `— (the kept file was filled earlier; ${f(sizeAfter / filled.pending, 0)} per task over the whole file)`} | reported | |\n`,
    );
  }
} finally {
  for (const problem of await cleanUp(places, directory))
    console.error(`million-pending: clean-up: ${problem}`);
}
