// Refund desk: a support agent built on the AI SDK issues refunds through a tool. Refunds over $100
// need finance: Fran has a deadline, then the task escalates to her delegate Dan. Fran turns one
// refund down; she is away for another, and Dan approves it with a lowered amount.
//
// The language model is the AI SDK's mock (`ai/test`), so no API key is needed; the deadline is
// 300 ms so the story runs in a second (in real life: hours). The story checks its own result and
// exits 0. Run it with `node scripts/dev.mjs run examples/ai-sdk-refund/index.ts`.
import { createApprovalGate } from '@holdpoint/ai-sdk';
import { createHoldpoint } from '@holdpoint/core';
import { generateText, stepCountIs, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { z } from 'zod';

const store = process.env.HOLDPOINT_STORE ?? 'sqlite://./.holdpoint/holdpoint.db';
const hp = await createHoldpoint({ store });

// The tool: a real system would call the payment provider here.
const refunds: Array<{ orderId: string; amount: number }> = [];
const issueRefund = tool({
  description: 'Refund part or all of an order to the customer',
  inputSchema: z.object({
    orderId: z.string().min(1),
    amount: z.number().positive().max(2000).describe('US dollars'),
    reason: z.string().describe('Why the customer gets this refund'),
  }),
  execute: async ({ orderId, amount }) => {
    refunds.push({ orderId, amount });
    return { refundId: `rf_${orderId}`, orderId, amount };
  },
});

// Refunds over $100 go to finance, with a deadline and a delegate.
const gate = createApprovalGate({
  holdpoint: hp,
  tools: { issueRefund },
  approvals: {
    issueRefund: {
      when: ({ input }) => input.amount > 100,
      title: ({ input }) => `Refund $${input.amount} on order ${input.orderId}`,
      assignee: 'fran@acme.test',
      timeout: '300ms',
      escalateTo: [{ assignee: 'dan@acme.test', timeout: '1h' }],
      onTimeout: 'reject',
    },
  },
});

let escalatedTaskId: string | undefined;

// The people, reacting to what the engine records (in real life: the inbox, an email link, a webhook).
hp.subscribe((event) => {
  if (event.taskId === undefined) return;
  const taskId = event.taskId;
  void (async () => {
    const task = await hp.getTask(taskId);
    const input = (task.context as { input: { orderId: string; amount: number; reason: string } }).input;
    if (event.type === 'task-created' && input.amount >= 800) {
      console.log(`  fran@acme.test turns down ${task.title}`);
      await hp.decide(taskId, {
        outcome: 'rejected',
        comment: 'Over the $500 goodwill limit: offer store credit instead.',
        actor: { id: 'fran@acme.test', name: 'Fran (Finance)' },
        versionDigest: task.versionDigest,
      });
    } else if (event.type === 'task-created') {
      console.log(`  fran@acme.test is away: ${task.title} waits for her`);
    } else if (event.type === 'task-escalated') {
      console.log(`  deadline passed: ${task.title} escalates to ${task.assignees.at(-1)}`);
      console.log('  dan@acme.test approves it with the amount lowered to $180');
      escalatedTaskId = taskId;
      await hp.decide(taskId, {
        outcome: 'approved',
        comment: 'Refund the jacket only; shipping was charged once.',
        data: { ...input, amount: 180 },
        actor: { id: 'dan@acme.test', name: 'Dan (Finance delegate)' },
        versionDigest: task.versionDigest,
      });
    }
  })().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
});

/** A mock model playing the support agent: it calls the tool, then reports what happened. */
function supportAgent(refund: { orderId: string; amount: number; reason: string }) {
  return new MockLanguageModelV4({
    doGenerate: async ({ prompt }) => {
      const last = prompt.at(-1);
      const usage = {
        inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: 10, text: 10, reasoning: undefined },
      };
      if (last?.role !== 'tool') {
        return {
          content: [
            { type: 'text', text: `I will refund $${refund.amount} on ${refund.orderId}.` },
            {
              type: 'tool-call',
              toolCallId: `call-${refund.orderId}`,
              toolName: 'issueRefund',
              input: JSON.stringify(refund),
            },
          ],
          finishReason: { unified: 'tool-calls', raw: undefined },
          usage,
          warnings: [],
        };
      }
      const text = last.content
        .map((part) => {
          if (part.type !== 'tool-result') return '';
          if (part.output.type === 'execution-denied')
            return `Sorry, I could not refund: ${part.output.reason}`;
          if (part.output.type !== 'json') return `Done: ${JSON.stringify(part.output)}`;
          // A refund approved with changes comes back with a note saying what ran.
          const value = part.output.value as { approvedWithChanges?: string; output?: unknown };
          return value.approvedWithChanges
            ? `Done, with a change: ${value.approvedWithChanges} Refund: ${JSON.stringify(value.output)}`
            : `Done: ${JSON.stringify(value)}`;
        })
        .join(' ');
      return {
        content: [{ type: 'text', text }],
        finishReason: { unified: 'stop', raw: undefined },
        usage,
        warnings: [],
      };
    },
  });
}

