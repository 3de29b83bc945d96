// A backlog of overdue deadlines, fired by one timer engine: how many firings a second, the
// engine's CPU per firing, and how busy the whole machine was (the store's server included).
// `--shared` runs a second timer engine on the store that records an event now and then, so the
// timer engine hears from another engine that may fire timers and fires under leases (a lease,
// then the event, which releases it); that engine never finds a due timer itself (its store
// answers `due` with nothing), so one engine fires the whole backlog either way. Without it the
// timer engine is alone and fires without leases.
//
//   node scripts/dev.mjs run bench/timer-backlog.ts [--stores sqlite,postgres,redis] [--count 3000]
//     [--rounds 2] [--shared] [--baseline REV]
//
// `--baseline REV` fires the same backlog (on a store of its own) with the engine of that commit,
// alternating with this checkout's, round by round.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { baselineCore } from './baseline-core.js';
import { busyBetween, machineTicks } from './measure.js';
import {
  cleanUp,
  fileAndServerStores,
  postgresUrl,
  redisUrl,
  type StoreName,
  type StorePlace,
  sqliteFile,
  unreachableReason,
} from './stores.js';

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'sqlite,postgres,redis' },
    count: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '2' },
    shared: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'node scripts/dev.mjs run bench/timer-backlog.ts [--stores sqlite,postgres,redis] [--count N] [--rounds N] [--shared] [--baseline REV]',
  );
  process.exit(0);
}
const count = Number(values.count);
const rounds = Number(values.rounds);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(rounds) || rounds < 1) {
  console.error('timer-backlog: --count and --rounds take whole numbers ≥ 1');
  process.exit(2);
}
const stores = fileAndServerStores(String(values.stores), 'timer-backlog');

type Core = typeof import('../packages/core/src/index.js');
const cores: Array<{ label: string; core: Core }> = [
  { label: 'this checkout', core: await import('../packages/core/src/index.js') },
];
if (values.baseline !== undefined) {
  const { commit, url } = baselineCore(values.baseline);
  cores.push({ label: `at ${commit}`, core: (await import(url)) as Core });
}

const directory = mkdtempSync(join(tmpdir(), 'timer-backlog-'));
const places: StorePlace[] = [];
let serial = 0;

/** The store's URL, as a user gives it (the engine opens and closes the store). */
function specOf(place: StorePlace): string {
  if (place.store === 'sqlite') return `sqlite://${sqliteFile(place, 'engine')}`;
  const url = new URL(place.store === 'redis' ? redisUrl : postgresUrl);
  url.searchParams.set(place.store === 'redis' ? 'prefix' : 'schema', place.name);
  return url.toString();
}

/**
 * A timer engine (its wake-ups say so) whose store never hands it a due timer: it writes beside the
 * measured engine, which must lease its firings, without firing any of the backlog itself.
 */
async function timerEngineThatNeverFires(core: Core, place: StorePlace) {
  const store = await core.createStore(specOf(place));
  const blind = new Proxy(store, {
    get(target, property) {
      if (property === 'indexRange')
        return (index: string, options: Parameters<typeof target.indexRange>[1]) =>
          index === 'due' ? Promise.resolve([]) : target.indexRange(index, options);
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const engine = await core.createHoldpoint({ store: blind, pollInterval: '1h' });
  return {
    requestHuman: engine.requestHuman.bind(engine),
    close: async () => {
      await engine.close();
      await store.close();
    },
  };
}

/** One backlog of `count` overdue deadlines fired by a new timer engine: firings/s and CPU ms per firing. */
async function fireBacklog(
  core: Core,
  store: StoreName,
): Promise<{ rate: number; cpuMs: number; busy: number }> {
  const place: StorePlace = { store, name: `tb_${process.pid}_${serial++}`, directory };
  places.push(place);
  const seeder = await core.createHoldpoint({ store: specOf(place), timers: false });
  for (let at = 0; at < count; at += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - at) }, () =>
        seeder.requestHuman({ assignee: 'ann@acme.test', timeout: 1 }),
      ),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  await seeder.close();
  // The other engine: with `--shared` it records an event every 20 ms, so its wake-ups keep arriving.
  const writer = values.shared ? await timerEngineThatNeverFires(core, place) : undefined;
  const other = writer
    ? setInterval(() => void writer.requestHuman({ assignee: 'bob@acme.test', timeout: '1h' }), 20)
    : undefined;
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  // The engine's timers do not keep a process alive (a waiting agent does): a backlog of more than
  // one round (5,000 timers) waits for its next round on one of them.
  const keepAlive = setInterval(() => {}, 1_000);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const machine = machineTicks();
  const engine = await core.createHoldpoint({ store: specOf(place), pollInterval: '1h' });
  engine.subscribe((event) => {
    if (event.type === 'task-timed-out' && ++done === count) finish();
  });
  await finished;
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const busy = busyBetween(machine, machineTicks());
  clearInterval(other);
  clearInterval(keepAlive);
  await engine.close();
  await writer?.close();
  return { rate: (count / ms) * 1000, cpuMs: (used.user + used.system) / 1000 / count, busy };
}

console.log(
  `# Timer backlog — ${new Date().toISOString()}\n\n${count} overdue deadlines per round, ${rounds} round(s), ` +
    `${values.shared ? 'another engine writing (leases taken)' : 'the timer engine alone (no leases)'}.\n`,
);
console.log(
  '| store | engine | firings/s (median) | CPU ms / firing (median) | machine CPU busy (median) |\n|---|---|--:|--:|--:|',
);
try {
  for (const store of stores) {
    const reason = await unreachableReason(store);
    if (reason !== undefined) {
      console.log(`| ${store} | — | skipped: ${reason} | |`);
      continue;
    }
    const results = new Map<string, Array<{ rate: number; cpuMs: number; busy: number }>>();
    for (let round = 0; round < rounds; round++) {
      for (const { label, core } of round % 2 === 0 ? cores : [...cores].reverse()) {
        const result = await fireBacklog(core, store);
        results.set(label, [...(results.get(label) ?? []), result]);
      }
    }
    const median = (numbers: number[]) => {
      const sorted = [...numbers].sort((a, b) => a - b);
      return sorted[Math.floor((sorted.length - 1) / 2)] as number;
    };
    for (const [label, measured] of results) {
      const rate = median(measured.map((result) => result.rate));
      const cpuMs = median(measured.map((result) => result.cpuMs));
      const busy = measured.flatMap((result) => (Number.isNaN(result.busy) ? [] : [result.busy]));
      const busyText = busy.length === 0 ? '—' : `${Math.round(median(busy) * 100)} %`;
      console.log(
        `| ${store} | ${label} | ${Math.round(rate).toLocaleString('en-US')} | ${cpuMs.toFixed(3)} | ${busyText} |`,
      );
    }
  }
} finally {
  for (const problem of await cleanUp(places, directory)) console.error(problem);
}
