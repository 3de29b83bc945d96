import type { Actor, HumanResult, HumanTask } from '@holdpoint/core';
import { canonicalJson } from '@holdpoint/core';
import type { TaskMetadata, ToolCallContext } from './policy.js';

/** How a gated tool call ended, in the adapter's words. */
export interface Verdict {
  /** Whether the tool may run. */
  approved: boolean;
  /**
   * `approved` / `denied` by a person or a timeout policy (`decidedBy`), `timed_out` (no one decided and
   * the policy is `'fail'`), `canceled` (the task was canceled), `pending` (no decision yet).
   */
  status: 'approved' | 'denied' | 'timed_out' | 'canceled' | 'pending';
  /** What the model and the SDK are told: the human's comment, or the policy's own words. */
  reason?: string;
  decidedBy?: 'human' | 'policy';
  actor?: Actor | null;
  comment?: string;
  /** The arguments the model asked for (the task's context). */
  requestedInput: unknown;
  /** The arguments to run with: the human's changed ones, or the requested ones. */
  input: unknown;
  /** Whether the human changed the arguments. */
  edited: boolean;
  taskId: string;
  intentId: string;
  /** Whether the task's intent was made for this call alone (the adapter ends it with the call). */
  ownIntent: boolean;
}

/** The end of a task as `waitForHuman` reports it, or as read from the task. */
export type Ending = Pick<HumanResult, 'outcome' | 'comment' | 'data' | 'actor' | 'decidedBy'> & {
  status: HumanResult['status'] | 'pending';
};

function endingOf(task: HumanTask): Ending {
  const decision = task.decision;
  if (task.status !== 'decided' || decision === undefined) return { status: task.status };
  return {
    status: 'decided',
    outcome: decision.outcome,
    actor: decision.actor,
    decidedBy: decision.decidedBy,
    ...(decision.comment === undefined ? {} : { comment: decision.comment }),
    ...(decision.data === undefined ? {} : { data: decision.data }),
  };
}

function nameOf(actor: Actor | null | undefined): string {
  return actor ? (actor.name ?? actor.id) : 'someone';
}

function reasonOf(ending: Ending, approved: boolean): string | undefined {
  const comment = ending.comment?.trim() ? ending.comment.trim() : undefined;
  switch (ending.status) {
    case 'pending':
      return 'No one has decided on this call yet.';
    case 'canceled':
      return 'The approval request was canceled before anyone decided; the call was not run.';
    case 'timed_out':
      return 'No one decided on this call in time; the approval request timed out and the call was not run.';
    default:
      // A timeout policy decides in no one's name: say so, rather than blame a person who did not act.
      if (ending.decidedBy === 'policy') {
        return approved
          ? 'No one decided in time; the timeout policy approved the call.'
          : 'No one decided in time; the timeout policy rejected the call, so it was not run.';
      }
      if (approved) return comment;
      return comment ?? `Denied by ${nameOf(ending.actor)} (no reason given).`;
  }
}

/** The verdict on a task read from the store. */
export function taskVerdict(task: HumanTask): Verdict {
  return verdictOf(task, endingOf(task));
}

/** Whether two JSON values are the same (key order aside). */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** What the verdict needs to know of a task: read from the task, or from the request that made it. */
export type TaskFacts = Pick<
  HumanTask,
  'id' | 'intentId' | 'context' | 'allowedOutcomes' | 'schema' | 'metadata'
>;

/**
 * The verdict on a task. Decision `data` counts as changed arguments only when the task offered edits
 * (it carries the input schema); otherwise the call runs as the human saw it.
 */
export function verdictOf(task: TaskFacts, ending: Ending): Verdict {
  const context = task.context as ToolCallContext;
  const metadata = (task.metadata?.aiSdk ?? {}) as Partial<TaskMetadata>;
  const approved = ending.status === 'decided' && ending.outcome === task.allowedOutcomes[0];
  const status =
    ending.status === 'decided' ? (approved ? 'approved' : 'denied') : (ending.status as Verdict['status']);
  const edited =
    approved &&
    task.schema !== undefined &&
    ending.decidedBy === 'human' &&
    ending.data !== undefined &&
    !sameJson(ending.data, context.input);
  const reason = reasonOf(ending, approved);
  return {
    approved,
    status,
    ...(reason === undefined ? {} : { reason }),
    ...(ending.decidedBy === undefined ? {} : { decidedBy: ending.decidedBy }),
    ...(ending.actor === undefined ? {} : { actor: ending.actor }),
    ...(ending.comment === undefined ? {} : { comment: ending.comment }),
    requestedInput: context.input,
    input: edited ? ending.data : context.input,
    edited,
    taskId: task.id,
    intentId: task.intentId,
    ownIntent: metadata.ownIntent === true,
  };
}

/** What a gated tool returns instead of running: the model reads it as a denied execution. */
export interface ApprovalDenied {
  type: 'approval-denied';
  /** Why: the human's comment, or the timeout policy's words. */
  reason: string;
  status: 'denied' | 'timed_out' | 'canceled' | 'pending' | 'invalid';
  /** The Holdpoint task, when there is one. */
  taskId?: string;
}

/** Whether a tool output is the adapter's denial. */
export function isApprovalDenied(output: unknown): output is ApprovalDenied {
  return (
    typeof output === 'object' &&
    output !== null &&
    (output as { type?: unknown }).type === 'approval-denied' &&
    typeof (output as { reason?: unknown }).reason === 'string'
  );
}

// The denials this adapter returned, so the model output never mistakes a tool's own output for one.
const denials = new WeakSet<object>();

/** Whether `output` is a denial this adapter's gated `execute` returned (in this process). */
export function isOwnDenial(output: unknown): output is ApprovalDenied {
  return typeof output === 'object' && output !== null && denials.has(output);
}

export function deniedOutput(
  reason: string,
  status: ApprovalDenied['status'],
  taskId: string | undefined,
): ApprovalDenied {
  const denial: ApprovalDenied = {
    type: 'approval-denied',
    reason,
    status,
    ...(taskId === undefined ? {} : { taskId }),
  };
  denials.add(denial);
  return denial;
}
