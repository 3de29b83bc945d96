import type { Tool } from 'ai';
import { createApprovalGate, type GatedTool } from './approval-gate.js';
import { checkWithApprovalOptions } from './options.js';
import type { ApprovalPolicy, HoldpointLike } from './policy.js';

/** Options of {@link withApproval}: the engine, the tool's name, and an approval policy. */
export type WithApprovalOptions<INPUT> = ApprovalPolicy<INPUT> & {
  /** The engine: `await createHoldpoint()`. */
  holdpoint: HoldpointLike;
  /** The tool's name, as the human sees it in the task. @default 'tool' */
  toolName?: string;
  /** Errors of bookkeeping after the call ended (recording it on its intent). @default console.error */
  onError?: (error: unknown) => void;
};

/**
 * Gate one tool's `execute` behind a named human, without `toolApproval`: the call waits for the
 * decision; approved, the tool runs (with the arguments the human approved); denied or timed out, it
 * returns an {@link ApprovalDenied} the model reads as a denied execution, with the reason.
 *
 * @throws ValidationError when the tool has no `execute` or the options cannot be used (an unknown
 * field, no approver, a bad duration, …), naming the field.
 * @example
 * const issueRefund = withApproval(refundTool, { holdpoint: hp, toolName: 'issueRefund',
 *   when: ({ input }) => input.amount > 100, assignee: 'finance@acme.test', timeout: '4h' });
 */
export function withApproval<TOOL extends Tool>(
  tool: TOOL,
  options: WithApprovalOptions<TOOL extends Tool<infer INPUT> ? INPUT : unknown>,
): GatedTool<TOOL> {
  checkWithApprovalOptions(tool, options);
  const { holdpoint, toolName = 'tool', onError, ...policy } = options;
  const gate = createApprovalGate({
    holdpoint,
    tools: { [toolName]: tool },
    approvals: { [toolName]: policy as ApprovalPolicy },
    ...(onError ? { onError } : {}),
  });
  return gate.tools[toolName] as GatedTool<TOOL>;
}
