// The PostgreSQL backend's append alone (the store call that records an event with its list moves,
// counters, records and wake-up), on a new schema, several runs in a row: whether its cost stays
// flat as the tables grow. Each append is shaped like a deadline's firing (3 list entries added,
// 6 removed, 4 counters, 2 records). With a plan that scans a table, later runs are slower than
// the first; `machine CPU ms / append` counts every process on the machine (the server's too).
//
//   node scripts/dev.mjs run bench/postgres-appends.ts [--count 4000] [--runs 3] [--concurrency 8]
//     [--baseline REV]
//
// `--baseline REV` runs the same on a schema of its own with the backend of that commit, after
// this checkout's.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { dropPostgresSchemas } from '@holdpoint/test-services';
import { baselineCore } from './baseline-core.js';
import { busyBetween, machineTicks } from './measure.js';
import { postgresUrl, unreachableReason } from './stores.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '4000' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    baseline: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'node scripts/dev.mjs run bench/postgres-appends.ts [--count N] [--runs N] [--concurrency N] [--baseline REV]',
  );
  process.exit(0);
}
const count = Number(values.count);
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
if (![count, runs, concurrency].every((value) => Number.isInteger(value) && value >= 1)) {
  console.error('postgres-appends: --count, --runs and --concurrency take whole numbers ≥ 1');
  process.exit(2);
}
const unreachable = await unreachableReason('postgres');
if (unreachable !== undefined) {
  console.log(`postgres-appends: skipped: ${unreachable}`);
  process.exit(0);
}

type Core = typeof import('../packages/core/src/index.js');
const cores: Array<{ label: string; core: Core }> = [
  { label: 'this checkout', core: await import('../packages/core/src/index.js') },
];
if (values.baseline !== undefined) {
  const { commit, url } = baselineCore(values.baseline);
  cores.push({ label: `at ${commit}`, core: (await import(url)) as Core });
}

/** One append shaped like a deadline's firing, for the `serial`-th intent. */
function firing(serial: number) {
  const intentId = `int_${process.pid}_${serial}`;
  const taskId = `tsk_${process.pid}_${serial}.a`;
  const added = ['timed_out', 'approval:timed_out', 'timed_out:ann@acme.test'];
  const removed = ['pending', 'approval:pending', 'pending:ann@acme.test', 'deadline', 'deadline:ann'];
  return {
    event: {
      key: `ev:${intentId}:3`,
      value: JSON.stringify({ intentId, seq: 3, type: 'task-timed-out', pad: 'x'.repeat(300) }),
      feed: { intentId, seq: 3, taskId, assignees: ['ann@acme.test'] },
    },
    writes: {
      indexAdd: added.map((name) => ({ index: `list:${name}`, member: taskId, score: -serial })),
      indexRemove: [
        ...removed.map((name) => ({ index: `list:${name}`, member: taskId })),
        { index: 'due', member: `${taskId}|deadline|0` },
      ],
      counters: [
        { counter: 'count:status:pending', delta: -1 },
        { counter: 'count:assignee-status:pending:ann@acme.test', delta: -1 },
        { counter: 'count:status:timed_out', delta: 1 },
        { counter: 'count:assignee-status:timed_out:ann@acme.test', delta: 1 },
      ],
      records: [
        { key: `head:${intentId}`, value: 'h'.repeat(500) },
        { key: `task:${taskId}`, value: 't'.repeat(700) },
      ],
      message: JSON.stringify({ i: intentId, s: 3 }),
    },
  };
}

console.log(
  `# PostgreSQL appends on a new schema — ${new Date().toISOString()}\n\n${runs} run(s) of ${count} appends in a row, ${concurrency} in flight, per backend.\n`,
);
console.log('| backend | run | appends/s | machine CPU ms / append |\n|---|--:|--:|--:|');
for (const [at, { label, core }] of cores.entries()) {
  const url = new URL(postgresUrl);
  url.searchParams.set('schema', `pa_${process.pid}_${at}`);
  const store = await core.createStore(url.toString());
  let serial = 0;
  try {
    for (let run = 1; run <= runs; run++) {
      const from = machineTicks();
      const started = performance.now();
      let left = count;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (left > 0) {
            left--;
            const { event, writes } = firing(serial++);
            if (!(await store.appendEvent(event.key, event.value, event.feed, writes)))
              throw new Error(`append ${event.key} lost its claim`);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      // The busy share of all cores, as CPU time per append.
      const cpuMs = (busyBetween(from, machineTicks()) * availableParallelism() * seconds * 1000) / count;
      console.log(
        `| ${label} | ${run} | ${Math.round(count / seconds).toLocaleString('en-US')} | ${cpuMs.toFixed(2)} |`,
      );
    }
  } finally {
    await store.close();
    await dropPostgresSchemas(postgresUrl, [url.searchParams.get('schema') as string]);
  }
}
