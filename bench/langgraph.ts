// The LangGraph gate benchmark: interrupt + resume cycles per second.
//
//   node scripts/dev.mjs run bench/langgraph.ts [--duration 3] [--warmup 1] [--rounds 3] [--concurrency 1] [--only TEXT]
//
// One cycle is a fresh thread run to its gate, answered, and run to its end. Side by side, in one
// process and one run (rounds interleave the modes, so a busier moment of a shared machine falls on
// all of them):
//
// - bare / LangGraph SQLite saver: a node calls `interrupt()`; the cycle resumes it with
//   `Command({ resume })`. The checkpointer is @langchain/langgraph-checkpoint-sqlite's SqliteSaver
//   (on node:sqlite: see better-sqlite3-on-node-sqlite.ts; set HOLDPOINT_BENCH_BETTER_SQLITE3 to a
//   built better-sqlite3 package folder to run it on the real addon too).
// - bare / Holdpoint saver: the same graph on HoldpointSaver over Holdpoint's SQLite store.
// - humanGate / Holdpoint saver: the node is `humanGate(...)`; the run starts with
//   `resumer.invoke`, a person `decide`s the Holdpoint task, and the resumer resumes the thread
//   (event → lease → the pending interrupt → `Command({ resume: { [id]: result } })`). It includes
//   the engine's work: the task, its audit events, the decision.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHoldpoint, createStore, type Holdpoint, type StoreBackend } from '@holdpoint/core';
import {
  HoldpointSaver,
  humanGate,
  isHumanTaskInterrupt,
  type Resumer,
  startResumer,
} from '@holdpoint/langgraph';
import { Annotation, Command, END, interrupt, START, StateGraph } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { BetterSqlite3OnNodeSqlite } from './better-sqlite3-on-node-sqlite.js';
import { drive, percentile } from './measure.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);

const State = Annotation.Root({
  n: Annotation<number>,
  answer: Annotation<string>,
  sent: Annotation<boolean>,
});
type BenchState = typeof State.State;

function bareGraph(checkpointer: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode(
      'gate',
      () => {
        const answer = interrupt({ question: 'Send it?' }) as string;
        return new Command({ goto: answer === 'approved' ? 'send' : END, update: { answer } });
      },
      { ends: ['send', END] },
    )
    .addNode('send', () => ({ sent: true }))
    .addEdge(START, 'gate')
    .addEdge('send', END)
    .compile({ checkpointer });
}

function gatedGraph(checkpointer: BaseCheckpointSaver, hp: Holdpoint) {
  const gate = humanGate<BenchState>({
    holdpoint: hp,
    task: 'approval',
    assignee: 'cfo@acme.test',
    timeout: '1h',
    ask: (state) => ({ context: { report: state.n } }),
    routes: { approved: 'send', rejected: END },
    update: (result) => ({ answer: result.outcome ?? result.status }),
  });
  return new StateGraph(State)
    .addNode('gate', gate, { ends: gate.ends })
    .addNode('send', () => ({ sent: true }))
    .addEdge(START, 'gate')
    .addEdge('send', END)
    .compile({ checkpointer });
}

/** One way of running the cycle: set up, run one cycle, tear down. */
interface Mode {
  name: string;
  open(dir: string): Promise<{ cycle: (id: string) => Promise<void>; close: () => Promise<void> }>;
}

const check = (state: BenchState, id: string) => {
  if (state.answer !== 'approved' || state.sent !== true) {
    throw new Error(`cycle ${id} ended with ${JSON.stringify(state)}`);
  }
};

function bareMode(
  name: string,
  saverOf: (dir: string) => Promise<{ saver: BaseCheckpointSaver; close(): Promise<void> }>,
): Mode {
  return {
    name,
    open: async (dir) => {
      const { saver, close } = await saverOf(dir);
      const graph = bareGraph(saver);
      return {
        cycle: async (id) => {
          const thread = { configurable: { thread_id: id } };
          await graph.invoke({ n: 1 }, thread);
          check((await graph.invoke(new Command({ resume: 'approved' }), thread)) as BenchState, id);
        },
        close,
      };
    },
  };
}

const modes: Mode[] = [
  bareMode('bare interrupt + resume / LangGraph SQLite saver', async (dir) => {
    const db = new BetterSqlite3OnNodeSqlite(join(dir, 'langgraph.db'));
    // biome-ignore lint/suspicious/noExplicitAny: the stand-in has the part of better-sqlite3's API the saver uses.
    return { saver: new SqliteSaver(db as any), close: async () => db.close() };
  }),
  bareMode('bare interrupt + resume / Holdpoint saver', async (dir) => {
    const store = await createStore(`sqlite://${join(dir, 'holdpoint.db')}`);
    return { saver: new HoldpointSaver(store), close: () => store.close() };
  }),
  {
    name: 'humanGate + decide + resumer / Holdpoint saver',
    open: async (dir) => {
      const store: StoreBackend = await createStore(`sqlite://${join(dir, 'holdpoint.db')}`);
      const hp = await createHoldpoint({ store });
      const graph = gatedGraph(new HoldpointSaver(store), hp);
      const finished = new Map<string, () => void>();
      let last: string | undefined;
      const resumer: Resumer = await startResumer({
        holdpoint: hp,
        graph,
        concurrency: Math.max(4, concurrency),
        onResume: (event) => finished.get(event.threadId)?.(),
        onError: (error) => console.error(error),
      });
      return {
        cycle: async (id) => {
          const thread = { configurable: { thread_id: id } };
          const done = new Promise<void>((resolve) => finished.set(id, resolve));
          const output = (await resumer.invoke({ n: 1 }, thread)) as {
            __interrupt__?: Array<{ value: unknown }>;
          };
          const value = output.__interrupt__?.[0]?.value;
          if (!isHumanTaskInterrupt(value)) throw new Error(`cycle ${id} did not stop at its gate`);
          await hp.decide(value.holdpoint.taskId, {
            outcome: 'approved',
            actor: 'cfo@acme.test',
            versionDigest: value.holdpoint.versionDigest,
          });
          await done;
          finished.delete(id);
          last = id;
        },
        close: async () => {
          // Reading the state back is left out of the cycles; the last one is checked here.
          if (last !== undefined)
            check((await graph.getState({ configurable: { thread_id: last } })).values as BenchState, last);
          await resumer.close();
          await hp.close();
          await store.close();
        },
      };
    },
  },
];