const tickets = [
  { orderId: 'A-100', amount: 40, reason: 'Late delivery voucher' },
  { orderId: 'B-200', amount: 250, reason: 'Jacket returned; customer asks for jacket and shipping' },
  { orderId: 'C-300', amount: 900, reason: 'Customer unhappy with the color' },
];
const answers: Record<string, string> = {};
for (const ticket of tickets) {
  console.log(`ticket ${ticket.orderId}: the agent asks to refund $${ticket.amount}`);
  const result = await generateText({
    model: supportAgent(ticket),
    tools: gate.tools,
    toolApproval: gate.toolApproval,
    prompt: `Ticket ${ticket.orderId}: ${ticket.reason}`,
    stopWhen: stepCountIs(3),
  });
  answers[ticket.orderId] = result.text;
  console.log(`  agent: ${result.text}`);
}

// The record: B-200's task keeps both versions — what the agent asked, what Dan approved — in a
// signed, verifiable audit trail.
const escalated = escalatedTaskId === undefined ? undefined : await hp.getTask(escalatedTaskId);
const audit = escalated ? await hp.audit.export(escalated.intentId) : '';
const verification = await hp.audit.verify(audit);
console.log(`audit of B-200: ${audit.trim().split('\n').length - 1} events, verified: ${verification.ok}`);
await hp.close();

const problems: string[] = [];
const expect = (ok: boolean, what: string) => ok || problems.push(what);
expect(
  JSON.stringify(refunds) ===
    JSON.stringify([
      { orderId: 'A-100', amount: 40 },
      { orderId: 'B-200', amount: 180 },
    ]),
  `refunds that ran: ${JSON.stringify(refunds)}`,
);
expect(answers['A-100']?.startsWith('Done:') === true, 'A-100 refunded without approval');
expect(
  answers['B-200']?.includes(
    'Dan (Finance delegate) approved this call with changed arguments (amount: 250 → 180)',
  ) === true,
  'the agent learns that B-200 ran with a lowered amount',
);
expect(
  answers['C-300'] === 'Sorry, I could not refund: Over the $500 goodwill limit: offer store credit instead.',
  'the agent reads why C-300 was turned down',
);
expect(escalated?.escalationLevel === 1, 'B-200 escalated once');
expect(
  (escalated?.context as { input?: { amount?: number } })?.input?.amount === 250,
  'the task keeps the asked amount',
);
expect(
  (escalated?.decision?.data as { amount?: number })?.amount === 180,
  'the decision keeps the approved amount',
);
expect(audit.includes('"amount":250') && audit.includes('"amount":180'), 'the audit keeps both amounts');
expect(verification.ok, 'the audit trail verifies');
if (problems.length > 0) {
  console.error(`FAILED:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('refund desk: all checks passed');
