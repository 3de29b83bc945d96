// The gate-lifecycle benchmark: `npm run bench [-- --stores memory,sqlite --duration 4 --concurrency 1,16]`.
//
// Per store, one gate lifecycle (waitForHuman → decide → the waiter resolves → the audit chain is
// written) is driven by the engine and, beside it in the same run, by a baseline that makes the same
// durable writes and reads by hand with raw Keyv calls on the same kind of store. Each run is a
// process of its own (scenario-process.ts). Prints a Markdown table; see RESULTS.md for a recorded run.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KeyvNodeSqlite } from '@holdpoint/core';
import { operationNames, splitCounts, writeOperations } from './counting-store.js';
import { busyBetween, machineTicks } from './measure.js';
import type { Mode, ScenarioResult, ScenarioSpec } from './scenario.js';
import type { ScenarioMessage } from './scenario-process.js';
import {
  cleanUp,
  describeStore,
  messageOf,
  type StoreName,
  type StorePlace,
  storeNames,
  unreachableReason,
} from './stores.js';
import { describeTrace, recordLifecycleTrace } from './trace.js';

const usage = `Usage: npm run bench -- [options]

  --stores LIST        stores to run, of ${storeNames.join(', ')} (default: all)
  --concurrency LIST   lifecycles in flight, one run each (default: 1,16)
  --duration SECONDS   measured time per run (default: 4)
  --warmup SECONDS     unmeasured time before each run (default: 1)
  --no-notify          leave out the run with a trivial delivery hook (engine+notify)
  --no-experiments     leave out the SQLite run with each group of parallel writes in one
                       transaction (engine+batch, a bench-side experiment, not the engine as shipped)
  --help               this text

Redis and PostgreSQL come from HOLDPOINT_BENCH_REDIS_URL and HOLDPOINT_BENCH_POSTGRES_URL
(default redis://127.0.0.1:6379 and postgres://postgres@127.0.0.1:5432/test). A store that
cannot be reached is reported as skipped.`;

/** Aims from issue 3, for the SQLite file. */
const aim = { sqlitePerSecond: 2_000, ratio: 0.5 };

interface Options {
  stores: StoreName[];
  concurrency: number[];
  durationMs: number;
  warmupMs: number;
  notify: boolean;
  experiments: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      stores: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'no-notify': { type: 'boolean' },
      'no-experiments': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const list = (text: string) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const stores = values.stores === undefined ? [...storeNames] : list(values.stores.toLowerCase());
  for (const store of stores) {
    if (!storeNames.includes(store as StoreName))
      fail(`unknown store "${store}"; use ${storeNames.join(', ')}`);
  }
  const concurrency = list(values.concurrency ?? '1,16').map(Number);
  if (
    concurrency.length === 0 ||
    concurrency.some((value) => !Number.isInteger(value) || value < 1 || value > 1_000)
  ) {
    fail('--concurrency takes whole numbers from 1 to 1000, e.g. 1,16');
  }
  const seconds = (text: string | undefined, fallback: number, name: string) => {
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isFinite(value) || value < 0 || value > 600) fail(`--${name} takes seconds from 0 to 600`);
    return Math.round(value * 1000);
  };
  const durationMs = seconds(values.duration, 4, 'duration');
  if (durationMs === 0) fail('--duration must be more than 0 seconds');
  return {
    stores: storeNames.filter((store) => stores.includes(store)),
    concurrency: [...new Set(concurrency)].sort((a, b) => a - b),
    durationMs,
    warmupMs: seconds(values.warmup, 1, 'warmup'),
    notify: !values['no-notify'],
    experiments: !values['no-experiments'],
  };
}

function fail(message: string): never {
  console.error(`bench: ${message}\n\n${usage}`);
  process.exit(2);
}

