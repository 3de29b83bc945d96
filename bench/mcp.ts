// The MCP bench: `wait_for_human` answered at once (a scripted human approves each task the moment
// it is created), over stdio and over Streamable HTTP, beside a bare echo tool on the same SDK and
// transport, in the same run. `node scripts/dev.mjs run bench/mcp.ts [--rounds 3 --duration 2 --concurrency 1,8]`
//
// Each server is a process of its own (mcp-server.ts) with a real SDK Client in this process; the
// Holdpoint servers' engines run on a SQLite file of their own. The tools are driven in alternating
// rounds and each ratio is taken within a round (the machine is shared). Prints a Markdown table.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { TaskView } from '@holdpoint/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { drive, percentile } from './measure.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,8' },
  },
});
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const rounds = Number(values.rounds);
const concurrencies = (values.concurrency as string).split(',').map(Number);
const tsx = import.meta.resolve('tsx');
const serverScript = fileURLToPath(new URL('./mcp-server.ts', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-bench-mcp-'));

/** `holdpoint`: a new task each call, approved at once; `replay`: the decided task of one idempotency key, again. */
type Kind = 'echo' | 'holdpoint' | 'replay';
type Transport = 'stdio' | 'http';

async function connect(
  kind: Kind,
  transport: Transport,
  store: string,
): Promise<{ client: Client; stop: () => Promise<void> }> {
  const args = ['--import', tsx, serverScript, kind === 'echo' ? 'echo' : 'holdpoint', transport, store];
  const client = new Client({ name: 'bench', version: '1.0.0' });
  if (transport === 'stdio') {
    await client.connect(new StdioClientTransport({ command: process.execPath, args, stderr: 'inherit' }));
    return { client, stop: () => client.close() };
  }
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve((JSON.parse(line) as { port: number }).port),
    );
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
  return {
    client,
    stop: async () => {
      await client.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function call(kind: Kind, client: Client): (id: string) => Promise<void> {
  if (kind === 'echo') {
    return async (id) => {
      const result = (await client.callTool({ name: 'echo', arguments: { text: id } })) as CallToolResult;
      if (result.content[0]?.type !== 'text' || result.content[0].text !== id) throw new Error('echo failed');
    };
  }
  return async (id) => {
    const args =
      kind === 'replay'
        ? { title: 'Bench replay', assignee: 'bench@acme.test', idempotencyKey: 'bench-replay' }
        : { title: `Bench ${id}`, assignee: 'bench@acme.test', context: { id } };
    const result = (await client.callTool({ name: 'wait_for_human', arguments: args })) as CallToolResult;
    const view = result.structuredContent as TaskView | undefined;
    if (view?.status !== 'decided' || view.outcome !== 'approved') {
      throw new Error(`wait_for_human did not come back decided: ${JSON.stringify(result)}`);
    }
  };
}

const kinds = ['echo', 'holdpoint', 'replay'] as const;
const labels: Record<Kind, string> = {
  echo: 'echo (bare SDK)',
  holdpoint: 'wait_for_human, new task approved at once',
  replay: 'wait_for_human, decided task by its key',
};
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const rows: string[] = [];
console.error(
  `load before: ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')} on ${cpus().length} cores`,
);
try {
  for (const transport of ['stdio', 'http'] as const) {
    for (const concurrency of concurrencies) {
      // All three servers up at once; rounds alternate between them, so a change in the machine's
      // load hits each alike, and each ratio is taken within one round.
      const servers = new Map<Kind, Awaited<ReturnType<typeof connect>>>();
      for (const kind of kinds) {
        const store = `sqlite://${join(directory, `${transport}-${concurrency}-${kind}.db`)}`;
        servers.set(kind, await connect(kind, transport, store));
      }
      const rates = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]));
      const ratios = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]));
      const latencies = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]));
      const busy: number[] = [];
      try {
        for (let round = 0; round < rounds; round++) {
          let echoRate = Number.NaN;
          for (const kind of kinds) {
            const { client } = servers.get(kind) as Awaited<ReturnType<typeof connect>>;
            const result = await drive({ concurrency, warmupMs, durationMs, lifecycle: call(kind, client) });
            const rate = result.completed / result.seconds;
            if (kind === 'echo') echoRate = rate;
            rates.get(kind)?.push(rate);
            ratios.get(kind)?.push(rate / echoRate);
            latencies.get(kind)?.push(...result.latenciesMs);
            busy.push(result.machineBusy);
          }
        }
      } finally {
        for (const server of servers.values()) await server.stop();
      }
      for (const kind of kinds) {
        const sorted = (latencies.get(kind) as number[]).sort((a, b) => a - b);
        rows.push(
          `| ${transport} | ${labels[kind]} | ${concurrency} | ${Math.round(median(rates.get(kind) as number[])).toLocaleString('en')} | ${kind === 'echo' ? '' : `${fmt(median(ratios.get(kind) as number[]))}× (${(ratios.get(kind) as number[]).map((ratio) => fmt(ratio)).join(', ')})`} | ${fmt(percentile(sorted, 0.5))} | ${fmt(percentile(sorted, 0.99))} | ${Math.round(median(busy) * 100)} % |`,
        );
        console.error(rows.at(-1));
      }
    }
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
console.log(
  `load after: ${loadavg()
    .map((value) => value.toFixed(2))
    .join(
      ' ',
    )} (1, 5, 15 min) on ${cpus().length} cores; ${rounds} rounds of ${durationMs / 1000} s per tool\n`,
);
console.log(
  '| transport | tool | in flight | calls/s (median) | × echo, median (each round) | p50 ms | p99 ms | machine busy |',
);
console.log('|---|---|--:|--:|--:|--:|--:|--:|');
for (const row of rows) console.log(row);
