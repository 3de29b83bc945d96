import { HoldpointError, type HumanTask, ValidationError } from '@holdpoint/core';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { TaskView } from './tool-schemas.js';

/** The object without its undefined members (structured content is JSON: absent, not undefined). */
function compact<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}

/** What the tools say about a task: its state and, once it ended, the decision. */
export function viewOf(
  task: HumanTask,
  extra: { url?: string; withContext?: boolean; elicitation?: TaskView['elicitation']; next?: string } = {},
): TaskView {
  const decision = task.decision;
  const ended = task.status !== 'pending';
  return compact({
    status: task.status,
    taskId: task.id,
    intentId: task.intentId,
    type: task.type,
    title: task.title,
    assignees: task.assignees,
    allowedOutcomes: task.allowedOutcomes,
    outcome: decision?.outcome,
    comment: decision?.comment,
    data: decision?.data,
    evidence: decision?.evidence,
    // A timeout is the policy's doing; a cancellation has no decider.
    actor: decision ? decision.actor : task.status === 'timed_out' ? null : undefined,
    decidedBy: decision?.decidedBy ?? (task.status === 'timed_out' ? 'policy' : undefined),
    decidedAt: decision?.decidedAt ?? (ended ? task.updatedAt : undefined),
    votes: decision?.votes,
    versionDigest: task.versionDigest,
    createdAt: task.createdAt,
    deadlineAt: ended ? undefined : task.deadlineAt,
    url: extra.url,
    description: extra.withContext ? task.description : undefined,
    context: extra.withContext ? task.context : undefined,
    elicitation: extra.elicitation,
    next: ended ? undefined : extra.next,
  });
}

function who(actor: { id: string; name?: string } | null | undefined): string {
  if (!actor) return 'policy';
  return actor.name ? `${actor.name} <${actor.id}>` : actor.id;
}

/** One paragraph for clients (and models) that read only text. */
export function describeView(view: TaskView): string {
  const lines: string[] = [];
  switch (view.status) {
    case 'decided':
      lines.push(
        `Decision on "${view.title}": ${view.outcome} by ${who(view.actor)} (${view.decidedBy}) at ${view.decidedAt}.`,
      );
      if (view.comment !== undefined) lines.push(`Comment: ${view.comment}`);
      if (view.data !== undefined) lines.push(`Data: ${JSON.stringify(view.data)}`);
      if (view.evidence !== undefined) lines.push(`Evidence: ${JSON.stringify(view.evidence)}`);
      break;
    case 'timed_out':
      lines.push(`No decision on "${view.title}": the task timed out at ${view.decidedAt}.`);
      break;
    case 'canceled':
      lines.push(`"${view.title}" was canceled at ${view.decidedAt}; nobody decided.`);
      break;
    default:
      lines.push(
        `"${view.title}" is waiting for ${view.assignees.join(', ')} (outcomes: ${view.allowedOutcomes.join(', ')}${view.deadlineAt ? `; deadline ${view.deadlineAt}` : ''}).`,
      );
      if (view.elicitation === 'decline') lines.push('The person at this client declined to answer here.');
      if (view.elicitation === 'cancel') lines.push('The person at this client dismissed the question.');
      if (view.url) lines.push(`They decide at ${view.url}`);
      if (view.next) lines.push(view.next);
  }
  lines.push(`Task ${view.taskId} (${view.type}), version ${view.versionDigest}.`);
  return lines.join('\n');
}

/** A tool result: structured content for clients that read it, the same as text for those that do not. */
export function toolResult<T extends Record<string, unknown>>(structured: T, text: string): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/** A tool error the model can read and correct. */
export function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** Invalid arguments, one line per problem, each naming the argument. */
export function argumentError(tool: string, error: z.ZodError): CallToolResult {
  const problems = error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => `'${path ? `${path}.` : ''}${key}'`).join(', ');
      return `unknown argument ${keys}`;
    }
    return path ? `'${path}': ${issue.message}` : issue.message;
  });
  return toolError(
    `Invalid arguments for ${tool}: ${problems.join('; ')}. Correct them and call ${tool} again.`,
  );
}

/** A refusal the caller may read: its code and message. */
export interface Refusal {
  code: string;
  message: string;
  retryable: boolean;
  /** The engine's field (`requestHuman.quorum`), for a validation error. */
  field?: string;
}

/**
 * The refusal an error carries, if it is one: a `HoldpointError`, or an error with a string `code`
 * and an HTTP `status` 400–499 (how a task access such as the server's refuses).
 */
export function refusalOf(error: unknown): Refusal | undefined {
  if (HoldpointError.isInstance(error)) {
    const field = ValidationError.isInstance(error) ? error.field : undefined;
    return {
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(field === undefined ? {} : { field }),
    };
  }
  if (!(error instanceof Error)) return undefined;
  const { code, status } = error as Error & { code?: unknown; status?: unknown };
  if (typeof code !== 'string' || typeof status !== 'number' || status < 400 || status > 499)
    return undefined;
  return { code, message: error.message, retryable: false };
}

/** Whether the error is a refusal rather than a failure. */
export function isRefusal(error: unknown): boolean {
  return refusalOf(error) !== undefined;
}

/**
 * A refusal as a tool error: the code, and for a validation error the argument it is about (the
 * engine names fields `waitForHuman.quorum`; the tool's argument is `quorum`).
 */
export function engineError(error: unknown): CallToolResult | undefined {
  const refusal = refusalOf(error);
  if (!refusal) return undefined;
  const field = refusal.field;
  const argument = field?.includes('.') ? field.replace(/^[A-Za-z]+\./, '') : undefined;
  const about = argument ? ` (argument '${argument}')` : '';
  const retry = refusal.retryable ? ' This can be retried.' : '';
  return toolError(`${refusal.code}${about}: ${refusal.message}${retry}`);
}
