// Server bench: a decision reaching a waiting agent over HTTP (POST decide → SSE event at the agent),
// and decisions per second through the API — each beside a bare route on the same framework
// (Hono on @hono/node-server) in the same run. Server and client are separate processes.
//
//   node scripts/dev.mjs run bench/server.ts [--rounds 200] [--concurrency 16] [--duration 4] [--pool 4000] [--store URL]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHoldpoint, createStore } from '@holdpoint/core';
import { createHoldpointServer } from '@holdpoint/server';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { openSse } from '../packages/server/test/sse-client.js';
import { busyBetween, drive, machineTicks, percentile } from './measure.js';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    store: { type: 'string' },
    pool: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    duration: { type: 'string', default: '4' },
  },
});

/** The child: the real server on a store, with a pool of pending tasks; or the bare Hono app. */
async function child(kind: string): Promise<void> {
  if (kind === 'bare') {
    const streams = new Set<(data: string) => Promise<void>>();
    const app = new Hono();
    app.post('/echo', async (c) => {
      const body = await c.req.json<{ id: string }>();
      await Promise.all([...streams].map((write) => write(JSON.stringify(body))));
      return c.json({ ok: true });
    });
    app.post('/decide', async (c) => c.json({ ok: true, ...(await c.req.json<object>()) }));
    app.get('/events', (c) =>
      streamSSE(c, async (stream) => {
        const write = (data: string) => stream.writeSSE({ data });
        streams.add(write);
        await stream.write(': connected\n\n');
        await new Promise<void>((resolve) => stream.onAbort(resolve));
        streams.delete(write);
      }),
    );
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      console.log(JSON.stringify({ url: `http://127.0.0.1:${info.port}` })),
    );
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
    return;
  }
  const store = await createStore(values.store as string);
  const holdpoint = await createHoldpoint({ store });
  const server = createHoldpointServer({ holdpoint, store });
  const admin = (await server.keys.create({ name: 'bench', scope: 'admin' })).secret;
  const agent = await server.keys.create({ name: 'agent', scope: 'agent', actor: 'agent' });
  // The throughput pool: pending tasks (each in an intent of its own, as separate agents' gates
  // are) made by the engine directly, so making them is not measured.
  const pool: string[] = [];
  for (let index = 0; index < Number(values.pool); index++) {
    pool.push((await holdpoint.requestHuman({ assignee: 'human@bench.test', context: { index } })).id);
  }
  const listener = await server.listen();
  console.log(JSON.stringify({ url: listener.url, admin, agent: agent.secret, pool }));
  process.on('SIGTERM', async () => {
    await server.close();
    await holdpoint.close();
    await store.close();
    process.exit(0);
  });
}

interface Started {
  process: ChildProcess;
  url: string;
  admin?: string;
  agent?: string;
  pool?: string[];
}

async function startChild(kind: string, store?: string, pool = 0): Promise<Started> {
  const script = fileURLToPath(import.meta.url);
  const started = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      script,
      '--child',
      kind,
      ...(store ? ['--store', store] : []),
      '--pool',
      String(pool),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    started.stdout?.on('data', (chunk) => {
      buffer += chunk;
      if (buffer.includes('\n')) resolve(buffer.slice(0, buffer.indexOf('\n')));
    });
    started.on('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { process: started, ...JSON.parse(line) };
}

function stopChild(started: Started): Promise<void> {
  if (started.process.exitCode !== null || started.process.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    started.process.once('exit', () => resolve());
    started.process.kill('SIGTERM');
  });
}

const post = async (url: string, key: string | undefined, body: unknown) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json() as Promise<{ id: string; intentId: string }>;
};

/** One round: open what listens (untimed), then `fire` and wait for the event `matches` accepts. */
interface Round {
  fire: () => Promise<unknown>;
  matches: (data: string) => boolean;
  close?: () => void;
}

