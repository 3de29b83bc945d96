// The AI SDK bench: `node scripts/dev.mjs run bench/ai-sdk.ts [--stores memory,sqlite] [--rounds 5]
// [--duration 2] [--warmup 1]`.
//
// One agent loop through `generateText` with a mock language model (`ai/test`): the model calls a
// refund tool, the tool runs, the model answers — two model calls and one tool execution. The gated
// loop runs the same with `createApprovalGate` (blocking mode): the call becomes a Holdpoint task, a
// human told by `hp.subscribe` approves it at once, the tool runs, the run is recorded on the task's
// intent. Ungated and gated runs alternate in the same process, round after round, so both see the
// same machine; the ratio is gated/ungated loops per second, per round, and its median.
//
// The mock model answers at once, so the ratio is the adapter and the engine against a loop that
// costs a tenth of a millisecond. `--model-latency 0,50` adds runs where each model call takes that
// many milliseconds, as a (fast) real model would, to show what the overhead means in practice.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createApprovalGate } from '@holdpoint/ai-sdk';
import { createHoldpoint } from '@holdpoint/core';
import { generateText, stepCountIs, type ToolSet, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { z } from 'zod';
import { drive, percentile } from './measure.js';

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'memory,sqlite' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    'model-latency': { type: 'string', default: '0' },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const latencies = (values['model-latency'] ?? '0').split(',').map(Number);
let modelLatencyMs = 0;

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 10, text: 10, reasoning: undefined },
};
const input = { orderId: 'A-1', amount: 250, reason: 'charged twice' };

/** The mock agent: a tool call first, then an answer once it has the tool's result. */
const model = new MockLanguageModelV4({
  doGenerate: async ({ prompt }) => {
    if (modelLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, modelLatencyMs));
    return prompt.at(-1)?.role === 'tool'
      ? {
          content: [{ type: 'text', text: 'Refunded.' }],
          finishReason: { unified: 'stop', raw: undefined },
          usage,
          warnings: [],
        }
      : {
          content: [
            {
              type: 'tool-call',
              toolCallId: 'call-1',
              toolName: 'issueRefund',
              input: JSON.stringify(input),
            },
          ],
          finishReason: { unified: 'tool-calls', raw: undefined },
          usage,
          warnings: [],
        };
  },
});
// The mock keeps every call it was given; a long run would measure that list growing.
const forget = () => {
  model.doGenerateCalls.length = 0;
};

let executions = 0;
const issueRefund = tool({
  inputSchema: z.object({ orderId: z.string(), amount: z.number().positive(), reason: z.string() }),
  execute: async ({ orderId, amount }) => {
    executions++;
    return { orderId, refunded: amount };
  },
});

async function loop(tools: ToolSet, toolApproval?: Parameters<typeof generateText>[0]['toolApproval']) {
  const result = await generateText({
    model,
    tools,
    ...(toolApproval ? { toolApproval } : {}),
    prompt: 'Refund order A-1',
    stopWhen: stepCountIs(3),
  });
  forget();
  if (result.text !== 'Refunded.') throw new Error(`unexpected answer: ${result.text}`);
}

interface Row {
  store: string;
  latency: number;
  round: number;
  ungated: number;
  gated: number;
  ungatedP50: number;
  gatedP50: number;
  machineBusy: number;
}

const rows: Row[] = [];
const started = loadavg();
for (const latency of latencies)
  for (const store of (values.stores ?? '').split(',')) {
    modelLatencyMs = latency;
    const spec = store === 'sqlite' ? `sqlite://./.holdpoint/bench-ai-sdk-${process.pid}.db` : 'memory://';
    const hp = await createHoldpoint({ store: spec });
    // The human approves at once: told by the engine's feed, as an inbox or SSE stream would be.
    hp.subscribe((event) => {
      if (event.type !== 'task-created' || event.taskId === undefined) return;
      void hp.decide(event.taskId, { outcome: 'approved', actor: 'finance@acme.test' });
    });
    const gate = createApprovalGate({
      holdpoint: hp,
      tools: { issueRefund },
      approvals: { issueRefund: { assignee: 'finance@acme.test', timeout: '1h' } },
    });
    for (let round = 1; round <= rounds; round++) {
      const before = executions;
      const ungated = await drive({
        concurrency: 1,
        warmupMs,
        durationMs,
        lifecycle: () => loop({ issueRefund }),
      });
      const gated = await drive({
        concurrency: 1,
        warmupMs,
        durationMs,
        lifecycle: () => loop(gate.tools, gate.toolApproval),
      });
      if (executions - before !== ungated.total + gated.total)
        throw new Error('a tool call did not run exactly once');
      rows.push({
        store,
        latency,
        round,
        ungated: ungated.completed / ungated.seconds,
        gated: gated.completed / gated.seconds,
        ungatedP50: percentile(ungated.latenciesMs, 0.5),
        gatedP50: percentile(gated.latenciesMs, 0.5),
        machineBusy: (ungated.machineBusy + gated.machineBusy) / 2,
      });
      const row = rows.at(-1) as Row;
      console.error(
        `${store}, model ${latency} ms, round ${round}: ungated ${row.ungated.toFixed(0)}/s, gated ${row.gated.toFixed(0)}/s, ratio ${(row.gated / row.ungated).toFixed(2)}`,
      );
    }
    await hp.close();
    if (store === 'sqlite') {
      const { rmSync } = await import('node:fs');
      for (const suffix of ['', '-wal', '-shm'])
        rmSync(`./.holdpoint/bench-ai-sdk-${process.pid}.db${suffix}`, { force: true });
    }
  }

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
};
console.log(
  `load average at start: ${started.map((load) => load.toFixed(2)).join(' ')}; at end: ${loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')}`,
);
console.log('');
console.log(
  '| store | model call | ungated loops/s (median) | gated loops/s (median) | ratio per round | median ratio | p50 ungated / gated ms | machine busy |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const key of new Set(rows.map((row) => `${row.store}|${row.latency}`))) {
  const mine = rows.filter((row) => `${row.store}|${row.latency}` === key);
  const { store, latency } = mine[0] as Row;
  const ratios = mine.map((row) => row.gated / row.ungated);
  console.log(
    `| ${store} | ${latency} ms | ${median(mine.map((row) => row.ungated)).toFixed(0)} | ${median(mine.map((row) => row.gated)).toFixed(0)} | ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')} | **${median(ratios).toFixed(2)}×** | ${median(mine.map((row) => row.ungatedP50)).toFixed(2)} / ${median(mine.map((row) => row.gatedP50)).toFixed(2)} | ${(median(mine.map((row) => row.machineBusy)) * 100).toFixed(0)} % |`,
  );
}
