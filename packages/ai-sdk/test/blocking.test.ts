import { type TimeoutPolicy, ValidationError, versionDigest } from '@holdpoint/core';
import { generateText, stepCountIs, streamText, type ToolSet } from 'ai';
import { describe, expect, it } from 'vitest';
import { type ApprovalPolicy, createApprovalGate, type GateToolApproval } from '../src/index.js';
import {
  agentModel,
  countedRefundTool,
  engines,
  type PlannedCall,
  type RefundInput,
  tasksOf,
  toolResultsShown,
  waitForPending,
} from './helpers.js';

interface LoopArguments {
  model: ReturnType<typeof agentModel>;
  tools: ToolSet;
  toolApproval: GateToolApproval;
}

/** The same agent loop through generateText and through streamText. */
const loops = {
  generateText: async ({ model, tools, toolApproval }: LoopArguments) => {
    const result = await generateText({
      model,
      tools,
      toolApproval,
      prompt: 'Handle the ticket',
      stopWhen: stepCountIs(4),
    });
    return result.text;
  },
  streamText: async ({ model, tools, toolApproval }: LoopArguments) => {
    const result = streamText({
      model,
      tools,
      toolApproval,
      prompt: 'Handle the ticket',
      stopWhen: stepCountIs(4),
      onError: ({ error }) => {
        throw error;
      },
    });
    return result.text;
  },
};

const engine = engines();

const refund = (
  toolCallId: string,
  amount: number,
  orderId = 'A-1',
): PlannedCall & { input: RefundInput } => ({
  toolCallId,
  toolName: 'issueRefund',
  input: { orderId, amount, reason: `order ${orderId} was charged twice` },
});

/** An agent whose model calls `calls`, with the refund tool gated above 100 for finance. */
async function setUp(calls: PlannedCall[], policy: Partial<ApprovalPolicy<RefundInput>> = {}) {
  const hp = await engine();
  const { issueRefund, runs } = countedRefundTool();
  const gate = createApprovalGate({
    holdpoint: hp,
    tools: { issueRefund },
    approvals: {
      issueRefund: {
        when: ({ input }) => input.amount > 100,
        assignee: 'finance@acme.test',
        title: ({ input }) => `Refund ${input.amount} on ${input.orderId}`,
        ...policy,
      },
    },
  });
  const model = agentModel({ text: 'The customer was charged twice; refunding.', calls });
  return { hp, gate, model, runs, loop: { model, tools: gate.tools, toolApproval: gate.toolApproval } };
}

