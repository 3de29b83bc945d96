import { type Actor, type HumanTask, IdempotencyConflictError } from '@holdpoint/core';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type CallToolResult,
  type CreateTaskResult,
  RELATED_TASK_META_KEY,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { type ElicitationAnswer, type ElicitationPlan, elicit, planElicitation } from './elicitation.js';
import type { Holdpoint, McpTaskAccess } from './engine.js';
import type { ResolvedOptions } from './options.js';
import { describeView, toolError, toolResult, viewOf } from './results.js';
import { type EngineTaskStore, type McpMetadata, mcpMetadataOf } from './task-store.js';
import { untilEnded } from './task-watcher.js';
import type { TaskView, WaitForHumanInput } from './tool-schemas.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** What `wait_for_human` works with: the engine, the MCP server it answers on, and who is at the client. */
export interface WaitContext {
  /** The engine, for wake-ups and re-reads of a task the caller was already allowed to see. */
  hp: Holdpoint;
  /** The task calls as this caller may make them. */
  access: McpTaskAccess;
  server: Server;
  options: ResolvedOptions;
  taskStore: EngineTaskStore;
  /** The person at the client (configured, or authenticated over HTTP). */
  user: Actor | undefined;
  /** Aborted when the MCP connection closes: background waits of MCP tasks stop. */
  closed: AbortSignal;
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * `wait_for_human`: create the task (or find it by its idempotency key), then, in this order —
 * as an MCP task when the client asked for one; at once when `wait` is false; by asking the person at
 * the client when the task is theirs; otherwise block until the human decides, with progress
 * notifications when the client sent a progress token (without one, return `pending` before the
 * client's request timeout).
 */
export async function waitForHuman(
  context: WaitContext,
  args: WaitForHumanInput,
  extra: Extra,
  asTask: boolean,
): Promise<CallToolResult | CreateTaskResult> {
  const { hp, access, options, taskStore } = context;
  const { wait = true, sensitive = false, ...request } = args;
  const owner = context.user?.id;
  const metadata: McpMetadata = {
    ...(owner === undefined ? {} : { owner }),
    ...(sensitive ? { sensitive: true } : {}),
  };
  const task = await access
    .requestHuman({ ...request, metadata: { mcp: metadata } })
    .catch(async (error: unknown) => {
      throw await explainedConflict(error, hp, metadata);
    });
  const url = options.taskUrl?.(task.id);
  const respond = (current: HumanTask, extras: Omit<Parameters<typeof viewOf>[1], 'url'> = {}) => {
    const view = viewOf(current, { ...extras, ...(url === undefined ? {} : { url }) });
    return toolResult(view, describeView(view));
  };
  const resume = `Call get_human_task with taskId "${task.id}" later to read the decision${request.idempotencyKey ? ', or wait_for_human again with the same idempotencyKey' : ''}.`;

  if (asTask) {
    if (!taskStore.visible(task)) {
      return taskStore.fail(
        toolError(
          `IDEMPOTENCY_CONFLICT (argument 'idempotencyKey'): the key belongs to a task created by another client; choose another key.`,
        ),
      );
    }
    void runAsTask(context, task, url, Boolean(mcpMetadataOf(task).sensitive));
    return { task: taskStore.toMcpTask(task) };
  }
  if (task.status !== 'pending') return respond(task);
  if (!wait) return respond(task, { next: resume });

  const progressToken = extra._meta?.progressToken;
  const started = Date.now();
  let ticks = 0;
  const progress = () => {
    if (progressToken === undefined) return;
    ticks++;
    void extra
      .sendNotification({
        method: 'notifications/progress',
        params: {
          progressToken,
          progress: ticks,
          message: `Waiting for ${task.assignees.join(', ')} to decide "${task.title}" (task ${task.id}, ${seconds(Date.now() - started)})${url ? ` — ${url}` : ''}`,
        },
      })
      .catch(() => undefined);
  };
  // Progress goes out during the whole call, also while the person answers an elicitation.
  const ticker = progressToken === undefined ? undefined : setInterval(progress, options.progressIntervalMs);
  let plan: ElicitationPlan | undefined;
  let answer: ElicitationAnswer | undefined;
  try {
    plan = planElicitation(task, {
      user: context.user,
      capabilities: context.server.getClientCapabilities(),
      mayDecide: context.access.mayDecide !== false,
      url,
      sensitive: Boolean(mcpMetadataOf(task).sensitive),
      options,
    });
    if (plan?.mode === 'link') {
      return respond(task, {
        next: `The decision is yours to make (${context.user?.id}): open ${url}. ${resume}`,
      });
    }
    // Without a progress token the client's timeout runs from the start of the call: the question
    // and the wait after it share `blockWithoutProgress`.
    const remaining = () =>
      progressToken === undefined
        ? Math.max(0, options.blockWithoutProgressMs - (Date.now() - started))
        : Number.POSITIVE_INFINITY;
    let current = task;
    if (plan) {
      answer = await askQuietly(
        context,
        task,
        plan,
        extra,
        Math.min(options.elicitationTimeoutMs, remaining()),
      );
      const elicitation = answer?.action;
      if (answer === undefined || answer.action !== 'accept') {
        return respond(await access.getTask(task.id), {
          ...(elicitation === undefined ? {} : { elicitation }),
          next: `The task stays open: nothing was decided. ${resume}`,
        });
      }
      if (answer.refused) {
        return respond(await access.getTask(task.id), {
          elicitation: 'accept',
          next: `The answer could not be recorded (${answer.refused}); the task stays open. ${resume}`,
        });
      }
      current = answer.task ?? current;
    }
    const limit = progressToken === undefined ? AbortSignal.timeout(remaining()) : undefined;
    const signal = limit ? AbortSignal.any([extra.signal, limit]) : extra.signal;
    const extras = answer ? { elicitation: answer.action } : {};
    try {
      const ended = await untilEnded(hp, current, {
        signal,
        recheckMs: options.progressIntervalMs,
      });
      return respond(ended, extras);
    } catch (error) {
      if (!limit?.aborted || extra.signal.aborted) throw error;
      return respond(await access.getTask(task.id), {
        ...extras,
        next: `Still pending after ${seconds(Date.now() - started)} (the client sent no progress token, so the call returns before its timeout). ${resume}`,
      });
    }
  } finally {
    clearInterval(ticker);
    if (plan?.mode === 'url' && answer?.action === 'accept') void completeUrlElicitation(context, plan);
  }
}

/** Ask; an elicitation that fails (the client errs, or the person does not answer in time) is no answer. */
async function askQuietly(
  context: WaitContext,
  task: HumanTask,
  plan: Exclude<ElicitationPlan, { mode: 'link' }>,
  extra: Extra | undefined,
  timeoutMs: number,
): Promise<ElicitationAnswer | undefined> {
  try {
    return await elicit(context.access, context.server, task, plan, {
      timeoutMs,
      ...(extra ? { relatedRequestId: extra.requestId, signal: extra.signal } : { signal: context.closed }),
    });
  } catch (error) {
    if (extra?.signal.aborted) throw error;
    return undefined;
  }
}

async function completeUrlElicitation(
  context: WaitContext,
  plan: Extract<ElicitationPlan, { mode: 'url' }>,
): Promise<void> {
  try {
    await context.server.createElicitationCompletionNotifier(plan.params.elicitationId)();
  } catch {
    // The client went away, or never offered URL elicitation completions: nothing to tell.
  }
}

/**
 * The background of an MCP task: ask the person at the client when the task is theirs, then tell the
 * client when the task ends. The result itself is read from the engine whenever the client polls,
 * so none of this needs to survive a restart.
 */
async function runAsTask(
  context: WaitContext,
  task: HumanTask,
  url: string | undefined,
  sensitive: boolean,
): Promise<void> {
  const { hp, options, taskStore } = context;
  try {
    const plan = planElicitation(task, {
      user: context.user,
      capabilities: context.server.getClientCapabilities(),
      mayDecide: context.access.mayDecide !== false,
      url,
      sensitive,
      options,
    });
    let answer: ElicitationAnswer | undefined;
    if (plan && plan.mode !== 'link') {
      // The question belongs to the MCP task: it says so, and the task waits for input meanwhile.
      plan.params._meta = { ...plan.params._meta, [RELATED_TASK_META_KEY]: { taskId: task.id } };
      taskStore.asking.add(task.id);
      await notifyStatus(context, task);
      try {
        answer = await askQuietly(context, task, plan, undefined, options.elicitationTimeoutMs);
      } finally {
        taskStore.asking.delete(task.id);
      }
      await notifyStatus(context, answer?.task ?? (await hp.getTask(task.id)));
      const notes: Record<TaskView['elicitation'] & string, string> = {
        accept: answer?.refused ? `the answer was not recorded: ${answer.refused}` : 'answered in the client',
        decline: 'the person at the client declined to answer there',
        cancel: 'the person at the client dismissed the question',
      };
      taskStore.notes.set(task.id, answer ? notes[answer.action] : 'the person at the client did not answer');
    } else if (plan?.mode === 'link') {
      taskStore.notes.set(task.id, `decide at ${url}`);
    }
    const ended = await untilEnded(hp, answer?.task ?? task, {
      signal: context.closed,
      recheckMs: options.taskPollIntervalMs,
    });
    if (plan?.mode === 'url' && answer?.action === 'accept') await completeUrlElicitation(context, plan);
    await notifyStatus(context, ended);
  } catch {
    // The connection closed or the store is away: the client reads the task's state when it polls.
  } finally {
    taskStore.notes.delete(task.id);
  }
}

/**
 * An idempotency conflict in what the tool keeps in the task's metadata (the `sensitive` argument,
 * the client's user) named in the tool's own terms: the model sees no `metadata` argument to fix.
 */
async function explainedConflict(error: unknown, hp: Holdpoint, ours: McpMetadata): Promise<unknown> {
  if (!IdempotencyConflictError.isInstance(error) || !error.fields.includes('metadata')) return error;
  const held = await hp.getTask(error.existingId).then(mcpMetadataOf, () => undefined);
  const what: string[] = [];
  if (held === undefined || Boolean(held.sensitive) !== Boolean(ours.sensitive))
    what.push(
      `'sensitive' ${held === undefined ? 'or another user' : held.sensitive ? 'true' : 'false (or left out)'}`,
    );
  if (held !== undefined && held.owner !== ours.owner) what.push('another user of the client');
  const fields = error.fields.filter((field) => field !== 'metadata');
  const other = [...fields.map((field) => `another '${field}'`), ...what];
  return new IdempotencyConflictError({
    idempotencyKey: error.idempotencyKey,
    existingId: error.existingId,
    fields: error.fields,
    message: `wait_for_human: idempotencyKey '${error.idempotencyKey}' already belongs to task ${error.existingId}, asked with ${other.join(', ') || 'other arguments'}. A retry must ask for the same thing (the same arguments, 'sensitive' included, by the same user); use a new key for a new request.`,
    cause: error,
  });
}

/** Tell the client an MCP task's status (`notifications/tasks/status`). */
async function notifyStatus(context: WaitContext, task: HumanTask): Promise<void> {
  await context.server.notification({
    method: 'notifications/tasks/status',
    params: context.taskStore.toMcpTask(task),
  });
}
