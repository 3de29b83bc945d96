// The peers benchmark of issue 6: the engine's gate lifecycle beside the tools a user would
// otherwise pick, in one process and one run, reported as ratios engine / peer.
//
//   node scripts/dev.mjs run bench/peers.ts [--stores sqlite,postgres,redis] [--concurrency 1,16]
//     [--duration 2] [--warmup 0.5] [--rounds 2] [--only TEXT] [--baseline REV]
//
// One lifecycle everywhere: ask → durable → a human approves → the waiter resumes.
// - engine: `waitForHuman` → the human, told by `hp.subscribe`, `decide`s → the waiter resolves
//   (gate-lifecycle.ts, as `npm run bench` runs it), on the SQLite file, PostgreSQL and Redis; with
//   `--baseline REV`, also the engine of that commit (baseline-core.ts), to show what a change bought.
// - raw-Keyv replay: the engine's store calls of one lifecycle replayed with raw Keyv (the issue-3
//   baseline, gate-lifecycle.ts).
// - LangGraph: a node calls `interrupt()`, the cycle resumes it with `Command({ resume })`, on
//   `@langchain/langgraph-checkpoint-sqlite` (on the node:sqlite stand-in for better-sqlite3,
//   better-sqlite3-on-node-sqlite.ts) and on `@langchain/langgraph-checkpoint-postgres`.
// - hand-written: an approvals table plus 3 audit rows (hand-written.ts), on node:sqlite (WAL,
//   synchronous=NORMAL) and on PostgreSQL (node-postgres pool).
//
// Rounds interleave the modes (a busier moment of the shared machine falls on all of them); the
// table gives the median of the rounds. Every mode checks its last lifecycle after each run.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Annotation, Command, END, interrupt, START, StateGraph } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { baselineCore } from './baseline-core.js';
import { BetterSqlite3OnNodeSqlite } from './better-sqlite3-on-node-sqlite.js';
import {
  counting,
  countsBetween,
  emptyCounts,
  type OperationCounts,
  type OperationTimes,
  observedStore,
  operationNames,
  splitCounts,
} from './counting-store.js';
import { openBaselineGate, openEngineGate } from './gate-lifecycle.js';
import { openHandWrittenPostgres, openHandWrittenSqlite, type PeerGate } from './hand-written.js';
import { busyBetween, drive, machineTicks, percentile } from './measure.js';
import {
  cleanUp,
  openBackend,
  openBaselineKeyv,
  postgresUrl,
  type StoreName,
  type StorePlace,
  unreachableReason,
} from './stores.js';
import { describeTrace, type LifecycleTrace, recordLifecycleTrace } from './trace.js';

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'sqlite,postgres,redis' },
    concurrency: { type: 'string', default: '1,16' },
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
    baseline: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'node scripts/dev.mjs run bench/peers.ts [--stores sqlite,postgres,redis] [--concurrency 1,16] [--duration 2] [--warmup 0.5] [--rounds 2] [--only TEXT] [--baseline REV]',
  );
  process.exit(0);
}
const list = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
const stores = list(values.stores) as StoreName[];
for (const store of stores) {
  if (!['sqlite', 'postgres', 'redis'].includes(store)) {
    console.error(`peers: unknown store "${store}"; use sqlite, postgres, redis`);
    process.exit(2);
  }
}
const concurrencies = list(values.concurrency).map(Number);
if (concurrencies.some((value) => !Number.isInteger(value) || value < 1 || value > 1_000)) {
  console.error('peers: --concurrency takes whole numbers from 1 to 1000, e.g. 1,16');
  process.exit(2);
}
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const rounds = Number(values.rounds);
if (!(durationMs > 0) || !(warmupMs >= 0) || !(rounds >= 1)) {
  console.error('peers: --duration > 0, --warmup ≥ 0 (seconds) and --rounds ≥ 1');
  process.exit(2);
}

/** Aims of issue 6. */
const aim = { sqlitePerSecond: 4_000, overLangGraphSqlite: 4, overHandSqlite: 0.25, overHandPostgres: 0.5 };

// ---------------------------------------------------------------------------------------------
// LangGraph's bare interrupt → Command({ resume }).

const State = Annotation.Root({
  n: Annotation<number>,
  answer: Annotation<string>,
  sent: Annotation<boolean>,
});
type BenchState = typeof State.State;