describe.each(Object.entries(loops))('blocking toolApproval through %s', (_name, loop) => {
  it('approved: the task shows the call, nothing runs before the decision, then it runs once', async () => {
    const call = refund('call-1', 250);
    const { hp, runs, loop: args } = await setUp([call]);
    const answer = loop(args);
    const [task] = await waitForPending(hp, 1);
    expect(task?.title).toBe('Refund 250 on A-1');
    expect(task?.assignees).toEqual(['finance@acme.test']);
    // What the human decides on: the tool, its exact arguments and the model's stated reason.
    expect(task?.context).toEqual({
      tool: 'issueRefund',
      toolCallId: 'call-1',
      input: call.input,
      reason: 'order A-1 was charged twice',
    });
    // The version digest covers exactly that: a decision names the version it was made on.
    expect(task?.versionDigest).toBe(versionDigest(task?.context));
    expect(runs).toEqual([]);
    await hp.decide(task!.id, {
      outcome: 'approved',
      actor: 'finance@acme.test',
      versionDigest: task!.versionDigest,
    });
    expect(await answer).toBe('issueRefund call-1 ran: {"refunded":250,"orderId":"A-1"}');
    expect(runs).toEqual([call.input]);
    // The run is recorded on the call's intent: the audit trail shows what ran.
    const intent = await hp.getIntent(task!.intentId);
    expect(intent.status).toBe('COMPLETED');
    expect(intent.result).toEqual({ tool: 'issueRefund', ranWith: call.input, edited: false });
  });

  it('denied: the tool never runs and the model reads the human’s comment as the reason', async () => {
    const { hp, runs, model, loop: args } = await setUp([refund('call-1', 400)]);
    const answer = loop(args);
    const [task] = await waitForPending(hp, 1);
    await hp.decide(task!.id, {
      outcome: 'rejected',
      comment: 'Order A-1 was already refunded last week.',
      actor: 'finance@acme.test',
    });
    expect(await answer).toBe('issueRefund call-1 denied: Order A-1 was already refunded last week.');
    expect(toolResultsShown(model)).toEqual([
      {
        toolCallId: 'call-1',
        output: { type: 'execution-denied', reason: 'Order A-1 was already refunded last week.' },
      },
    ]);
    expect(runs).toEqual([]);
  });

  it('denied or canceled: the call’s own intent ends (completed, not run, with the reason) and its audit is final', async () => {
    for (const ending of ['rejected', 'canceled'] as const) {
      const { hp, runs, loop: args } = await setUp([refund('call-1', 400)]);
      const answer = loop(args);
      const [task] = await waitForPending(hp, 1);
      if (ending === 'rejected') {
        await hp.decide(task!.id, {
          outcome: 'rejected',
          comment: 'Already refunded.',
          actor: 'finance@acme.test',
        });
      } else {
        await hp.cancelTask(task!.id, { reason: 'Ticket closed.' });
      }
      await answer;
      expect(runs).toEqual([]);
      const intent = await hp.getIntent(task!.intentId);
      expect(intent.status).toBe('COMPLETED');
      expect(intent.result).toEqual({
        tool: 'issueRefund',
        ran: false,
        status: ending === 'rejected' ? 'denied' : 'canceled',
        reason:
          ending === 'rejected'
            ? 'Already refunded.'
            : 'The approval request was canceled before anyone decided; the call was not run.',
      });
      const verified = await hp.audit.verify(await hp.audit.export(task!.intentId));
      expect(verified).toMatchObject({ ok: true, final: true });
    }
  });

  const timeouts: Array<[TimeoutPolicy, string, number]> = [
    [
      'fail',
      'denied: No one decided on this call in time; the approval request timed out and the call was not run.',
      0,
    ],
    ['reject', 'denied: No one decided in time; the timeout policy rejected the call, so it was not run.', 0],
    ['approve', 'ran: {"refunded":300,"orderId":"A-1"}', 1],
  ];
  it.each(timeouts)('timed out with onTimeout %s: %s', async (onTimeout, expected, executions) => {
    const { hp, runs, loop: args } = await setUp([refund('call-1', 300)], { timeout: '150ms', onTimeout });
    const answer = await loop(args);
    expect(answer).toBe(`issueRefund call-1 ${expected}`);
    expect(runs).toHaveLength(executions);
    // The record says no person decided.
    const [task] = await tasksOf(hp);
    if (onTimeout === 'fail') expect(task?.status).toBe('timed_out');
    else expect(task?.decision).toMatchObject({ decidedBy: 'policy', actor: null });
    expect(answer).not.toContain('finance');
  });

  it('approved with changed arguments: runs with them, the model is told, the audit keeps both', async () => {
    const call = refund('call-1', 250);
    const { hp, runs, loop: args } = await setUp([call]);
    const answer = loop(args);
    const [task] = await waitForPending(hp, 1);
    // Edits are offered: the task carries the tool's input schema, which the engine checks.
    expect(task?.schema).toMatchObject({ type: 'object', required: ['orderId', 'amount', 'reason'] });
    const lowered = { ...call.input, amount: 120 };
    await hp.decide(task!.id, {
      outcome: 'approved',
      comment: 'Goodwill cap is 120.',
      data: lowered,
      actor: { id: 'finance@acme.test', name: 'Fran (Finance)' },
    });
    const text = await answer;
    expect(runs).toEqual([lowered]);
    expect(text).toContain(
      'Fran (Finance) approved this call with changed arguments (amount: 250 → 120); it ran with the changed ones.',
    );
    expect(text).toContain('"amount":120');
    expect(text).toContain('Their comment: Goodwill cap is 120.');
    expect(text).toContain('"output":{"refunded":120,"orderId":"A-1"}');
    const decided = await hp.getTask(task!.id);
    expect((decided.context as { input: unknown }).input).toEqual(call.input);
    expect(decided.decision?.data).toEqual(lowered);
    const audit = await hp.audit.export(task!.intentId);
    expect(audit).toContain('"amount":250');
    expect(audit).toContain('"amount":120');
    expect((await hp.getIntent(task!.intentId)).result).toEqual({
      tool: 'issueRefund',
      ranWith: lowered,
      edited: true,
    });
  });

  it('changed arguments that fail the input schema are refused when the human decides', async () => {
    const call = refund('call-1', 250);
    const { hp, runs, loop: args } = await setUp([call]);
    const answer = loop(args);
    const [task] = await waitForPending(hp, 1);
    for (const data of [
      { ...call.input, amount: -5 },
      { ...call.input, amount: 'lots' },
      { orderId: 'A-1', amount: 100 },
      { ...call.input, currency: 'EUR' },
    ]) {
      const refused = await hp
        .decide(task!.id, { outcome: 'approved', data, actor: 'finance@acme.test' })
        .catch((error: unknown) => error);
      expect(ValidationError.isInstance(refused), JSON.stringify(data)).toBe(true);
    }
    expect((await hp.getTask(task!.id)).status).toBe('pending');
    expect(runs).toEqual([]);
    await hp.decide(task!.id, {
      outcome: 'approved',
      data: { ...call.input, amount: 200 },
      actor: 'finance@acme.test',
    });
    await answer;
    expect(runs).toEqual([{ ...call.input, amount: 200 }]);
  });

  it('several tool calls in one step: each gated call gets one task; the small one runs ungated', async () => {
    const calls = [refund('call-1', 250, 'A-1'), refund('call-2', 40, 'A-2'), refund('call-3', 500, 'A-3')];
    const { hp, runs, loop: args } = await setUp(calls);
    const answer = loop(args);
    // The SDK asks for one approval at a time within a step: decide them as they come.
    const [first] = await waitForPending(hp, 1);
    expect(runs).toEqual([]);
    await hp.decide(first!.id, { outcome: 'approved', actor: 'finance@acme.test' });
    const [second] = await waitForPending(hp, 1);
    expect(second?.id).not.toBe(first?.id);
    expect(runs).toEqual([]);
    await hp.decide(second!.id, { outcome: 'rejected', comment: 'Too large', actor: 'finance@acme.test' });
    const text = await answer;
    const tasks = await tasksOf(hp);
    expect(tasks.map((task) => (task.context as { toolCallId: string }).toolCallId).sort()).toEqual([
      'call-1',
      'call-3',
    ]);
    expect(runs.map((run) => run.orderId).sort()).toEqual(['A-1', 'A-2']);
    expect(text.split('\n').sort()).toEqual([
      'issueRefund call-1 ran: {"refunded":250,"orderId":"A-1"}',
      'issueRefund call-2 ran: {"refunded":40,"orderId":"A-2"}',
      'issueRefund call-3 denied: Too large',
    ]);
  });
});