const betterSqlite3 = process.env.HOLDPOINT_BENCH_BETTER_SQLITE3;
if (betterSqlite3) {
  const Database = createRequire(import.meta.url)(betterSqlite3) as new (
    path: string,
  ) => {
    pragma(text: string): unknown;
    close(): void;
  };
  modes.unshift(
    bareMode('bare interrupt + resume / LangGraph SQLite saver (better-sqlite3 addon)', async (dir) => {
      const db = new Database(join(dir, 'langgraph-addon.db'));
      // biome-ignore lint/suspicious/noExplicitAny: better-sqlite3 loaded from a path, untyped here.
      return { saver: new SqliteSaver(db as any), close: async () => db.close() };
    }),
  );
}

if (values.only !== undefined) {
  const wanted = values.only;
  modes.splice(0, modes.length, ...modes.filter((mode) => mode.name.includes(wanted)));
}

interface Sample {
  perSecond: number;
  p50: number;
  cpuMsPerCycle: number;
  machineBusy: number;
}

const samples = new Map<string, Sample[]>(modes.map((mode) => [mode.name, []]));
const loadBefore = loadavg();
const root = mkdtempSync(join(tmpdir(), 'holdpoint-bench-langgraph-'));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [index, mode] of modes.entries()) {
      const dir = mkdtempSync(join(root, `${round}-${index}-`));
      const { cycle, close } = await mode.open(dir);
      try {
        const result = await drive({
          concurrency,
          warmupMs,
          durationMs,
          lifecycle: (id) => cycle(`r${round}-${id}`),
        });
        samples.get(mode.name)?.push({
          perSecond: result.completed / result.seconds,
          p50: percentile(result.latenciesMs, 0.5),
          cpuMsPerCycle: result.cpuMs / Math.max(1, result.completed),
          machineBusy: result.machineBusy,
        });
      } finally {
        await close();
      }
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
const loadAfter = loadavg();

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
const summary = modes.map((mode) => {
  const list = samples.get(mode.name) ?? [];
  return {
    name: mode.name,
    perSecond: median(list.map((sample) => sample.perSecond)),
    p50: median(list.map((sample) => sample.p50)),
    cpuMsPerCycle: median(list.map((sample) => sample.cpuMsPerCycle)),
    machineBusy: median(list.map((sample) => sample.machineBusy)),
    all: list.map((sample) => sample.perSecond.toFixed(0)).join(', '),
  };
});
const byName = (fragment: string) => summary.find((row) => row.name.includes(fragment));
const sqliteSaver = byName('LangGraph SQLite saver');
const bareHoldpoint = byName('bare interrupt + resume / Holdpoint saver');
const gated = byName('humanGate');

console.log(
  `\n${new Date().toISOString()} · ${cpus().length} cores · load average ${loadBefore.map((value) => value.toFixed(2)).join(' ')} before, ${loadAfter.map((value) => value.toFixed(2)).join(' ')} after · ${rounds} rounds × ${durationMs / 1000} s per mode, ${concurrency} cycle(s) in flight\n`,
);
console.log('| mode | cycles/s (median) | each round | p50 ms | CPU ms / cycle | machine busy |');
console.log('|---|---:|---|---:|---:|---:|');
for (const row of summary) {
  console.log(
    `| ${row.name} | ${row.perSecond.toFixed(0)} | ${row.all} | ${row.p50.toFixed(2)} | ${row.cpuMsPerCycle.toFixed(2)} | ${(row.machineBusy * 100).toFixed(0)} % |`,
  );
}
if (sqliteSaver && bareHoldpoint && gated) {
  console.log(
    `\nhumanGate / bare on the Holdpoint saver: ${(gated.perSecond / bareHoldpoint.perSecond).toFixed(2)}× (aim ≥ 0.8×); by CPU: ${(bareHoldpoint.cpuMsPerCycle / gated.cpuMsPerCycle).toFixed(2)}×`,
  );
  console.log(
    `Holdpoint saver / LangGraph SQLite saver, bare: ${(bareHoldpoint.perSecond / sqliteSaver.perSecond).toFixed(2)}× (aim ≥ 1×); by CPU: ${(sqliteSaver.cpuMsPerCycle / bareHoldpoint.cpuMsPerCycle).toFixed(2)}×`,
  );
}