function langGraphGate(saver: BaseCheckpointSaver, close: () => Promise<void>): PeerGate {
  const graph = new StateGraph(State)
    .addNode(
      'gate',
      () => {
        const answer = interrupt({ question: 'Refund the customer?' }) as string;
        return new Command({ goto: answer === 'approved' ? 'send' : END, update: { answer } });
      },
      { ends: ['send', END] },
    )
    .addNode('send', () => ({ sent: true }))
    .addEdge(START, 'gate')
    .addEdge('send', END)
    .compile({ checkpointer: saver });
  let last: string | undefined;
  return {
    async lifecycle(id) {
      const thread = { configurable: { thread_id: `${id}-${randomBytes(6).toString('hex')}` } };
      const first = (await graph.invoke({ n: 1 }, thread)) as { __interrupt__?: unknown[] };
      if (!first.__interrupt__?.length) throw new Error(`thread ${id} did not stop at its interrupt`);
      const state = (await graph.invoke(new Command({ resume: 'approved' }), thread)) as BenchState;
      if (state.answer !== 'approved' || state.sent !== true)
        throw new Error(`thread ${id} ended with ${JSON.stringify(state)}`);
      last = thread.configurable.thread_id;
    },
    async check() {
      if (last === undefined) throw new Error('no lifecycle completed');
      const state = await graph.getState({ configurable: { thread_id: last } });
      if ((state.values as BenchState).sent !== true)
        throw new Error(`thread ${last}: ${JSON.stringify(state.values)}`);
      return 'last thread read back from the saver: sent';
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// The modes.

type Peer = 'engine' | 'engine at baseline' | 'raw-Keyv replay' | 'LangGraph' | 'hand-written';

/** The engine of another commit (`--baseline`), run beside this checkout's. */
const baseline =
  values.baseline === undefined
    ? undefined
    : await (async () => {
        const { commit, url } = baselineCore(values.baseline as string);
        const core = (await import(url)) as typeof import('@holdpoint/core');
        return { commit, createStore: core.createStore, createHoldpoint: core.createHoldpoint };
      })();

interface Mode {
  store: StoreName;
  peer: Peer;
  label: string;
  open(place: StorePlace, counts: OperationCounts): Promise<PeerGate>;
}

const noTimes = (): OperationTimes => ({ sync: emptyCounts(), settled: emptyCounts() });
let trace: LifecycleTrace = [];

function modesOf(store: StoreName): Mode[] {
  const modes: Mode[] = [
    {
      store,
      peer: 'engine',
      label: `Holdpoint engine / ${store}`,
      open: async (place, counts) =>
        openEngineGate(observedStore(await openBackend(place), counting(counts, noTimes())), {
          notify: false,
        }),
    },
    ...(baseline === undefined
      ? []
      : [
          {
            store,
            peer: 'engine at baseline' as const,
            label: `Holdpoint engine at ${baseline.commit} / ${store}`,
            open: async (place: StorePlace, counts: OperationCounts) =>
              openEngineGate(
                observedStore(await openBackend(place, baseline.createStore), counting(counts, noTimes())),
                { notify: false },
                baseline.createHoldpoint,
              ),
          },
        ]),
    {
      store,
      peer: 'raw-Keyv replay',
      label: `raw-Keyv replay of the engine's calls / ${store}`,
      open: async (place) => {
        const { keyv, close } = await openBaselineKeyv(place);
        return openBaselineGate(keyv, trace, close);
      },
    },
  ];
  if (store === 'sqlite') {
    modes.push(
      {
        store,
        peer: 'LangGraph',
        label: 'LangGraph interrupt → resume / SqliteSaver (node:sqlite stand-in)',
        open: async (place) => {
          const db = new BetterSqlite3OnNodeSqlite(join(place.directory, `${place.name}-langgraph.db`));
          // biome-ignore lint/suspicious/noExplicitAny: the stand-in has the part of better-sqlite3's API the saver uses.
          return langGraphGate(new SqliteSaver(db as any), async () => db.close());
        },
      },
      {
        store,
        peer: 'hand-written',
        label: 'hand-written approvals + 3 audit rows / node:sqlite',
        open: async (place) => openHandWrittenSqlite(join(place.directory, `${place.name}-hand.db`)),
      },
    );
  }
  if (store === 'postgres') {
    modes.push(
      {
        store,
        peer: 'LangGraph',
        label: 'LangGraph interrupt → resume / PostgresSaver',
        open: async (place) => {
          const saver = PostgresSaver.fromConnString(postgresUrl, { schema: place.name });
          await saver.setup();
          return langGraphGate(saver, () => saver.end());
        },
      },
      {
        store,
        peer: 'hand-written',
        label: 'hand-written approvals + 3 audit rows / PostgreSQL (pg pool)',
        open: (place) => openHandWrittenPostgres(postgresUrl, place.name),
      },
    );
  }
  return modes;
}

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
  cpuMs: number;
  callsPerLifecycle?: { reads: number; writes: number; counts: OperationCounts; lifecycles: number };
}

const number = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';
const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

async function main(): Promise<void> {
  const runId = `hppeers_${process.pid}_${randomBytes(3).toString('hex')}`;
  const directory = mkdtempSync(join(tmpdir(), 'holdpoint-bench-peers-'));
  const places: StorePlace[] = [];
  const modes: Mode[] = [];
  const skipped: string[] = [];
  for (const store of stores) {
    const reason = await unreachableReason(store);
    if (reason === undefined) modes.push(...modesOf(store));
    else skipped.push(`${store}: skipped — ${reason}`);
  }
  if (values.only !== undefined) {
    const wanted = values.only;
    modes.splice(0, modes.length, ...modes.filter((mode) => mode.label.includes(wanted)));
  }
  trace = await recordLifecycleTrace();
  const samples = new Map<string, Sample[]>();
  const key = (mode: Mode, concurrency: number) => `${mode.label}×${concurrency}`;
  const loadBefore = loadavg();
  const ticksBefore = machineTicks();
  const startedAt = new Date();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const concurrency of concurrencies) {
        for (const mode of modes) {
          const place: StorePlace = { store: mode.store, name: `${runId}_${places.length}`, directory };
          places.push(place);
          const counts = emptyCounts();
          const gate = await mode.open(place, counts);
          try {
            const atStart = { ...counts };
            const result = await drive({
              concurrency,
              warmupMs,
              durationMs,
              lifecycle: (id) => gate.lifecycle(`r${round}.${id}`),
            });
            const made = countsBetween(atStart, counts);
            const { reads, writes } = splitCounts(made);
            await gate.check();
            const sample: Sample = {
              perSecond: result.completed / result.seconds,
              p50: percentile(result.latenciesMs, 0.5),
              p99: percentile(result.latenciesMs, 0.99),
              cpuMs: result.cpuMs / Math.max(1, result.completed),
              ...(mode.peer === 'engine' || mode.peer === 'engine at baseline'
                ? { callsPerLifecycle: { reads, writes, counts: made, lifecycles: result.total } }
                : {}),
            };
            const list = samples.get(key(mode, concurrency)) ?? [];
            list.push(sample);
            samples.set(key(mode, concurrency), list);
            console.error(
              `round ${round + 1}/${rounds} ×${concurrency} ${mode.label}: ${number(sample.perSecond)}/s, p50 ${number(sample.p50, 2)} ms`,
            );
          } finally {
            await gate.close();
          }
        }
      }
    }
  } finally {
    for (const problem of await cleanUp(places, directory)) console.error(`peers: clean-up: ${problem}`);
  }
  const machineBusy = busyBetween(ticksBefore, machineTicks());
  const loadAfter = loadavg();

  const rate = (mode: Mode | undefined, concurrency: number) =>
    mode === undefined
      ? Number.NaN
      : median((samples.get(key(mode, concurrency)) ?? []).map((sample) => sample.perSecond));
  console.log(
    `# Holdpoint against its peers (issue 6) — ${startedAt.toISOString()}\n\n` +
      `${cpus().length} cores, Node ${process.version}; load average ${loadBefore.map((v) => v.toFixed(2)).join(' ')} before, ` +
      `${loadAfter.map((v) => v.toFixed(2)).join(' ')} after; the machine ${number(machineBusy * 100)} % busy over the run ` +
      `(shared with other work). ${rounds} round(s) × ${durationMs / 1000} s per mode and concurrency after ${warmupMs / 1000} s warm-up, modes interleaved; medians.\n`,
  );
  for (const line of skipped) console.log(line);
  console.log(`One engine lifecycle (recorded on memory://): ${describeTrace(trace)}\n`);
  const header = concurrencies.map((c) => `${c} in flight`);
  console.log(
    `| mode | ${header.map((h) => `${h}: lifecycles/s`).join(' | ')} | ${header.map((h) => `${h}: p50 / p99 ms`).join(' | ')} | CPU ms / lifecycle (${concurrencies.at(-1)} in flight) |`,
  );
  console.log(
    `|---|${concurrencies.map(() => '--:|').join('')}${concurrencies.map(() => '--:|').join('')}--:|`,
  );
  for (const mode of modes) {
    const cells = concurrencies.map((c) => number(rate(mode, c)));
    const latencies = concurrencies.map((c) => {
      const list = samples.get(key(mode, c)) ?? [];
      return `${number(median(list.map((s) => s.p50)), 2)} / ${number(median(list.map((s) => s.p99)), 2)}`;
    });
    const cpu = median((samples.get(key(mode, concurrencies.at(-1) as number)) ?? []).map((s) => s.cpuMs));
    console.log(`| ${mode.label} | ${cells.join(' | ')} | ${latencies.join(' | ')} | ${number(cpu, 3)} |`);
  }

  console.log('\nRatios engine / peer, same run (median rates):\n');
  console.log(`| store | peer | ${concurrencies.map((c) => `${c} in flight`).join(' | ')} |`);
  console.log(`|---|---|${concurrencies.map(() => '--:|').join('')}`);
  const find = (store: StoreName, peer: Peer) =>
    modes.find((mode) => mode.store === store && mode.peer === peer);
  for (const store of stores) {
    const engine = find(store, 'engine');
    if (engine === undefined) continue;
    for (const peer of ['engine at baseline', 'LangGraph', 'hand-written', 'raw-Keyv replay'] as const) {
      const other = find(store, peer);
      if (other === undefined) continue;
      const ratios = concurrencies.map((c) => `${number(rate(engine, c) / rate(other, c), 2)}×`);
      console.log(`| ${store} | ${other.label} | ${ratios.join(' | ')} |`);
    }
  }

  console.log('\nStore calls per engine lifecycle (counted over each run, warm-up included):\n');
  for (const engine of modes.filter((mode) => mode.peer === 'engine' || mode.peer === 'engine at baseline')) {
    for (const concurrency of concurrencies) {
      const list = samples.get(key(engine, concurrency)) ?? [];
      const first = list[0]?.callsPerLifecycle;
      if (first === undefined) continue;
      const per = (value: number) => number(value / first.lifecycles, 2);
      const parts = operationNames
        .filter((name) => first.counts[name] > 0)
        .map((name) => `${name} ${per(first.counts[name])}`);
      console.log(
        `- ${engine.label} ×${concurrency}: ${per(first.reads + first.writes)} (${per(first.reads)} reads + ${per(first.writes)} writes): ${parts.join(', ')}`,
      );
    }
  }

  const verdict = (met: boolean) => (met ? 'met' : '**missed**');
  console.log('\nAims (issue 6):\n');
  const sqliteEngine = find('sqlite', 'engine');
  const postgresEngine = find('postgres', 'engine');
  for (const c of concurrencies) {
    if (sqliteEngine !== undefined) {
      const value = rate(sqliteEngine, c);
      const overLangGraph = value / rate(find('sqlite', 'LangGraph'), c);
      const overHand = value / rate(find('sqlite', 'hand-written'), c);
      console.log(
        `- SQLite ×${c}: ${number(value)}/s (aim ≥ ${number(aim.sqlitePerSecond)}: ${verdict(value >= aim.sqlitePerSecond)}); ` +
          `${number(overLangGraph, 2)}× LangGraph SQLite (aim ≥ ${aim.overLangGraphSqlite}×: ${verdict(overLangGraph >= aim.overLangGraphSqlite)}); ` +
          `${number(overHand, 2)}× hand-written (aim ≥ ${aim.overHandSqlite}×: ${verdict(overHand >= aim.overHandSqlite)})`,
      );
    }
    if (postgresEngine !== undefined) {
      const value = rate(postgresEngine, c);
      const overHand = value / rate(find('postgres', 'hand-written'), c);
      const overLangGraph = value / rate(find('postgres', 'LangGraph'), c);
      console.log(
        `- PostgreSQL ×${c}: ${number(value)}/s; ${number(overHand, 2)}× hand-written (aim ≥ ${aim.overHandPostgres}×: ` +
          `${verdict(overHand >= aim.overHandPostgres)}); ${number(overLangGraph, 2)}× LangGraph PostgreSQL`,
      );
    }
  }
}

await main();