describe('aborting a blocking call', () => {
  it('a gate given the call’s signal stops its wait when generateText is aborted; nothing runs, the task stays', async () => {
    const hp = await engine();
    const { issueRefund, runs } = countedRefundTool();
    const controller = new AbortController();
    const gate = createApprovalGate({
      holdpoint: hp,
      tools: { issueRefund },
      approvals: { issueRefund: { assignee: 'finance@acme.test' } },
      signal: controller.signal,
    });
    const answer = generateText({
      model: agentModel({ calls: [refund('call-1', 250)] }),
      tools: gate.tools,
      toolApproval: gate.toolApproval,
      prompt: 'Refund A-1',
      abortSignal: controller.signal,
      stopWhen: stepCountIs(3),
    }).catch((error: unknown) => error);
    const [task] = await waitForPending(hp, 1);
    controller.abort(new Error('The user closed the chat.'));
    expect(await answer).toMatchObject({ message: 'The user closed the chat.' });
    expect(runs).toEqual([]);
    expect((await hp.getTask(task!.id)).status).toBe('pending');
  });
});

describe('one gate, several conversations', () => {
  it('two conversations whose models reuse a tool call id each run with their own decision', async () => {
    const { hp, gate, runs } = await setUp([]);
    const first = refund('call-1', 250, 'A-1');
    const second = refund('call-1', 300, 'B-2');
    // The SDK hands toolApproval and execute the same messages array of a step: one per conversation.
    const conversations = [first, second].map((call) => ({
      call,
      messages: [{ role: 'user' as const, content: `ticket ${call.input.orderId}` }],
    }));
    const approvals = conversations.map(({ call, messages }) =>
      gate.toolApproval({ toolCall: call, tools: gate.tools, messages }),
    );
    const tasks = await waitForPending(hp, 2);
    const byOrder = (orderId: string) =>
      tasks.find((task) => (task.context as { input: RefundInput }).input.orderId === orderId)!;
    await hp.decide(byOrder('B-2').id, {
      outcome: 'approved',
      data: { ...second.input, amount: 200 },
      actor: 'finance@acme.test',
    });
    await hp.decide(byOrder('A-1').id, { outcome: 'approved', actor: 'finance@acme.test' });
    expect(await Promise.all(approvals)).toEqual([{ type: 'approved' }, { type: 'approved' }]);
    // Both verdicts wait for their execute; B-2's runs first.
    for (const { call, messages } of conversations.reverse()) {
      await gate.tools.issueRefund.execute!(call.input, {
        toolCallId: 'call-1',
        messages,
        context: undefined,
      });
    }
    expect(runs).toEqual([{ ...second.input, amount: 200 }, first.input]);
    expect(await tasksOf(hp)).toHaveLength(2);
  });
});

