import {
  AlreadyDecidedError,
  type HumanResult,
  type HumanTask,
  IdempotencyConflictError,
  InvalidStateError,
  type RequestHumanOptions,
} from '@holdpoint/core';
import {
  asSchema,
  type InferToolInput,
  type InferToolOutput,
  type ModelMessage,
  type Tool,
  type ToolApprovalResponse,
  type ToolModelMessage,
  type ToolSet,
} from 'ai';
import { answeredRequestFor, approvalRequests } from './messages.js';
import { gatedModelOutput } from './model-output.js';
import { checkGateOptions, checkPolicy } from './options.js';
import { type ApprovalPolicy, type HoldpointLike, type ToolCallInfo, taskRequest } from './policy.js';
import {
  type ApprovalDenied,
  deniedOutput,
  isOwnDenial,
  sameJson,
  taskVerdict,
  type Verdict,
  verdictOf,
} from './verdict.js';

/**
 * `'blocking'`: `toolApproval` creates the task and waits for the human inside the SDK call.
 * `'deferred'`: `toolApproval` answers `user-approval`, the call ends with a `tool-approval-request`,
 * and {@link ApprovalGate.approvalResponses} opens the task and, once decided, gives the responses
 * that continue the conversation — from any process, after any restart.
 */
export type ApprovalMode = 'blocking' | 'deferred';

/** A policy per tool name (tools left out run without approval). */
export type ApprovalPolicies<TOOLS extends ToolSet> = {
  [NAME in keyof TOOLS]?: ApprovalPolicy<InferToolInput<TOOLS[NAME]>>;
};

/** One policy function for every tool: return undefined for tools that need no approval. */
export type GenericApprovalPolicy = (
  call: Pick<ToolCallInfo, 'toolName' | 'toolCallId' | 'input'>,
) => ApprovalPolicy | undefined;

/** Options of {@link createApprovalGate}. */
export interface ApprovalGateOptions<TOOLS extends ToolSet> {
  /** The engine: `await createHoldpoint()`. */
  holdpoint: HoldpointLike;
  /** The tools the model may call; `gate.tools` are these, gated. */
  tools: TOOLS;
  /** Who approves which calls: per tool, or one function for all. */
  approvals: ApprovalPolicies<TOOLS> | GenericApprovalPolicy;
  /** @default 'blocking' */
  mode?: ApprovalMode;
  /**
   * Stops this gate's blocking waits (they reject with the signal's reason; the tasks stay). AI SDK 7
   * does not hand `toolApproval` the call's `abortSignal`: to abort a blocking call, make the gate per
   * request and give it the same signal as `generateText({ abortSignal })`.
   */
  signal?: AbortSignal;
  /** Errors of bookkeeping after a call ended (recording it on its intent), which must not fail the call. @default console.error */
  onError?: (error: unknown) => void;
}

/** A gated tool: it may return {@link ApprovalDenied} instead of running. */
export type GatedTool<TOOL> = TOOL extends Tool
  ? Tool<InferToolInput<TOOL>, InferToolOutput<TOOL> | ApprovalDenied>
  : TOOL;

/** A tool set, each tool gated. */
export type GatedTools<TOOLS extends ToolSet> = { [NAME in keyof TOOLS]: GatedTool<TOOLS[NAME]> };

/** What the gate's `toolApproval` answers: the AI SDK 7 approval statuses it uses. */
export type GateApprovalStatus =
  | 'not-applicable'
  | { type: 'approved'; reason?: string }
  | { type: 'denied'; reason?: string }
  | { type: 'user-approval'; reason?: string };

/** The `toolApproval` function a gate gives to `generateText`, `streamText` or an agent (AI SDK 7). */
export type GateToolApproval = (options: {
  toolCall: { toolName: string; toolCallId: string; input: unknown };
  tools?: ToolSet | undefined;
  messages: ModelMessage[];
}) => Promise<GateApprovalStatus>;

