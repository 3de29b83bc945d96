// The long-running bench (issue 14): `node scripts/dev.mjs run bench/long-running.ts --scenario waiters`.
//
// Each scenario runs twice per store, each time in a process of its own (long-running-process.ts):
// "before" on the core's sources at a baseline commit (extracted with `git archive` into
// packages/core/.tmp/, where they resolve the core's own dependencies) and "after" on the sources at
// hand. Prints a Markdown table with both and their ratio; see RESULTS.md for recorded runs.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { baselineCore } from './baseline-core.js';
import type { LongRunResult, LongRunSpec } from './long-running-process.js';
import { cleanUp, type StoreName, type StorePlace, storeNames, unreachableReason } from './stores.js';

const usage = `Usage: node scripts/dev.mjs run bench/long-running.ts [options]

  --scenario NAME      waiters (heap, event-loop delay, CPU and getTask latency with waiters polling
                       every second), startup (createHoldpoint with overdue timers) or contexts
                       (heap kept after tasks with 900 KB contexts; one events() page) or history
                       (requestHuman, decide and a cold getTask in one intent of 100, 1,000, … N events)
                       (default: waiters)
  --stores LIST        stores to run, of ${storeNames.join(', ')} (default: sqlite,postgres)
  --count N            waiters, overdue timers, tasks or events (default: 10000)
  --duration SECONDS   measured time of the waiters scenario (default: 8)
  --baseline REV       the commit whose core is "before" (default: main)
  --help               this text`;

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'waiters' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    count: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '8' },
    baseline: { type: 'string', default: 'main' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const scenario = values.scenario as LongRunSpec['scenario'];
if (!['waiters', 'startup', 'contexts', 'history'].includes(scenario)) throw new Error(usage);
const stores = (values.stores as string).split(',').filter((store) => store !== '') as StoreName[];
const count = Number(values.count);
const durationMs = Number(values.duration) * 1000;

const { commit, url: baselineUrl } = baselineCore(values.baseline as string);
const cores = {
  before: baselineUrl,
  after: '@holdpoint/core',
};

const directory = mkdtempSync(join(tmpdir(), 'holdpoint-bench-long-'));
const places: StorePlace[] = [];

function run(spec: LongRunSpec): Promise<LongRunResult> {
  const entry = fileURLToPath(new URL('./long-running-process.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = fork(entry, [JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      execArgv: [...process.execArgv, '--max-old-space-size=2048', '--expose-gc'],
    });
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', () => {
      const line = output.trim().split('\n').at(-1) ?? '';
      try {
        const parsed = JSON.parse(line) as { result?: LongRunResult; error?: string };
        if (parsed.result) resolve(parsed.result);
        else reject(new Error(parsed.error));
      } catch {
        reject(new Error(`the run ended without a result: ${output.slice(-500)}`));
      }
    });
  });
}

const format = (value: number | undefined) =>
  value === undefined || Number.isNaN(value)
    ? '—'
    : value >= 100
      ? value.toFixed(0)
      : value.toFixed(value >= 10 ? 1 : 2);

console.log(
  `# long-running bench: ${scenario}, ${count} ${scenario === 'waiters' ? 'waiters' : scenario === 'startup' ? 'overdue timers' : scenario === 'history' ? 'events at most' : 'tasks'}, baseline ${commit}, load ${loadavg()[0]?.toFixed(1)} at start\n`,
);
try {
  for (const store of stores) {
    const unreachable = await unreachableReason(store);
    if (unreachable) {
      console.log(`${store}: skipped (${unreachable})\n`);
      continue;
    }
    const results: Partial<Record<'before' | 'after', LongRunResult | string>> = {};
    for (const variant of ['before', 'after'] as const) {
      const place: StorePlace = { store, name: `hp_long_${randomBytes(4).toString('hex')}`, directory };
      places.push(place);
      results[variant] = await run({ scenario, place, core: cores[variant], count, durationMs }).catch(
        (error: Error) => `failed: ${error.message.split('\n')[0]}`,
      );
    }
    const before = results.before;
    const after = results.after;
    const metrics = Object.keys(typeof after === 'object' ? after : typeof before === 'object' ? before : {});
    console.log(`## ${store}\n\n| metric | before (${commit}) | after | after ÷ before |\n|---|--:|--:|--:|`);
    for (const metric of metrics) {
      const b = typeof before === 'object' ? before[metric] : undefined;
      const a = typeof after === 'object' ? after[metric] : undefined;
      const ratio = a !== undefined && b !== undefined && b !== 0 ? `${(a / b).toFixed(2)}×` : '—';
      console.log(`| ${metric} | ${format(b)} | ${format(a)} | ${ratio} |`);
    }
    if (typeof before === 'string') console.log(`\nbefore: ${before}`);
    if (typeof after === 'string') console.log(`\nafter: ${after}`);
    console.log('');
  }
} finally {
  for (const problem of await cleanUp(places, directory)) console.error(problem);
}