describe('who approves', () => {
  it('from the call’s input: large refunds need two approvers; no edits are offered under a quorum', async () => {
    const {
      hp,
      runs,
      loop: args,
    } = await setUp([refund('call-1', 900)], {
      assignee: undefined,
      assignees: ({ input }) =>
        input.amount > 500 ? ['finance@acme.test', 'cfo@acme.test'] : ['finance@acme.test'],
      quorum: ({ input }) => (input.amount > 500 ? 2 : 1),
    });
    const answer = loops.generateText(args);
    const [task] = await waitForPending(hp, 1);
    expect(task?.assignees).toEqual(['finance@acme.test', 'cfo@acme.test']);
    expect(task?.quorum).toBe(2);
    expect(task?.schema).toBeUndefined();
    await hp.decide(task!.id, { outcome: 'approved', actor: 'finance@acme.test' });
    expect((await hp.getTask(task!.id)).status).toBe('pending');
    expect(runs).toEqual([]);
    await hp.decide(task!.id, { outcome: 'approved', actor: 'cfo@acme.test' });
    await answer;
    expect(runs).toHaveLength(1);
  });

  it('one generic policy for every tool', async () => {
    const hp = await engine();
    const { issueRefund, runs } = countedRefundTool();
    const gate = createApprovalGate({
      holdpoint: hp,
      tools: { issueRefund },
      approvals: ({ toolName, input }) =>
        toolName === 'issueRefund' && (input as RefundInput).amount > 100
          ? { assignee: 'finance@acme.test', timeout: '100ms', onTimeout: 'approve' }
          : undefined,
    });
    const model = agentModel({ calls: [refund('call-1', 50, 'A-1'), refund('call-2', 150, 'A-2')] });
    const text = await loops.generateText({ model, tools: gate.tools, toolApproval: gate.toolApproval });
    expect(text).toContain('call-2 ran');
    expect(runs.map((run) => run.orderId)).toEqual(['A-1', 'A-2']);
    const [task] = await tasksOf(hp);
    expect(task?.context).toMatchObject({ toolCallId: 'call-2' });
    expect(task?.decision?.decidedBy).toBe('policy');
  });

  it('a policy that names no approver, or edits under a quorum, is refused when the gate is made', async () => {
    for (const policy of [
      { assignee: undefined },
      { assignee: undefined, assignees: ['a@acme.test', 'b@acme.test'], quorum: 2, edits: true },
    ]) {
      const refused = await setUp([refund('call-1', 300)], policy).catch((error: unknown) => error);
      expect(ValidationError.isInstance(refused), JSON.stringify(policy)).toBe(true);
    }
  });

  it('a policy function that gives an unusable value is refused in the call, before any task exists', async () => {
    for (const loop of Object.values(loops)) {
      const { hp, runs, loop: args } = await setUp([refund('call-1', 300)], { assignee: () => ' ' });
      const refused = await loop(args).catch((error: unknown) => error);
      expect(ValidationError.isInstance(refused)).toBe(true);
      expect(await tasksOf(hp)).toEqual([]);
      expect(runs).toEqual([]);
    }
  });
});
