import { createHash } from 'node:crypto';
import {
  type HumanResult,
  type HumanTask,
  humanResultOf,
  InvalidStateError,
  type RequestHumanOptions,
  type TaskType,
  ValidationError,
} from '@holdpoint/core';
import { getConfig, interrupt, type LangGraphRunnableConfig } from '@langchain/langgraph';
import type { GateEngine, GateOrigin } from './engine.js';

/** Options of {@link waitForHuman}: the engine's `requestHuman` options, less the key (derived from the run). */
export interface WaitForHumanOptions extends Omit<RequestHumanOptions, 'idempotencyKey'> {
  /**
   * The engine. Without it, the run's context must hold it:
   * `graph.invoke(input, { configurable: { thread_id }, context: { holdpoint: hp } })`.
   */
  holdpoint?: GateEngine;
}

/**
 * The value of the interrupt a gate raises: it names the Holdpoint task, so that a LangGraph client
 * (or the {@link startResumer resumer}) knows what the run waits for and who must act.
 */
export interface HumanTaskInterrupt {
  holdpoint: {
    taskId: string;
    intentId: string;
    type: TaskType;
    title: string;
    description?: string;
    /** What the human decides on; its digest is `versionDigest`. */
    context: unknown;
    versionDigest: string;
    assignees: string[];
    allowedOutcomes: string[];
    /** When the current step ends (ISO), if the task has a timeout. */
    deadlineAt?: string;
  };
}

/** Whether an interrupt's value is a gate's ({@link HumanTaskInterrupt}). */
export function isHumanTaskInterrupt(value: unknown): value is HumanTaskInterrupt {
  const holdpoint = (value as { holdpoint?: { taskId?: unknown } } | null)?.holdpoint;
  return typeof holdpoint?.taskId === 'string';
}

/** The run-time facts a gate needs from LangGraph, read from the node's config. */
interface RunPosition {
  engine: GateEngine;
  origin: GateOrigin & { checkpointNs: string; node: string; position: number };
}

function runPosition(explicit: GateEngine | undefined, where: string): RunPosition {
  let config: LangGraphRunnableConfig | undefined;
  try {
    config = getConfig() as LangGraphRunnableConfig | undefined;
  } catch {
    config = undefined;
  }
  const configurable = config?.configurable as Record<string, unknown> | undefined;
  // LangGraph's per-task scratchpad counts the interrupts of this run of the node; the next one's
  // position is what the gate's key and LangGraph's interrupt id are made from.
  const scratchpad = configurable?.__pregel_scratchpad as { interruptCounter?: unknown } | undefined;
  if (
    config === undefined ||
    configurable === undefined ||
    typeof scratchpad?.interruptCounter !== 'number'
  ) {
    throw new ValidationError({
      field: where,
      message: `${where} must be called inside a node of a LangGraph graph that runs with a checkpointer (it pauses the run with interrupt()).`,
    });
  }
  // LangGraph hands a node the run's checkpointer under `__pregel_checkpointer` (CONFIG_KEY_CHECKPOINTER);
  // interrupt() throws "No checkpointer set" without it. Refuse before asking: a task created here
  // would notify a person whose decision could never resume the run.
  if (!configurable.__pregel_checkpointer) {
    throw new ValidationError({
      field: where,
      message: `${where}: the graph has no checkpointer, so the run cannot pause and resume. Compile it with one — graph.compile({ checkpointer: new HoldpointSaver(store) }) — and run it with { configurable: { thread_id } }.`,
    });
  }
  const engine =
    explicit ?? ((config.context as { holdpoint?: GateEngine } | undefined)?.holdpoint as GateEngine);
  if (engine === undefined || typeof engine.requestHuman !== 'function') {
    throw new ValidationError({
      field: `${where}.holdpoint`,
      message: `${where}: no Holdpoint engine. Pass it as { holdpoint: hp }, or in the run's context: graph.invoke(input, { configurable: { thread_id }, context: { holdpoint: hp } }).`,
    });
  }
  const threadId = config.executionInfo?.threadId ?? (configurable.thread_id as string | undefined);
  if (typeof threadId !== 'string' || threadId === '') {
    throw new ValidationError({
      field: where,
      message: `${where}: the run has no thread. Compile the graph with a checkpointer and run it with { configurable: { thread_id } }.`,
    });
  }
  const checkpointNs = config.executionInfo?.checkpointNs ?? (configurable.checkpoint_ns as string) ?? '';
  const node = (config.metadata?.langgraph_node as string | undefined) ?? checkpointNs.split(':')[0] ?? '';
  return {
    engine,
    origin: { threadId, checkpointNs, node, position: scratchpad.interruptCounter + 1 },
  };
}

/** The value this run of the node was resumed with at an interrupt position, if any. */
function resumeValueAt(position: number): { taskId?: unknown } | undefined {
  const configurable = getConfig()?.configurable as Record<string, unknown> | undefined;
  const resume = (configurable?.__pregel_scratchpad as { resume?: unknown } | undefined)?.resume;
  const value = Array.isArray(resume) ? resume[position] : undefined;
  return typeof value === 'object' && value !== null ? (value as { taskId?: unknown }) : undefined;
}