/** Run one scenario in a process of its own and collect its result. */
function runInProcess(spec: ScenarioSpec): Promise<ScenarioResult> {
  const entry = fileURLToPath(new URL('./scenario-process.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    // The parent runs under tsx; its loader flags (execArgv) are passed on, so the child runs .ts too.
    const child: ChildProcess = fork(entry, [JSON.stringify(spec)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    running.add(child);
    let message: ScenarioMessage | undefined;
    const limit = spec.warmupMs + spec.durationMs + 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no result after ${Math.round(limit / 1000)} s`));
    }, limit);
    child.on('message', (received) => {
      message = received as ScenarioMessage;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (message?.ok) resolve(message.result);
      else if (message) reject(new Error(message.error));
      else reject(new Error(`the scenario process exited (${signal ?? `code ${code}`}) without a result`));
    });
  });
}

const running = new Set<ChildProcess>();

/** One line of the table: a result, or why there is none. */
type Row =
  | { store: StoreName; mode: Mode; concurrency: number; result: ScenarioResult }
  | { store: StoreName; mode: Mode | '—'; concurrency: number | '—'; problem: string };

function number(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function baselineOf(rows: readonly Row[], store: StoreName, concurrency: number): ScenarioResult | undefined {
  for (const row of rows) {
    if (
      'result' in row &&
      row.store === store &&
      row.mode === 'baseline' &&
      row.concurrency === concurrency
    ) {
      return row.result;
    }
  }
  return undefined;
}

function table(rows: readonly Row[]): string {
  const lines = [
    '| store | run | in flight | lifecycles/s | × baseline | p50 ms | p99 ms | peak RSS MB | store calls / lifecycle (reads + writes) | bench CPU ms / lifecycle | bench CPU | machine busy |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const row of rows) {
    if (!('result' in row)) {
      lines.push(`| ${row.store} | ${row.mode} | ${row.concurrency} | ${row.problem} | | | | | | | | |`);
      continue;
    }
    const { result } = row;
    const { reads, writes } = splitCounts(result.operations);
    const perLifecycle = (value: number) => number(value / result.lifecycles, 1);
    const baseline = row.mode === 'baseline' ? undefined : baselineOf(rows, row.store, row.concurrency);
    const ratio = baseline === undefined ? '' : `${number(result.perSecond / baseline.perSecond, 2)}×`;
    lines.push(
      `| ${row.store} | ${row.mode} | ${row.concurrency} | ${number(result.perSecond)} | ${ratio} | ` +
        `${number(result.p50Ms, 2)} | ${number(result.p99Ms, 2)} | ${number(result.peakRssBytes / 2 ** 20)} | ` +
        `${perLifecycle(reads + writes)} (${perLifecycle(reads)} + ${perLifecycle(writes)}) | ` +
        `${number(result.cpuMsPerLifecycle, 3)} | ${number(result.cpuShare * 100)} % | ` +
        `${number(result.machineBusy * 100)} % |`,
    );
  }
  return lines.join('\n');
}

/**
 * Per run: which store calls one lifecycle costs, each with its mean time — for memory and SQLite
 * the time the call ran (all of their work is done before the call returns: `node:sqlite` is
 * synchronous), for Redis and PostgreSQL the time until it settled (the round trip) — and how much
 * of the process's CPU per lifecycle was spent running store calls.
 */
function breakdown(rows: readonly Row[]): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    if (!('result' in row)) continue;
    const { result } = row;
    const { sync, settled } = result.operationTimes;
    const inProcess = row.store === 'memory' || row.store === 'sqlite';
    const times = inProcess ? sync : settled;
    const parts = operationNames
      .filter((name) => result.operations[name] > 0)
      .map(
        (name) =>
          `${name} ${number(result.operations[name] / result.lifecycles, 2)} × ` +
          `${number((times[name] / result.operations[name]) * 1000)} µs`,
      );
    const inside = operationNames.reduce((total, name) => total + sync[name], 0) / result.lifecycles;
    const share = inProcess
      ? `; ${number(inside, 3)} ms/lifecycle inside store calls (wall), of ${number(result.cpuMsPerLifecycle, 3)} ms CPU`
      : '';
    lines.push(
      `- ${row.store} ${row.mode} ×${row.concurrency}: ${parts.join(', ')}${share} (${result.check})`,
    );
  }
  return lines;
}

function aims(rows: readonly Row[]): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    if (!('result' in row) || row.store !== 'sqlite' || row.mode !== 'engine') continue;
    const baseline = baselineOf(rows, 'sqlite', row.concurrency);
    const rate = row.result.perSecond;
    const ratio = baseline ? rate / baseline.perSecond : Number.NaN;
    const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
    lines.push(
      `- sqlite, ${row.concurrency} in flight: ${number(rate)} lifecycles/s (aim ≥ ${number(aim.sqlitePerSecond)}: ` +
        `${verdict(rate >= aim.sqlitePerSecond)}), ${number(ratio, 2)}× baseline (aim ≥ ${aim.ratio}: ${verdict(ratio >= aim.ratio)})`,
    );
  }
  return lines;
}

/**
 * What this machine's SQLite does now: single-row INSERTs, each its own commit, for one second, on
 * a file opened the way the engine's store opens it. The yardstick for the SQLite numbers.
 */
async function sqliteCommitRate(directory: string): Promise<number> {
  const adapter = new KeyvNodeSqlite({ uri: join(directory, 'calibration.db') });
  try {
    const insert = adapter.db.prepare('INSERT INTO keyv (key, value) VALUES (?, ?)');
    const value = 'x'.repeat(200);
    const started = performance.now();
    let commits = 0;
    while (performance.now() - started < 1_000) insert.run(`key-${commits++}`, value);
    return commits / ((performance.now() - started) / 1000);
  } finally {
    await adapter.disconnect();
  }
}

async function main(): Promise<void> {
  const options = parseOptions();
  const runId = `hpbench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const directory = mkdtempSync(join(tmpdir(), 'holdpoint-bench-'));
  const places: StorePlace[] = [];
  let cleaned = false;
  const cleanUpOnce = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const problem of await cleanUp(places, directory)) console.error(`bench: clean-up: ${problem}`);
  };
  process.on('SIGINT', () => {
    for (const child of running) child.kill('SIGKILL');
    void cleanUpOnce().finally(() => process.exit(130));
  });

  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const idleLoad = busyBetween(before, machineTicks());
  console.log(
    `# Holdpoint gate-lifecycle bench — ${new Date().toISOString()}\n` +
      `Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
      `${number(totalmem() / 2 ** 30, 1)} GiB RAM; ${options.durationMs / 1000} s measured after ` +
      `${options.warmupMs / 1000} s warm-up per run, each run in a process of its own.\n` +
      `Before the bench, other work kept ${number(idleLoad * 100)} % of the machine's ${cpus().length} cores busy ` +
      `(load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(', ')}).\n`,
  );
  // The baseline replays the engine's store calls; they are recorded once, from the engine itself.
  const trace = await recordLifecycleTrace();
  const calls = trace.flat();
  const writes = calls.filter((call) => writeOperations.has(call.name)).length;
  console.log(
    `One engine lifecycle makes ${calls.length} store calls (${calls.length - writes} reads + ${writes} writes) ` +
      `in ${trace.length} sequential steps:\n  ${describeTrace(trace)}\n`,
  );
  const rows: Row[] = [];
  const calibrations: string[] = [];
  try {
    for (const store of options.stores) {
      const reason = await unreachableReason(store);
      if (reason !== undefined) {
        console.log(`${store}: skipped — ${reason}`);
        rows.push({ store, mode: '—', concurrency: '—', problem: `skipped: ${reason}` });
        continue;
      }
      console.log(`${store}: ${describeStore(store)}`);
      if (store === 'sqlite') {
        const rate = await sqliteCommitRate(directory);
        console.log(
          `  calibration: ${number(rate)} single-row commits/s on a fresh file (WAL, synchronous=NORMAL)`,
        );
        calibrations.push(
          `SQLite calibration: ${number(rate)} single-row INSERT commits/s on this machine now.`,
        );
      }
      const plan: Array<{ mode: Mode; concurrency: number }> = options.concurrency.flatMap((concurrency) => [
        { mode: 'baseline' as const, concurrency },
        { mode: 'engine' as const, concurrency },
      ]);
      const most = options.concurrency.at(-1) as number;
      if (options.notify) plan.push({ mode: 'engine+notify', concurrency: most });
      if (options.experiments && store === 'sqlite') plan.push({ mode: 'engine+batch', concurrency: most });
      for (const { mode, concurrency } of plan) {
        const place: StorePlace = { store, name: `${runId}_${places.length}`, directory };
        places.push(place);
        const spec: ScenarioSpec = {
          place,
          mode,
          concurrency,
          warmupMs: options.warmupMs,
          durationMs: options.durationMs,
          ...(mode === 'baseline' ? { trace } : {}),
        };
        try {
          const result = await runInProcess(spec);
          rows.push({ store, mode, concurrency, result });
          console.log(
            `  ${mode.padEnd(13)} ×${String(concurrency).padEnd(3)} ${number(result.perSecond).padStart(7)} lifecycles/s, ` +
              `p50 ${number(result.p50Ms, 2)} ms, p99 ${number(result.p99Ms, 2)} ms`,
          );
        } catch (error) {
          const problem = `failed: ${messageOf(error)}`;
          rows.push({ store, mode, concurrency, problem });
          console.log(`  ${mode.padEnd(13)} ×${concurrency} ${problem}`);
        }
      }
    }
  } finally {
    await cleanUpOnce();
  }
  console.log(`\n${table(rows)}\n`);
  const startRss = rows.flatMap((row) => ('result' in row ? [row.result.startRssBytes] : []));
  console.log(
    `baseline: the engine's ${calls.length} store calls per lifecycle (above) replayed with raw Keyv get, getMany ` +
      'and set on the same kind of store, records of the same sizes. engine+notify: with a delivery hook that ' +
      'does nothing. engine+batch (SQLite): an experiment, each group of writes the engine starts together ' +
      "committed as one transaction (batched-sqlite.ts). bench CPU: user + system time of the run's process; " +
      "machine busy: all cores, the store's server and anything else included." +
      (startRss.length > 0
        ? ` A run's process weighs ${number(Math.min(...startRss) / 2 ** 20)} MB before it opens its store.`
        : '') +
      '\n',
  );
  console.log(
    'Store calls per lifecycle × mean time per call (memory, SQLite: time the call ran; Redis, PostgreSQL: ' +
      'round trip); engine runs include background timer reads:',
  );
  console.log(`${breakdown(rows).join('\n')}\n`);
  for (const line of calibrations) console.log(`${line}\n`);
  const verdicts = aims(rows);
  if (verdicts.length > 0) console.log(`Aims (issue 3):\n${verdicts.join('\n')}`);
}

await main();