/** A deferred request that no one has decided yet. */
export interface PendingApproval {
  approvalId: string;
  toolCallId: string;
  toolName: string;
  /** The Holdpoint task the human decides. */
  task: HumanTask;
}

/** What {@link ApprovalGate.approvalResponses} found. */
export interface ApprovalResponses {
  /** One `tool-approval-response` per decided request (approved, or denied with the reason). */
  responses: ToolApprovalResponse[];
  /** The tool message to append before calling the SDK again; undefined when nothing is decided. */
  message?: ToolModelMessage;
  /** Requests still waiting for a human (their tasks exist now). */
  pending: PendingApproval[];
}

/** Tools gated behind Holdpoint approvals, and the `toolApproval` that routes them to people. */
export interface ApprovalGate<TOOLS extends ToolSet> {
  /** The tools to give the SDK: each runs only once approved, with the arguments the human approved. */
  readonly tools: GatedTools<TOOLS>;
  /** Give to `generateText` / `streamText` / `ToolLoopAgent` as `toolApproval`. */
  readonly toolApproval: GateToolApproval;
  /**
   * Deferred mode: open a task for every unanswered `tool-approval-request` in `messages` (keyed by
   * its approval id, so calling again finds the same task), and turn the decided ones into
   * `tool-approval-response` parts. Call it right after the SDK returns, and again to continue.
   */
  approvalResponses(messages: readonly ModelMessage[]): Promise<ApprovalResponses>;
}

/** The SDK's execution options of a tool call (`toolCallId`, `messages`, `abortSignal`, … in AI SDK 6 and 7). */
type Execution = Parameters<NonNullable<Tool['execute']>>[1];

const gatedBy = Symbol.for('holdpoint.ai-sdk.gate');

/** Keeps the newest entries only: verdicts handed from `toolApproval` to `execute` must not pile up. */
class RecentMap<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    if (this.size >= 1000) this.delete(this.keys().next().value as string);
    return super.set(key, value);
  }
}

function isAsyncGeneratorFunction(value: unknown): boolean {
  return Object.prototype.toString.call(value) === '[object AsyncGeneratorFunction]';
}

/**
 * Gate tools behind named humans.
 *
 * @throws ValidationError when an option cannot be used — an unknown option or policy field, an
 * `approvals` key that names no tool, a policy without an approver, a bad `mode` or duration, no
 * engine — naming the field and what to give. A generic policy function's policies are checked per call.
 *
 * @example
 * const gate = createApprovalGate({
 *   holdpoint: hp,
 *   tools: { issueRefund },
 *   approvals: { issueRefund: { when: ({ input }) => input.amount > 100, assignee: 'finance@acme.test', timeout: '4h' } },
 * });
 * await generateText({ model, tools: gate.tools, toolApproval: gate.toolApproval, prompt });
 */
