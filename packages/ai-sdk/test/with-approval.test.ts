import { generateText, stepCountIs, ToolLoopAgent, tool } from 'ai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApprovalGate, isApprovalDenied, withApproval } from '../src/index.js';
import { agentModel, countedRefundTool, engines, toolResultsShown, waitForPending } from './helpers.js';

const engine = engines();

const refund = (toolCallId: string, orderId: string, amount: number) => ({
  toolCallId,
  toolName: 'issueRefund',
  input: { orderId, amount, reason: 'late delivery' },
});

describe('withApproval gates execute, without toolApproval', () => {
  it('approved: runs after the decision; denied: returns the reason the model reads, never runs', async () => {
    const hp = await engine();
    const { issueRefund: plain, runs } = countedRefundTool();
    const issueRefund = withApproval(plain, {
      holdpoint: hp,
      toolName: 'issueRefund',
      when: ({ input }) => input.amount > 100,
      assignee: 'finance@acme.test',
    });
    const model = agentModel({ calls: [refund('call-1', 'A-1', 300), refund('call-2', 'A-2', 500)] });
    const answer = generateText({
      model,
      tools: { issueRefund },
      prompt: 'Refund both',
      stopWhen: stepCountIs(3),
    });
    // The SDK runs the two calls together: both tasks are open at once.
    const tasks = await waitForPending(hp, 2);
    expect(runs).toEqual([]);
    const byOrder = (orderId: string) =>
      tasks.find((task) => (task.context as { input: { orderId: string } }).input.orderId === orderId)!;
    await hp.decide(byOrder('A-1').id, { outcome: 'approved', actor: 'finance@acme.test' });
    await hp.decide(byOrder('A-2').id, {
      outcome: 'rejected',
      comment: 'Over the goodwill limit.',
      actor: 'finance@acme.test',
    });
    const result = await answer;
    expect(runs.map((run) => run.orderId)).toEqual(['A-1']);
    const denied = result.steps[0]?.toolResults.find((part) => part.toolCallId === 'call-2')?.output;
    expect(isApprovalDenied(denied)).toBe(true);
    expect(denied).toEqual({
      type: 'approval-denied',
      reason: 'Over the goodwill limit.',
      status: 'denied',
      taskId: byOrder('A-2').id,
    });
    expect(toolResultsShown(model)).toContainEqual({
      toolCallId: 'call-2',
      output: { type: 'execution-denied', reason: 'Over the goodwill limit.' },
    });
  });

  it('denied: the call’s own intent ends, completed with ran: false and the reason; its audit is final', async () => {
    const hp = await engine();
    const { issueRefund: plain, runs } = countedRefundTool();
    const issueRefund = withApproval(plain, {
      holdpoint: hp,
      toolName: 'issueRefund',
      assignee: 'finance@acme.test',
    });
    const answer = generateText({
      model: agentModel({ calls: [refund('call-1', 'A-1', 300)] }),
      tools: { issueRefund },
      prompt: 'Refund',
      stopWhen: stepCountIs(3),
    });
    const [task] = await waitForPending(hp, 1);
    await hp.decide(task!.id, { outcome: 'rejected', comment: 'No.', actor: 'finance@acme.test' });
    await answer;
    expect(runs).toEqual([]);
    const intent = await hp.getIntent(task!.intentId);
    expect(intent.status).toBe('COMPLETED');
    expect(intent.result).toEqual({ tool: 'issueRefund', ran: false, status: 'denied', reason: 'No.' });
    expect(await hp.audit.verify(await hp.audit.export(task!.intentId))).toMatchObject({ final: true });
  });

  it('a timeout under the default policy denies in the policy’s words', async () => {
    const hp = await engine();
    const { issueRefund: plain, runs } = countedRefundTool();
    const issueRefund = withApproval(plain, {
      holdpoint: hp,
      assignee: 'finance@acme.test',
      timeout: '100ms',
    });
    const model = agentModel({ calls: [refund('call-1', 'A-1', 300)] });
    const result = await generateText({
      model,
      tools: { issueRefund },
      prompt: 'Refund',
      stopWhen: stepCountIs(3),
    });
    expect(result.text).toBe(
      'issueRefund call-1 denied: No one decided on this call in time; the approval request timed out and the call was not run.',
    );
    expect(runs).toEqual([]);
  });
});

describe('agents', () => {
  it('a ToolLoopAgent with the gate’s tools and toolApproval waits for the human', async () => {
    const hp = await engine();
    const { issueRefund, runs } = countedRefundTool();
    const gate = createApprovalGate({
      holdpoint: hp,
      tools: { issueRefund },
      approvals: { issueRefund: { assignee: 'finance@acme.test' } },
    });
    const agent = new ToolLoopAgent({
      model: agentModel({ calls: [refund('call-1', 'A-1', 120)] }),
      tools: gate.tools,
      toolApproval: gate.toolApproval,
      stopWhen: stepCountIs(3),
    });
    const answer = agent.generate({ prompt: 'Refund A-1' });
    const [task] = await waitForPending(hp, 1);
    expect(runs).toEqual([]);
    await hp.decide(task!.id, { outcome: 'approved', actor: 'finance@acme.test' });
    expect((await answer).text).toBe('issueRefund call-1 ran: {"refunded":120,"orderId":"A-1"}');
    expect(runs).toHaveLength(1);
  });
});

describe('streaming tools', () => {
  it('an async generator tool is gated before its first chunk; denied, it yields only the denial', async () => {
    const hp = await engine();
    const chunks: string[] = [];
    const progress = tool({
      inputSchema: z.object({ step: z.string() }),
      async *execute({ step }) {
        chunks.push(`${step}: started`);
        yield { status: 'started' };
        chunks.push(`${step}: done`);
        yield { status: 'done' };
      },
    });
    const gated = withApproval(progress, { holdpoint: hp, toolName: 'progress', assignee: 'ops@acme.test' });
    for (const [outcome, expected] of [
      ['rejected', []],
      ['approved', ['deploy: started', 'deploy: done']],
    ] as const) {
      chunks.length = 0;
      const model = agentModel({
        calls: [{ toolCallId: `call-${outcome}`, toolName: 'progress', input: { step: 'deploy' } }],
      });
      const answer = generateText({
        model,
        tools: { progress: gated },
        prompt: 'Deploy',
        stopWhen: stepCountIs(3),
      });
      const [task] = await waitForPending(hp, 1);
      expect(chunks).toEqual([]);
      await hp.decide(task!.id, { outcome, comment: 'Not today.', actor: 'ops@acme.test' });
      const { text } = await answer;
      expect(chunks).toEqual(expected);
      expect(text).toBe(
        outcome === 'approved'
          ? `progress call-approved ran: {"status":"done"}`
          : 'progress call-rejected denied: Not today.',
      );
    }
  });
});
