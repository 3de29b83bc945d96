import type { Duration, Holdpoint, RequestHumanOptions, TimeoutPolicy } from '@holdpoint/core';
import { ValidationError } from '@holdpoint/core';

/**
 * The engine methods the adapter uses: what `createHoldpoint()` returns, or anything with the same
 * methods (a test double, a wrapper that adds logging).
 */
export type HoldpointLike = Pick<
  Holdpoint,
  'requestHuman' | 'waitForHuman' | 'getTask' | 'cancelTask' | 'complete' | 'fail'
>;

/** A tool call as the adapter's policy functions see it. */
export interface ToolCallInfo<INPUT = unknown> {
  /** The tool's name in the tool set. */
  toolName: string;
  /** The id the model (or the SDK) gave this call. */
  toolCallId: string;
  /** The arguments, parsed and validated against the tool's input schema. */
  input: INPUT;
  /**
   * What the model wrote before the call in the same message, when the adapter can see it (deferred
   * mode reads it from the conversation; in blocking mode the SDK does not hand it over).
   */
  modelText?: string;
}

/** A value, or a function of the tool call that gives it (e.g. an assignee that depends on the amount). */
export type FromCall<T, INPUT> = T | ((call: ToolCallInfo<INPUT>) => T);

/**
 * Who must approve a tool call, when, and how long they have. Every field but `when`, `reason` and
 * `idempotencyKey` takes a value or a function of the call.
 *
 * @example
 * { when: ({ input }) => input.amount > 100, assignee: 'finance@acme.test', timeout: '4h',
 *   escalateTo: ['cfo@acme.test'], onTimeout: 'reject' }
 */
export interface ApprovalPolicy<INPUT = unknown> {
  /** Which calls need a human; the others run without a task (`not-applicable`). @default every call */
  when?: (call: ToolCallInfo<INPUT>) => boolean | PromiseLike<boolean>;
  /** Who decides. Give `assignee` or `assignees`. */
  assignee?: FromCall<string, INPUT>;
  /** Several people; with `quorum`, how many must approve. */
  assignees?: FromCall<string[], INPUT>;
  /** Approvals needed among `assignees`, or `'all'`. Any rejection denies. @default 1 */
  quorum?: FromCall<number | 'all', INPUT>;
  /** How long the assignee has before escalation or the timeout policy. @example '4h' */
  timeout?: FromCall<Duration, INPUT>;
  /** Reminders to the current assignees. */
  remind?: FromCall<{ after: Duration; every?: Duration; max?: number }, INPUT>;
  /** Delegates who take over, in order, when a step times out (needs `timeout`). */
  escalateTo?: FromCall<NonNullable<RequestHumanOptions['escalateTo']>, INPUT>;
  /** When true an escalation takes the task away from earlier assignees. @default false */
  reassign?: FromCall<boolean, INPUT>;
  /**
   * What the last timeout does: `'fail'` (the call is denied: timed out), `'reject'` (denied by the
   * policy) or `'approve'` (runs, approved by the policy). Never recorded as a person's decision.
   * @default 'fail'
   */
  onTimeout?: FromCall<TimeoutPolicy, INPUT>;
  /** The line the human reads. @default `Approve <toolName>` */
  title?: FromCall<string, INPUT>;
  description?: FromCall<string, INPUT>;
  /**
   * The model's stated reason, shown in the task's context.
   * @default the text the model wrote before the call when known, else the input's `reason` field when it is a string
   */
  reason?: (call: ToolCallInfo<INPUT>) => string | undefined;
  /**
   * Whether the human may approve with changed arguments. The task then carries the tool's input
   * schema (as JSON Schema), so a change that does not fit is refused when the human decides.
   * Not offered under a quorum (each approver would approve something else).
   * @default true, unless `quorum` is more than 1
   */
  edits?: boolean;
  /** Put the task under this intent (e.g. one intent per conversation). @default an intent of its own */
  intentId?: FromCall<string, INPUT>;
  /**
   * Blocking mode: a key that hands a restarted caller the same task (e.g. `${chatId}/${toolCallId}`).
   * Deferred mode always keys the task by the SDK's approval id. @default none in blocking mode
   */
  idempotencyKey?: (call: ToolCallInfo<INPUT>) => string;
  /** Your JSON, stored with the task. */
  metadata?: FromCall<Record<string, unknown>, INPUT>;
}