/**
 * The idempotency key of a gate: the same thread, checkpoint namespace (which names the node's run),
 * node and position give the same key, so LangGraph running the node again on resume asks again and
 * is handed the same task — no second task, no second notification.
 */
function gateKey(origin: Pick<GateOrigin, 'threadId' | 'checkpointNs' | 'node' | 'position'>): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([origin.threadId, origin.checkpointNs, origin.node, origin.position]))
    .digest('base64url');
  return `langgraph:${digest}`;
}

/** The interrupt value for a task. */
function interruptValueOf(task: HumanTask): HumanTaskInterrupt {
  return {
    holdpoint: {
      taskId: task.id,
      intentId: task.intentId,
      type: task.type,
      title: task.title,
      ...(task.description === undefined ? {} : { description: task.description }),
      context: task.context,
      versionDigest: task.versionDigest,
      assignees: task.assignees,
      allowedOutcomes: task.allowedOutcomes,
      ...(task.deadlineAt === undefined ? {} : { deadlineAt: task.deadlineAt }),
    },
  };
}

/**
 * The JSON Schema of the answer to a task's interrupt: a {@link HumanResult} whose `outcome` is one
 * of the task's outcomes and whose `data` matches the task's form.
 */
function responseSchemaOf(task: HumanTask): Record<string, unknown> {
  const actor = {
    type: 'object',
    properties: { id: { type: 'string' }, name: { type: 'string' } },
    required: ['id'],
  };
  return {
    title: 'HumanResult',
    description: `The end of Holdpoint task ${task.id} (${task.type}): a decision by a human or by the timeout policy, a timeout, or a cancellation.`,
    type: 'object',
    properties: {
      status: { enum: ['decided', 'timed_out', 'canceled'] },
      taskId: { const: task.id },
      intentId: { const: task.intentId },
      outcome: { enum: task.allowedOutcomes },
      comment: { type: 'string' },
      data: task.schema ?? {},
      evidence: {},
      actor: { anyOf: [actor, { type: 'null' }] },
      decidedBy: { enum: ['human', 'policy'] },
      decidedAt: { type: 'string', format: 'date-time' },
      versionDigest: { type: 'string' },
      votes: { type: 'array', items: { type: 'object' } },
    },
    required: ['status', 'taskId', 'intentId', 'versionDigest'],
  };
}

/**
 * Ask a human from inside a LangGraph node and pause the run until they answer. One line:
 *
 * ```ts
 * const review = await waitForHuman({ task: 'review', assignee: 'legal@acme.test', context: { draft } });
 * ```
 *
 * It creates the Holdpoint task under a key derived from the run (thread, checkpoint namespace,
 * node, and the call's position in the node), then calls `interrupt()` with the task
 * ({@link HumanTaskInterrupt}) and the task type's answer schema as `responseSchema`. When the run is
 * resumed — by the {@link startResumer resumer} once the task ends — the node runs again from its
 * first line: this call is handed the same task and returns its end, read from the engine (the
 * resume value only wakes the run). Timeouts and policies are reported as they happened:
 * `status: 'timed_out'`, or `decidedBy: 'policy'`.
 *
 * Everything before the call runs again on resume, so keep it free of side effects or idempotent;
 * and give the same options again (they come from the state, so they do): different ones are
 * refused with `IDEMPOTENCY_CONFLICT`.
 *
 * @throws ValidationError outside a node of a graph with a checkpointer, or without an engine.
 * @throws InvalidStateError when the run was resumed by hand while the task is still pending.
 */
export async function waitForHuman(options: WaitForHumanOptions): Promise<HumanResult> {
  const { holdpoint, ...request } = options ?? ({} as WaitForHumanOptions);
  const { engine, origin } = runPosition(holdpoint, 'waitForHuman');
  const key = gateKey(origin);
  // On resume the answer at this position names the task: read it, and skip asking again (the key
  // proves it is this gate's task — a value resumed by hand that names another is not believed).
  const answered = resumeValueAt(origin.position);
  let current: HumanTask | undefined;
  if (typeof answered?.taskId === 'string') {
    const named = await engine.getTask(answered.taskId).catch(() => undefined);
    if (named?.idempotencyKey === key) current = named;
  }
  const task =
    current ??
    (await engine.requestHuman({
      ...request,
      idempotencyKey: key,
      metadata: { ...request.metadata, langgraph: origin },
    }));
  // Always interrupt, also for a task that has already ended: the gates of a node must keep their
  // positions, which pair each gate with its resume value.
  interrupt(interruptValueOf(task), { responseSchema: responseSchemaOf(task) });
  current ??= await engine.getTask(task.id);
  const result = humanResultOf(current);
  if (result === undefined) {
    throw new InvalidStateError({
      id: task.id,
      status: current.status,
      message: `waitForHuman: the run was resumed, but Holdpoint task ${task.id} is still ${current.status}. Decisions are taken through Holdpoint (decide, the inbox, a link); the resumer then continues the run.`,
    });
  }
  return result;
}