export function createApprovalGate<TOOLS extends ToolSet>(
  options: ApprovalGateOptions<TOOLS>,
): ApprovalGate<TOOLS> {
  checkGateOptions(options);
  const { holdpoint: hp, approvals, signal: gateSignal } = options;
  const mode = options.mode ?? 'blocking';
  const onError = options.onError ?? ((error: unknown) => console.error('[holdpoint/ai-sdk]', error));
  // Verdicts `toolApproval` reached, waiting for the tool's `execute` (so a call is gated once). The
  // SDK hands both the same `messages` array, so verdicts are kept per conversation step: two
  // conversations whose models reuse a tool call id (mock and local models do) never swap verdicts.
  const approved = new WeakMap<object, Map<string, Verdict>>();
  const approvedIn = (messages: object) => {
    let verdicts = approved.get(messages);
    if (verdicts === undefined) {
      verdicts = new Map();
      approved.set(messages, verdicts);
    }
    return verdicts;
  };
  // Runs with changed arguments, for the model output: by the output object when there is one.
  const editsByOutput = new WeakMap<object, Verdict>();
  const editsByCall = new RecentMap<Verdict>();
  const schemas = new Map<string, Promise<Record<string, unknown> | undefined>>();
  // Marks this gate's own tools: `toolApproval` lets a human change arguments only for those.
  const identity = {};

  function policyFor(
    call: Pick<ToolCallInfo, 'toolName' | 'toolCallId' | 'input'>,
  ): ApprovalPolicy | undefined {
    if (typeof approvals === 'function') {
      const policy = approvals(call);
      // Checked per call, as the per-tool policies are at creation: a misspelt field is refused, not dropped.
      if (policy !== undefined) checkPolicy(policy, `createApprovalGate.approvals(${call.toolName})`);
      return policy;
    }
    if (!Object.hasOwn(approvals, call.toolName)) return undefined;
    return approvals[call.toolName as keyof TOOLS] as ApprovalPolicy | undefined;
  }

  /** The tool's input schema as JSON Schema, for the edit form; undefined for a tool the gate does not hold. */
  function inputSchema(toolName: string): Promise<Record<string, unknown> | undefined> {
    let schema = schemas.get(toolName);
    if (schema === undefined) {
      const tool = Object.hasOwn(options.tools, toolName) ? options.tools[toolName] : undefined;
      schema = (async () => {
        if (tool?.inputSchema === undefined) return undefined;
        const { $schema: _dialect, ...json } = (await asSchema(tool.inputSchema).jsonSchema) as Record<
          string,
          unknown
        >;
        // The SDK writes draft-07; the engine checks JSON Schema 2020-12, which reads the same
        // keywords for what tool schemas use (objects, arrays, enums, formats, bounds).
        return json;
      })();
      schemas.set(toolName, schema);
    }
    return schema;
  }

  async function request(
    call: ToolCallInfo,
    policy: ApprovalPolicy,
    extra: { editable: boolean; approvalId?: string },
  ): Promise<RequestHumanOptions> {
    const schema = extra.editable ? await inputSchema(call.toolName) : undefined;
    const idempotencyKey =
      extra.approvalId !== undefined ? `ai-sdk/approval/${extra.approvalId}` : policy.idempotencyKey?.(call);
    return taskRequest(call, policy, {
      ...(schema === undefined ? {} : { schema }),
      ...(extra.approvalId === undefined ? {} : { approvalId: extra.approvalId }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    });
  }

  /** Blocking: create the task and wait for its end. */
  async function waitForVerdict(
    call: ToolCallInfo,
    policy: ApprovalPolicy,
    editable: boolean,
    signal?: AbortSignal,
  ): Promise<Verdict> {
    const options = await request(call, policy, { editable });
    const result: HumanResult = await hp.waitForHuman({ ...options, ...(signal ? { signal } : {}) });
    return verdictOf(
      {
        id: result.taskId,
        intentId: result.intentId,
        context: options.context,
        allowedOutcomes: ['approved', 'rejected'],
        ...(options.schema === undefined ? {} : { schema: options.schema as Record<string, unknown> }),
        ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
      },
      result,
    );
  }

  /** Deferred: the task of an approval request — opened now if it does not exist yet. */
  async function deferredTask(
    call: ToolCallInfo,
    policy: ApprovalPolicy,
    approvalId: string,
  ): Promise<HumanTask> {
    const options = await request(call, policy, { editable: true, approvalId });
    try {
      return await hp.requestHuman(options);
    } catch (error) {
      // The key is the approval id: the task exists, asked with other options (the policy changed, or
      // the conversation was edited). The existing task is what the human saw; it decides.
      if (IdempotencyConflictError.isInstance(error)) return hp.getTask(error.existingId);
      throw error;
    }
  }

  /**
   * Deferred: the verdict for an approval the conversation answers. Only a Holdpoint decision
   * approves; a response given before anyone decided (by a client, say) closes the task unanswered.
   */
  async function deferredVerdict(
    call: ToolCallInfo,
    policy: ApprovalPolicy,
    approvalId: string,
  ): Promise<Verdict> {
    let task = await deferredTask(call, policy, approvalId);
    if (task.status === 'pending') {
      try {
        task = await hp.cancelTask(task.id, {
          reason: 'The conversation went on before anyone decided: the tool call was not run.',
        });
      } catch (error) {
        // Decided meanwhile: that decision stands.
        if (!AlreadyDecidedError.isInstance(error)) throw error;
        task = await hp.getTask(task.id);
      }
      if (task.status === 'canceled') {
        return {
          ...taskVerdict(task),
          reason:
            'The approval response did not come from a Holdpoint decision: no one had decided on this call, so it was not run.',
        };
      }
    }
    return taskVerdict(task);
  }

  /** A verdict holds only for the arguments the human saw. */
  function bound(verdict: Verdict, input: unknown): Verdict {
    if (!verdict.approved || sameJson(verdict.requestedInput, input)) return verdict;
    return {
      ...verdict,
      approved: false,
      status: 'denied',
      reason: 'The arguments differ from the ones the person approved, so the call was not run.',
    };
  }

  const toolApproval: GateToolApproval = async ({ toolCall, tools, messages }) => {
    const { toolName, toolCallId, input } = toolCall;
    const policy = policyFor({ toolName, toolCallId, input });
    if (policy === undefined) return 'not-applicable';
    const given = tools && Object.hasOwn(tools, toolName) ? tools[toolName] : undefined;
    const wrapped = (given as Record<symbol, unknown> | undefined)?.[gatedBy] === identity;
    let verdict: Verdict;
    const answered = answeredRequestFor(messages, toolCallId);
    if (answered !== undefined) {
      // The SDK re-checks an approved request before it runs the call: Holdpoint's decision decides.
      const call = {
        toolName,
        toolCallId,
        input,
        ...(answered.modelText ? { modelText: answered.modelText } : {}),
      };
      verdict = bound(await deferredVerdict(call, policy, answered.approvalId), input);
    } else {
      const call: ToolCallInfo = { toolName, toolCallId, input };
      if (policy.when && !(await policy.when(call))) return 'not-applicable';
      if (mode === 'deferred') {
        const options = await request(call, policy, { editable: false });
        const who = options.assignees ?? [options.assignee];
        return { type: 'user-approval', reason: `Waiting for approval by ${who.join(', ')}` };
      }
      verdict = await waitForVerdict(call, policy, wrapped, gateSignal);
    }
    if (!verdict.approved) {
      await recordNotRun(verdict, toolName, verdict.status, verdict.reason);
      return { type: 'denied', ...(verdict.reason ? { reason: verdict.reason } : {}) };
    }
    if (verdict.edited && !wrapped) {
      // Only the gate's own tools can run with the changed arguments; running the original ones would
      // run what the human did not approve.
      const reason =
        'Approved with changed arguments, but the tool given to the SDK is not the gate’s (use gate.tools), so the changes cannot be applied; the call was not run.';
      await recordNotRun(verdict, toolName, 'invalid', reason);
      return { type: 'denied', reason };
    }
    approvedIn(messages).set(toolCallId, verdict);
    return { type: 'approved', ...(verdict.reason ? { reason: verdict.reason } : {}) };
  };

  /** Decide whether `execute` may run, and with which arguments. */
  async function admit(
    toolName: string,
    tool: Tool,
    input: unknown,
    execution: Execution,
  ): Promise<{ input: unknown; verdict?: Verdict } | ApprovalDenied> {
    const { toolCallId } = execution;
    const policy = policyFor({ toolName, toolCallId, input });
    if (policy === undefined) return { input };
    const handed = approved.get(execution.messages);
    let verdict = handed?.get(toolCallId);
    handed?.delete(toolCallId);
    if (verdict === undefined) {
      const answered = answeredRequestFor(execution.messages, toolCallId);
      const call: ToolCallInfo = {
        toolName,
        toolCallId,
        input,
        ...(answered?.modelText ? { modelText: answered.modelText } : {}),
      };
      if (answered !== undefined) {
        verdict = await deferredVerdict(call, policy, answered.approvalId);
      } else if (policy.when && !(await policy.when(call))) {
        return { input };
      } else if (mode === 'deferred') {
        return deniedOutput(
          'This call needs a person’s approval, and it did not come through the approval gate’s toolApproval; it was not run.',
          'pending',
          undefined,
        );
      } else {
        const signals = [execution.abortSignal, gateSignal].filter((signal) => signal !== undefined);
        verdict = await waitForVerdict(
          call,
          policy,
          true,
          signals.length > 1 ? AbortSignal.any(signals) : signals[0],
        );
      }
    }
    verdict = bound(verdict, input);
    if (!verdict.approved) {
      const status = verdict.status === 'approved' ? 'denied' : verdict.status;
      const reason = verdict.reason ?? 'Not approved.';
      await recordNotRun(verdict, toolName, status, reason);
      return deniedOutput(reason, status, verdict.taskId);
    }
    if (!verdict.edited) return { input, verdict };
    // The engine checked the change against the JSON Schema when the human decided; the tool's own
    // schema also runs here, for what JSON Schema cannot say (refinements, transforms).
    const schema = asSchema(tool.inputSchema);
    const checked = schema.validate
      ? await schema.validate(verdict.input)
      : ({ success: true, value: verdict.input } as const);
    if (!checked.success) {
      const reason = `The approved changes do not fit the tool's input (${checked.error.message}), so the call was not run.`;
      await recordNotRun(verdict, toolName, 'invalid', reason);
      return deniedOutput(reason, 'invalid', verdict.taskId);
    }
    return { input: checked.value, verdict };
  }

  /** End the call's own intent (one made for this call; an intent the policy names is the app's to end). */
  async function endOwnIntent(verdict: Verdict | undefined, end: (intentId: string) => Promise<unknown>) {
    if (!verdict?.ownIntent) return;
    try {
      await end(verdict.intentId);
    } catch (recordError) {
      // Already closed: the SDK ran the call again (a replayed continuation), or the call's outcome
      // was recorded before (`approvalResponses` asked again). Nothing to add.
      if (!InvalidStateError.isInstance(recordError)) onError(recordError);
    }
  }

  /** Record on the call's own intent that the tool ran, and with what: the audit shows what happened. */
  async function recordRun(verdict: Verdict | undefined, toolName: string, input: unknown, error?: unknown) {
    await endOwnIntent(verdict, (intentId) =>
      error === undefined
        ? hp.complete(intentId, { result: { tool: toolName, ranWith: input, edited: verdict?.edited } })
        : hp.fail(intentId, { error: `${toolName} failed: ${(error as Error)?.message ?? String(error)}` }),
    );
  }

  /**
   * Record on the call's own intent that the call ended without running: completed with
   * `{ tool, ran: false, status, reason }` — the approval did its work, and the call's outcome is
   * known. A timed-out task (`onTimeout: 'fail'`) has already ended its intent (`TIMED_OUT`).
   */
  async function recordNotRun(
    verdict: Verdict,
    toolName: string,
    status: ApprovalDenied['status'] | Verdict['status'],
    reason: string | undefined,
  ) {
    if (verdict.status === 'timed_out' || verdict.status === 'pending') return;
    await endOwnIntent(verdict, (intentId) =>
      hp.complete(intentId, {
        result: { tool: toolName, ran: false, status, ...(reason === undefined ? {} : { reason }) },
      }),
    );
  }

  /** After a run: record it, and remember a run with changed arguments for the model output. */
  async function ran(
    admitted: { input: unknown; verdict?: Verdict },
    toolCallId: string,
    toolName: string,
    output: unknown,
  ): Promise<void> {
    const { verdict } = admitted;
    if (verdict?.edited) {
      if (typeof output === 'object' && output !== null) editsByOutput.set(output, verdict);
      else editsByCall.set(toolCallId, verdict);
    }
    await recordRun(verdict, toolName, admitted.input);
  }

  function wrap(toolName: string, tool: Tool): Tool {
    if (tool.execute === undefined || tool.type === 'provider') return tool;
    const execute = tool.execute;
    const gated: Tool = {
      ...tool,
      // For callers without `toolApproval` (AI SDK 6, or 7 without it) in deferred mode, the SDK asks
      // for approval itself; with `toolApproval` the SDK ignores this.
      ...(mode === 'deferred'
        ? {
            needsApproval: async (input: unknown, { toolCallId }: { toolCallId: string }) => {
              const policy = policyFor({ toolName, toolCallId, input });
              return (
                policy !== undefined && (!policy.when || (await policy.when({ toolName, toolCallId, input })))
              );
            },
          }
        : {}),
      execute: isAsyncGeneratorFunction(execute)
        ? async function* (input: unknown, execution: Execution) {
            const admitted = await admit(toolName, tool, input, execution);
            if (isOwnDenial(admitted)) {
              yield admitted;
              return;
            }
            let last: unknown;
            try {
              for await (const output of execute(admitted.input, execution) as AsyncIterable<unknown>) {
                last = output;
                yield output;
              }
            } catch (error) {
              await recordRun(admitted.verdict, toolName, admitted.input, error ?? new Error('failed'));
              throw error;
            }
            await ran(admitted, execution.toolCallId, toolName, last);
          }
        : async (input: unknown, execution: Execution) => {
            const admitted = await admit(toolName, tool, input, execution);
            if (isOwnDenial(admitted)) return admitted;
            let output: unknown;
            try {
              output = await execute(admitted.input, execution);
            } catch (error) {
              await recordRun(admitted.verdict, toolName, admitted.input, error ?? new Error('failed'));
              throw error;
            }
            await ran(admitted, execution.toolCallId, toolName, output);
            return output;
          },
      toModelOutput: (options) => {
        const { output, toolCallId } = options;
        const edit =
          typeof output === 'object' && output !== null
            ? editsByOutput.get(output)
            : editsByCall.get(toolCallId);
        return gatedModelOutput(tool, options, edit);
      },
    } as Tool;
    Object.defineProperty(gated, gatedBy, { value: identity, enumerable: false });
    return gated;
  }

  async function approvalResponses(messages: readonly ModelMessage[]): Promise<ApprovalResponses> {
    const open = approvalRequests(messages).flatMap((request) => {
      if (request.answered || request.isAutomatic) return [];
      const policy = policyFor(request);
      return policy === undefined ? [] : [{ request, policy }];
    });
    const found = await Promise.all(
      open.map(async ({ request, policy }) => {
        const { approvalId, toolCallId, toolName, input, modelText } = request;
        const call = { toolName, toolCallId, input, ...(modelText ? { modelText } : {}) };
        return { request, task: await deferredTask(call, policy, approvalId) };
      }),
    );
    const responses: ToolApprovalResponse[] = [];
    const pending: PendingApproval[] = [];
    for (const { request, task } of found) {
      const { approvalId, toolCallId, toolName } = request;
      if (task.status === 'pending') {
        pending.push({ approvalId, toolCallId, toolName, task });
        continue;
      }
      const verdict = bound(taskVerdict(task), request.input);
      if (!verdict.approved) await recordNotRun(verdict, toolName, verdict.status, verdict.reason);
      responses.push({
        type: 'tool-approval-response',
        approvalId,
        approved: verdict.approved,
        ...(verdict.reason ? { reason: verdict.reason } : {}),
      });
    }
    return {
      responses,
      pending,
      ...(responses.length === 0 ? {} : { message: { role: 'tool', content: responses } }),
    };
  }

  return {
    tools: Object.fromEntries(
      Object.entries(options.tools).map(([name, tool]) => [name, wrap(name, tool)]),
    ) as GatedTools<TOOLS>,
    toolApproval,
    approvalResponses,
  };
}
