import { createHoldpoint, type Holdpoint, type HumanTask } from '@holdpoint/core';
import { type Tool, tool } from 'ai';
import { convertArrayToReadableStream, MockLanguageModelV4 } from 'ai/test';
import { afterEach, expect } from 'vitest';
import { z } from 'zod';

type CallOptions = MockLanguageModelV4['doGenerateCalls'][number];
type GenerateResult = Awaited<ReturnType<MockLanguageModelV4['doGenerate']>>;
type Prompt = CallOptions['prompt'];

/** A tool call the mock model makes. */
export interface PlannedCall {
  toolCallId: string;
  toolName: string;
  input: unknown;
}

const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 10, text: 10, reasoning: undefined },
};

/** How a tool result reads in the final answer: `denied: <reason>`, `ran: <output>`, `error: <message>`. */
function describeOutput(output: unknown): string {
  const value = output as { type: string; value?: unknown; reason?: string };
  switch (value.type) {
    case 'execution-denied':
      return `denied: ${value.reason ?? '(no reason)'}`;
    case 'text':
      return `ran: ${value.value}`;
    case 'json':
      return `ran: ${JSON.stringify(value.value)}`;
    default:
      return `${value.type}: ${JSON.stringify(value.value)}`;
  }
}

/** The model's answer to a prompt: tool calls at first, then one line per tool result. */
function respond(prompt: Prompt, plan: { text?: string; calls: PlannedCall[] }) {
  const last = prompt.at(-1);
  if (last?.role === 'tool') {
    const lines = last.content.flatMap((part) =>
      part.type === 'tool-result'
        ? [`${part.toolName} ${part.toolCallId} ${describeOutput(part.output)}`]
        : [],
    );
    return { text: lines.join('\n'), calls: [] };
  }
  return { text: plan.text ?? '', calls: plan.calls };
}

/**
 * A mock language model (AI SDK `ai/test`) that behaves like a small agent: asked by the user, it
 * says `text` and makes the planned tool calls; handed tool results, it answers with one line per
 * result. Stateless, so it serves a conversation continued in another process too.
 */
export function agentModel(plan: { text?: string; calls: PlannedCall[] }): MockLanguageModelV4 {
  return new MockLanguageModelV4({
    doGenerate: async (options): Promise<GenerateResult> => {
      const { text, calls } = respond(options.prompt, plan);
      return {
        content: [
          ...(text ? [{ type: 'text' as const, text }] : []),
          ...calls.map((call) => ({
            type: 'tool-call' as const,
            toolCallId: call.toolCallId,
            toolName: call.toolName,
            input: JSON.stringify(call.input),
          })),
        ],
        finishReason: { unified: calls.length > 0 ? 'tool-calls' : 'stop', raw: undefined },
        usage,
        warnings: [],
      };
    },
    doStream: async (options) => {
      const { text, calls } = respond(options.prompt, plan);
      return {
        stream: convertArrayToReadableStream([
          { type: 'stream-start' as const, warnings: [] },
          ...(text
            ? [
                { type: 'text-start' as const, id: 't1' },
                { type: 'text-delta' as const, id: 't1', delta: text },
                { type: 'text-end' as const, id: 't1' },
              ]
            : []),
          ...calls.map((call) => ({
            type: 'tool-call' as const,
            toolCallId: call.toolCallId,
            toolName: call.toolName,
            input: JSON.stringify(call.input),
          })),
          {
            type: 'finish' as const,
            finishReason: {
              unified: calls.length > 0 ? ('tool-calls' as const) : ('stop' as const),
              raw: undefined,
            },
            usage,
          },
        ]),
      };
    },
  });
}

/** The prompts the model was given, generate and stream alike. */
export function promptsOf(model: MockLanguageModelV4): Prompt[] {
  return [...model.doGenerateCalls, ...model.doStreamCalls].map((call) => call.prompt);
}

/** The tool results the model was shown in its last prompt. */
export function toolResultsShown(model: MockLanguageModelV4): Array<{ toolCallId: string; output: unknown }> {
  const prompt = promptsOf(model).at(-1) ?? [];
  return prompt.flatMap((message) =>
    message.role === 'tool'
      ? message.content.flatMap((part) =>
          part.type === 'tool-result' ? [{ toolCallId: part.toolCallId, output: part.output }] : [],
        )
      : [],
  );
}

export const refundInput = z.object({
  orderId: z.string().min(1),
  amount: z.number().positive().max(1000),
  reason: z.string(),
});
export type RefundInput = z.infer<typeof refundInput>;

/** A refund tool whose executions are counted, with the arguments each ran with. */
export function countedRefundTool(): {
  issueRefund: Tool<RefundInput, { refunded: number; orderId: string }>;
  runs: RefundInput[];
} {
  const runs: RefundInput[] = [];
  const issueRefund = tool({
    description: 'Refund an order',
    inputSchema: refundInput,
    execute: async (input) => {
      runs.push(input);
      return { refunded: input.amount, orderId: input.orderId };
    },
  });
  return { issueRefund, runs };
}

/** A factory of engines on private memory stores, each closed after its test. Call at the top of a test file. */
export function engines(): () => Promise<Holdpoint> {
  const open: Holdpoint[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((hp) => hp.close()));
  });
  return async () => {
    const hp = await createHoldpoint({ store: 'memory://', pollInterval: '20ms' });
    open.push(hp);
    return hp;
  };
}

/** Tasks, newest first (all, or those with `status`). The one place that knows the shape of listTasks. */
export async function tasksOf(hp: Holdpoint, status?: HumanTask['status']): Promise<HumanTask[]> {
  return (await hp.listTasks(status === undefined ? {} : { status })).tasks;
}

/** Pending tasks, newest first. */
export function pendingTasks(hp: Holdpoint): Promise<HumanTask[]> {
  return tasksOf(hp, 'pending');
}

/** Wait until `count` tasks are pending, and return them oldest first. */
export async function waitForPending(hp: Holdpoint, count: number): Promise<HumanTask[]> {
  await expect.poll(async () => (await pendingTasks(hp)).length).toBe(count);
  return (await pendingTasks(hp)).reverse();
}

export type { Holdpoint };