/** What the adapter stores in a task's `metadata.aiSdk`. */
export interface TaskMetadata {
  toolName: string;
  toolCallId: string;
  /** The SDK's approval id (deferred mode). */
  approvalId?: string;
  /** Whether the task's intent is its own (made for this call), so the adapter ends it with the call. */
  ownIntent: boolean;
}

function resolve<T, INPUT>(value: FromCall<T, INPUT> | undefined, call: ToolCallInfo<INPUT>): T | undefined {
  return typeof value === 'function' ? (value as (call: ToolCallInfo<INPUT>) => T)(call) : value;
}

/** The model's stated reason for a call: the policy's, or what the model wrote, or `input.reason`. */
export function statedReason<INPUT>(
  call: ToolCallInfo<INPUT>,
  policy: ApprovalPolicy<INPUT>,
): string | undefined {
  if (policy.reason) return policy.reason(call);
  if (call.modelText !== undefined && call.modelText.trim() !== '') return call.modelText.trim();
  const input = call.input as { reason?: unknown } | null;
  return typeof input === 'object' && input !== null && typeof input.reason === 'string'
    ? input.reason
    : undefined;
}

/** The context a task shows: what the human decides on, and what its version digest covers. */
export interface ToolCallContext {
  tool: string;
  toolCallId: string;
  input: unknown;
  reason?: string;
}

/**
 * The `requestHuman` options for a call under a policy. `schema` is the tool's input JSON Schema
 * when edits may be offered.
 */
export function taskRequest<INPUT>(
  call: ToolCallInfo<INPUT>,
  policy: ApprovalPolicy<INPUT>,
  extra: { schema?: Record<string, unknown>; approvalId?: string; idempotencyKey?: string },
): RequestHumanOptions {
  const reason = statedReason(call, policy);
  const context: ToolCallContext = {
    tool: call.toolName,
    toolCallId: call.toolCallId,
    input: call.input,
    ...(reason === undefined ? {} : { reason }),
  };
  const quorum = resolve(policy.quorum, call);
  const editsAllowed = policy.edits ?? !(typeof quorum === 'number' ? quorum > 1 : quorum === 'all');
  if (policy.edits === true && quorum !== undefined && quorum !== 1) {
    throw new ValidationError({
      field: 'approvals.edits',
      message: `approval of ${call.toolName}: edits cannot be offered under a quorum (${quorum}): each approver would approve other arguments. Set edits: false or drop the quorum.`,
    });
  }
  const assignee = resolve(policy.assignee, call);
  const assignees = resolve(policy.assignees, call);
  if (assignee === undefined && (assignees === undefined || assignees.length === 0)) {
    throw new ValidationError({
      field: 'approvals.assignee',
      message: `approval of ${call.toolName}: name who approves with assignee: 'name@example.com' (or assignees: [...])`,
    });
  }
  const intentId = resolve(policy.intentId, call);
  const metadata: TaskMetadata = {
    toolName: call.toolName,
    toolCallId: call.toolCallId,
    ...(extra.approvalId === undefined ? {} : { approvalId: extra.approvalId }),
    ownIntent: intentId === undefined,
  };
  const fields = {
    assignee,
    assignees,
    quorum,
    timeout: resolve(policy.timeout, call),
    remind: resolve(policy.remind, call),
    escalateTo: resolve(policy.escalateTo, call),
    reassign: resolve(policy.reassign, call),
    onTimeout: resolve(policy.onTimeout, call),
    description: resolve(policy.description, call),
    intentId,
    idempotencyKey: extra.idempotencyKey,
    schema: editsAllowed ? extra.schema : undefined,
  };
  const request: RequestHumanOptions = {
    task: 'approval',
    title: resolve(policy.title, call) ?? `Approve ${call.toolName}`,
    context,
    metadata: { ...resolve(policy.metadata, call), aiSdk: metadata },
  };
  // Leave out what is not set: the engine refuses `undefined` for some options.
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (request as Record<string, unknown>)[key] = value;
  }
  return request;
}