/** Latencies (ms) from sending a POST to seeing its event on an open SSE stream, one round at a time. */
async function latencies(
  rounds: number,
  prepare: (round: number, onEvent: (data: string) => void) => Promise<Round>,
) {
  let waiting: { matches: (data: string) => boolean; resolve: () => void } | undefined;
  const onEvent = (data: string) => {
    if (waiting?.matches(data)) waiting.resolve();
  };
  const measured: number[] = [];
  const warmup = Math.ceil(rounds / 10);
  for (let round = 0; round < rounds + warmup; round++) {
    const { fire, matches, close } = await prepare(round, onEvent);
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`round ${round}: no event in 10 s`)), 10_000);
      waiting = {
        matches,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    const began = performance.now();
    await Promise.all([fire(), arrived]);
    if (round >= warmup) measured.push(performance.now() - began);
    close?.();
  }
  return measured.sort((left, right) => left - right);
}

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'holdpoint-bench-server-'));
  const store = values.store ?? `sqlite://${join(folder, 'holdpoint.db')}`;
  const rounds = Number(values.rounds);
  const concurrency = Number(values.concurrency);
  const durationMs = Number(values.duration) * 1000;
  const loadBefore = loadavg();
  const ticksBefore = machineTicks();
  // Latency on a fresh store; throughput on another, filled with a pool of pending tasks first.
  const [real, bare] = [await startChild('real', store), await startChild('bare')];
  let loaded: Started | undefined;
  try {
    // 1. A decision reaching a waiting agent: POST decide → the agent's SSE stream.
    // Each round the agent asks, opens its stream on that task, and the decision is posted.
    const realLatency = await latencies(rounds, async (_round, onEvent) => {
      const task = await post(`${real.url}/v1/tasks`, real.agent, { assignee: 'human@bench.test' });
      const stream = await openSse(
        `${real.url}/v1/events?task=${task.id}&after=now`,
        real.agent as string,
        {},
        (event) => onEvent(event.data),
      );
      return {
        fire: () => post(`${real.url}/v1/tasks/${task.id}/decide`, real.admin, { outcome: 'approved' }),
        matches: (data) => data.includes('"task-decided"') && data.includes(task.id),
        close: () => stream.close(),
      };
    });
    // Where the time goes: the same decision's round trip alone, without a stream.
    const decideOnly: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const task = await post(`${real.url}/v1/tasks`, real.agent, { assignee: 'human@bench.test' });
      const began = performance.now();
      await post(`${real.url}/v1/tasks/${task.id}/decide`, real.admin, { outcome: 'approved' });
      decideOnly.push(performance.now() - began);
    }
    decideOnly.sort((left, right) => left - right);
    // The baseline: one stream that a POST writes its body to.
    let echoStream: Awaited<ReturnType<typeof openSse>> | undefined;
    const bareLatency = await latencies(rounds, async (round, onEvent) => {
      echoStream ??= await openSse(`${bare.url}/events`, 'none', {}, (event) => onEvent(event.data));
      return {
        fire: () => post(`${bare.url}/echo`, undefined, { id: `round-${round}` }),
        matches: (data) => data === JSON.stringify({ id: `round-${round}` }),
      };
    });
    echoStream?.close();

    // 2. Decisions per second through the API, against a bare route taking and answering JSON.
    await stopChild(real);
    loaded = await startChild(
      'real',
      values.store ?? `sqlite://${join(folder, 'pool.db')}`,
      Number(values.pool),
    );
    const pool = [...(loaded.pool ?? [])];
    const api = loaded;
    const realThroughput = await drive({
      concurrency,
      warmupMs: 1000,
      durationMs,
      lifecycle: async () => {
        const taskId = pool.pop();
        if (taskId === undefined) throw new Error('the task pool ran out: raise --pool');
        await post(`${api.url}/v1/tasks/${taskId}/decide`, api.admin, {
          outcome: 'approved',
          comment: 'bench',
        });
      },
    });
    const bareThroughput = await drive({
      concurrency,
      warmupMs: 1000,
      durationMs,
      lifecycle: async (id) => {
        await post(`${bare.url}/decide`, undefined, { outcome: 'approved', comment: 'bench', id });
      },
    });

    const row = (name: string, values: number[]) => ({
      name,
      p50: percentile(values, 0.5),
      p99: percentile(values, 0.99),
      max: values.at(-1) ?? Number.NaN,
    });
    const latency = [
      row('POST decide → SSE event (Holdpoint)', realLatency),
      row('POST → SSE echo (bare Hono)', bareLatency),
      row('POST decide round trip alone (Holdpoint)', decideOnly),
    ];
    const perSecond = (result: { completed: number; seconds: number }) => result.completed / result.seconds;
    const report = {
      store: store.replace(folder, '<tmp>'),
      rounds,
      concurrency,
      latencyMs: latency,
      latencyRatioP50: (latency[0]?.p50 ?? 0) / (latency[1]?.p50 ?? 1),
      latencyRatioP99: (latency[0]?.p99 ?? 0) / (latency[1]?.p99 ?? 1),
      decisionsPerSecond: perSecond(realThroughput),
      bareRequestsPerSecond: perSecond(bareThroughput),
      throughputRatio: perSecond(realThroughput) / perSecond(bareThroughput),
      machineBusyDuringThroughput: { api: realThroughput.machineBusy, bare: bareThroughput.machineBusy },
      machineBusyWholeRun: busyBetween(ticksBefore, machineTicks()),
      loadAverageBefore: loadBefore.map((value) => Number(value.toFixed(2))),
      loadAverageAfter: loadavg().map((value) => Number(value.toFixed(2))),
    };
    const ms = (value: number) => value.toFixed(2);
    console.log(`\nDecision → waiting agent over HTTP, ${rounds} rounds one at a time (ms):`);
    console.log('| | p50 | p99 | max |\n|---|---|---|---|');
    for (const entry of latency)
      console.log(`| ${entry.name} | ${ms(entry.p50)} | ${ms(entry.p99)} | ${ms(entry.max)} |`);
    console.log(`ratio p50 ${report.latencyRatioP50.toFixed(2)}×, p99 ${report.latencyRatioP99.toFixed(2)}×`);
    console.log(`\nThroughput, ${concurrency} in flight, ${values.duration} s measured:`);
    console.log(`| POST /v1/tasks/{id}/decide | ${report.decisionsPerSecond.toFixed(0)} decisions/s |`);
    console.log(`| bare POST (JSON in, JSON out) | ${report.bareRequestsPerSecond.toFixed(0)} requests/s |`);
    console.log(`ratio ${report.throughputRatio.toFixed(3)}×`);
    console.log(
      `\nload average before ${report.loadAverageBefore.join(' ')}, after ${report.loadAverageAfter.join(' ')}; machine busy over the run ${(report.machineBusyWholeRun * 100).toFixed(0)} %`,
    );
    console.log(`\n${JSON.stringify(report)}`);
  } finally {
    await Promise.all([stopChild(real), stopChild(bare), ...(loaded ? [stopChild(loaded)] : [])]);
    rmSync(folder, { recursive: true, force: true });
  }
}

if (values.child) await child(values.child);
else await main();
