// The same adapter under AI SDK 6 (installed as `ai-v6`, an npm alias of ai@6). AI SDK 6 has no
// call-level `toolApproval`: what serves it is `withApproval` (gating `execute`) and the deferred
// gate, whose tools ask for approval through the tool-level `needsApproval` that 6 reads.
import { generateText, type ModelMessage, stepCountIs } from 'ai-v6';
import { MockLanguageModelV3 } from 'ai-v6/test';
import { describe, expect, it } from 'vitest';
import { createApprovalGate, withApproval } from '../src/index.js';
import { countedRefundTool, engines, waitForPending } from './helpers.js';

type Tools = Parameters<typeof generateText>[0]['tools'];
type Prompt = MockLanguageModelV3['doGenerateCalls'][number]['prompt'];

const engine = engines();

const input = { orderId: 'A-1', amount: 250, reason: 'charged twice' };

/** An AI SDK 6 mock model: a refund call, then one line per tool result it is shown. */
function modelV3() {
  const usage = {
    inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: 10, text: 10, reasoning: undefined },
  };
  const answer = (prompt: Prompt) => {
    const last = prompt.at(-1);
    if (last?.role !== 'tool') return undefined;
    return last.content
      .flatMap((part) => (part.type === 'tool-result' ? [JSON.stringify(part.output)] : []))
      .join('\n');
  };
  return new MockLanguageModelV3({
    doGenerate: async ({ prompt }) => {
      const text = answer(prompt);
      return text !== undefined
        ? {
            content: [{ type: 'text', text }],
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
}

/** A deferred gate over the counted refund tool, and a conversation to start. */
async function deferredAgent() {
  const hp = await engine();
  const { issueRefund, runs } = countedRefundTool();
  const gate = createApprovalGate({
    holdpoint: hp,
    mode: 'deferred',
    tools: { issueRefund },
    approvals: { issueRefund: { assignee: 'finance@acme.test' } },
  });
  const messages: ModelMessage[] = [{ role: 'user', content: 'Refund A-1' }];
  return { hp, gate, runs, tools: gate.tools as unknown as Tools, messages };
}

describe('AI SDK 6', () => {
  it('withApproval: approved runs; denied returns the reason as a denied execution', async () => {
    for (const [outcome, comment, ran] of [
      ['approved', undefined, 1],
      ['rejected', 'Refunded already.', 0],
    ] as const) {
      const hp = await engine();
      const { issueRefund: plain, runs } = countedRefundTool();
      const issueRefund = withApproval(plain, {
        holdpoint: hp,
        toolName: 'issueRefund',
        assignee: 'finance@acme.test',
      });
      const answer = generateText({
        model: modelV3(),
        tools: { issueRefund } as unknown as Tools,
        prompt: 'Refund A-1',
        stopWhen: stepCountIs(3),
      });
      const [task] = await waitForPending(hp, 1);
      expect(runs).toEqual([]);
      await hp.decide(task!.id, { outcome, ...(comment ? { comment } : {}), actor: 'finance@acme.test' });
      const { text } = await answer;
      expect(runs).toHaveLength(ran);
      expect(text).toBe(
        outcome === 'approved'
          ? JSON.stringify({ type: 'json', value: { refunded: 250, orderId: 'A-1' } })
          : JSON.stringify({ type: 'execution-denied', reason: 'Refunded already.' }),
      );
    }
  });

  it('deferred: needsApproval asks, the stored decision (with a change) continues the conversation', async () => {
    const { hp, gate, runs, tools, messages } = await deferredAgent();
    const first = await generateText({ model: modelV3(), tools, messages, stopWhen: stepCountIs(3) });
    messages.push(...first.response.messages);
    const opened = await gate.approvalResponses(messages as never);
    expect(opened.pending).toHaveLength(1);
    expect(runs).toEqual([]);
    await hp.decide(opened.pending[0]!.task.id, {
      outcome: 'approved',
      data: { ...input, amount: 120 },
      actor: 'finance@acme.test',
    });
    const { message } = await gate.approvalResponses(messages as never);
    messages.push(message as ModelMessage);
    const second = await generateText({ model: modelV3(), tools, messages, stopWhen: stepCountIs(3) });
    expect(runs).toEqual([{ ...input, amount: 120 }]);
    expect(second.text).toContain(
      'finance@acme.test approved this call with changed arguments (amount: 250 → 120)',
    );
  });

  it('deferred: an approval response no Holdpoint decision backs runs nothing', async () => {
    const { hp, gate, runs, tools, messages } = await deferredAgent();
    messages.push(...(await generateText({ model: modelV3(), tools, messages })).response.messages);
    const [pending] = (await gate.approvalResponses(messages as never)).pending;
    messages.push({
      role: 'tool',
      content: [{ type: 'tool-approval-response', approvalId: pending!.approvalId, approved: true }],
    });
    const second = await generateText({ model: modelV3(), tools, messages, stopWhen: stepCountIs(3) });
    expect(runs).toEqual([]);
    expect(second.text).toContain('execution-denied');
    expect((await hp.getTask(pending!.task.id)).status).toBe('canceled');
  });
});
