import { ValidationError } from '@holdpoint/core';
import { generateText, stepCountIs, tool } from 'ai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApprovalGate, withApproval } from '../src/index.js';
import { agentModel, countedRefundTool, engines, tasksOf } from './helpers.js';

const engine = engines();

const call = {
  toolCallId: 'call-1',
  toolName: 'issueRefund',
  input: { orderId: 'A-1', amount: 300, reason: 'charged twice' },
};

/** What a function threw: the error, or undefined when it did not throw. */
function thrown(make: () => unknown): (Error & { field?: string }) | undefined {
  try {
    make();
  } catch (error) {
    return error as Error & { field?: string };
  }
  return undefined;
}

/** The gate options the checks are tried on, wrong in one place each (typed loosely on purpose). */
async function gateOptions(): Promise<Record<string, unknown>> {
  const { issueRefund } = countedRefundTool();
  return {
    holdpoint: await engine(),
    tools: { issueRefund },
    approvals: { issueRefund: { assignee: 'finance@acme.test' } },
  };
}

const policy = (fields: Record<string, unknown>) => ({
  approvals: { issueRefund: { assignee: 'finance@acme.test', ...fields } },
});

describe('createApprovalGate checks its options when it is made', () => {
  it('an approvals key that names no tool is refused, naming the tools: the risky tool is never left ungated', async () => {
    const hp = await engine();
    const { issueRefund, runs } = countedRefundTool();
    const error = thrown(() =>
      createApprovalGate({
        holdpoint: hp,
        tools: { issueRefund },
        // @ts-expect-error the typo the check is for
        approvals: { issueRefnud: { assignee: 'finance@acme.test' } },
      }),
    );
    expect(ValidationError.isInstance(error)).toBe(true);
    expect(error?.field).toBe('createApprovalGate.approvals.issueRefnud');
    expect(error?.message).toContain("did you mean 'issueRefund'?");
    expect(error?.message).toContain('the tools are: issueRefund');
    expect(runs).toEqual([]);
    expect(await tasksOf(hp)).toEqual([]);
  });

  const refusals: Array<[string, Record<string, unknown>, string, string]> = [
    ['a mode that does not exist', { mode: 'later' }, 'createApprovalGate.mode', "'blocking' or 'deferred'"],
    ['an unknown option', { onErorr: () => {} }, 'createApprovalGate', "did you mean 'onError'?"],
    ['no engine', { holdpoint: undefined }, 'createApprovalGate.holdpoint', 'await createHoldpoint()'],
    [
      'an object that is not an engine',
      { holdpoint: {} },
      'createApprovalGate.holdpoint',
      'missing requestHuman',
    ],
    ['a signal that is not an AbortSignal', { signal: 'stop' }, 'createApprovalGate.signal', 'AbortSignal'],
    [
      'a misspelt policy field',
      policy({ timout: '1h' }),
      'createApprovalGate.approvals.issueRefund',
      "unknown option 'timout' (did you mean 'timeout'?)",
    ],
    [
      'a duration that is not one',
      policy({ timeout: 'soon' }),
      'createApprovalGate.approvals.issueRefund.timeout',
      "'48h'",
    ],
    [
      'a timeout policy that does not exist',
      policy({ onTimeout: 'deny' }),
      'createApprovalGate.approvals.issueRefund.onTimeout',
      "'fail', 'reject', 'approve'",
    ],
    [
      'an empty approver',
      { approvals: { issueRefund: { assignee: '' } } },
      'createApprovalGate.approvals.issueRefund.assignee',
      'empty string',
    ],
    [
      'both assignee and assignees',
      policy({ assignees: ['cfo@acme.test'] }),
      'createApprovalGate.approvals.issueRefund.assignee',
      'not both',
    ],
    [
      'escalation without a timeout',
      policy({ escalateTo: ['lead@acme.test'] }),
      'createApprovalGate.approvals.issueRefund.timeout',
      'escalateTo needs timeout',
    ],
    [
      'a quorum larger than the approvers',
      { approvals: { issueRefund: { assignees: ['a@acme.test'], quorum: 2 } } },
      'createApprovalGate.approvals.issueRefund.quorum',
      'at least 2 assignees',
    ],
    [
      'when given as a value',
      policy({ when: true }),
      'createApprovalGate.approvals.issueRefund.when',
      'function of the call',
    ],
  ];
  it.each(refusals)(
    '%s is refused with a ValidationError naming the field',
    async (_what, change, field, says) => {
      const options = { ...(await gateOptions()), ...change };
      const error = thrown(() => createApprovalGate(options as never));
      expect(ValidationError.isInstance(error), String(error)).toBe(true);
      expect(error?.field).toBe(field);
      expect(error?.message).toContain(says);
    },
  );

  it('a generic policy function’s policy is checked per call: a misspelt field rejects the call, no task is made', async () => {
    const hp = await engine();
    const { issueRefund, runs } = countedRefundTool();
    const gate = createApprovalGate({
      holdpoint: hp,
      tools: { issueRefund },
      approvals: () => ({ assignee: 'finance@acme.test', timout: '1h' }) as never,
    });
    const refused = await generateText({
      model: agentModel({ calls: [call] }),
      tools: gate.tools,
      toolApproval: gate.toolApproval,
      prompt: 'Refund A-1',
      stopWhen: stepCountIs(3),
    }).catch((error: unknown) => error as Error & { field?: string });
    expect(ValidationError.isInstance(refused)).toBe(true);
    expect((refused as { message: string }).message).toContain("did you mean 'timeout'?");
    expect(await tasksOf(hp)).toEqual([]);
    expect(runs).toEqual([]);
  });
});

describe('withApproval checks its options when it is made', () => {
  it('a bad config throws at once; a bad value a policy function gives in a call is a tool-error the model reads', async () => {
    const hp = await engine();
    const { issueRefund: plain, runs } = countedRefundTool();
    for (const [options, field] of [
      [{ holdpoint: hp, assignee: '' }, 'withApproval.assignee'],
      [{ holdpoint: hp, assignee: 'finance@acme.test', timout: '1h' }, 'withApproval'],
      [{ assignee: 'finance@acme.test' }, 'withApproval.holdpoint'],
      [{ holdpoint: hp, toolName: '', assignee: 'finance@acme.test' }, 'withApproval.toolName'],
    ] as const) {
      const error = thrown(() => withApproval(plain, options as never));
      expect(ValidationError.isInstance(error), JSON.stringify(field)).toBe(true);
      expect(error?.field).toBe(field);
    }
    const clientSide = tool({ inputSchema: z.object({ note: z.string() }) });
    expect(
      thrown(() => withApproval(clientSide, { holdpoint: hp, assignee: 'ops@acme.test' }))?.message,
    ).toContain('has nothing to gate');

    // Known only in the call: the SDK turns what a tool's execute throws into a tool-error result,
    // which the model reads, and generateText resolves (README, "Errors").
    const issueRefund = withApproval(plain, { holdpoint: hp, toolName: 'issueRefund', assignee: () => ' ' });
    const result = await generateText({
      model: agentModel({ calls: [call] }),
      tools: { issueRefund },
      prompt: 'Refund A-1',
      stopWhen: stepCountIs(3),
    });
    const toolError = result.steps[0]?.content.find((part) => part.type === 'tool-error');
    expect(ValidationError.isInstance(toolError?.error)).toBe(true);
    expect(result.text).toContain('issueRefund call-1 error-text');
    expect(runs).toEqual([]);
    expect(await tasksOf(hp)).toEqual([]);
  });
});
