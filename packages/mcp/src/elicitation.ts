import { randomUUID } from 'node:crypto';
import { type Actor, type HumanTask, isAssignee, sameActorId, taskTypeRules } from '@holdpoint/core';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type {
  ClientCapabilities,
  ElicitRequestFormParams,
  ElicitRequestURLParams,
  ElicitResult,
  PrimitiveSchemaDefinition,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpTaskAccess } from './engine.js';
import type { ResolvedOptions } from './options.js';
import { isRefusal, refusalOf } from './results.js';

/** How the person at the client is asked, if at all. */
export type ElicitationPlan =
  | { mode: 'form'; params: ElicitRequestFormParams; dataFields: string[] }
  | { mode: 'url'; params: ElicitRequestURLParams }
  /** The client cannot ask (or not this question): the tool returns the inbox link at once. */
  | { mode: 'link' };

/** What became of the question. */
export interface ElicitationAnswer {
  action: ElicitResult['action'];
  /** The task after a decision was recorded from a form. */
  task?: HumanTask;
  /** Why an accepted answer could not be recorded (the engine's refusal). */
  refused?: string;
}

const reservedFields = new Set(['outcome', 'comment', 'evidence']);
const primitiveKeys = new Set([
  'type',
  'title',
  'description',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'format',
  'default',
]);
const formats = new Set(['email', 'uri', 'date', 'date-time']);

function humanize(outcome: string): string {
  const words = outcome.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The task's data schema as elicitation fields, or undefined when a form cannot carry it: only flat
 * objects of strings, numbers, integers, booleans and string enums can be elicited.
 */
function dataFieldsOf(
  schema: Record<string, unknown> | undefined,
): { properties: Record<string, PrimitiveSchemaDefinition>; required: string[] } | undefined {
  if (schema === undefined) return { properties: {}, required: [] };
  if (schema.type !== 'object' || typeof schema.properties !== 'object' || schema.properties === null) return;
  const properties: Record<string, PrimitiveSchemaDefinition> = {};
  for (const [name, definition] of Object.entries(schema.properties as Record<string, unknown>)) {
    if (reservedFields.has(name) || typeof definition !== 'object' || definition === null) return;
    const field = definition as Record<string, unknown>;
    if (!['string', 'number', 'integer', 'boolean'].includes(field.type as string)) return;
    if (Object.keys(field).some((key) => !primitiveKeys.has(key))) return;
    if (field.format !== undefined && !formats.has(field.format as string)) return;
    if (field.enum !== undefined && (field.type !== 'string' || !Array.isArray(field.enum))) return;
    properties[name] = field as PrimitiveSchemaDefinition;
  }
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  return { properties, required };
}

function messageOf(task: HumanTask, user: Actor, maxContext: number): string {
  const lines = [task.title];
  if (task.description) lines.push('', task.description);
  if (task.context !== null && task.context !== undefined) {
    const json = JSON.stringify(task.context, null, 2);
    lines.push('', `Context (version ${task.versionDigest.slice(0, 19)}…):`, json.slice(0, maxContext));
  }
  lines.push('', `Holdpoint asks you (${user.id}) to decide; your answer is recorded as your decision.`);
  return lines.join('\n');
}

/**
 * Whether and how to ask the person at the client about this task: only when they are one of its
 * current assignees (and have not voted yet). Form mode when a form can carry the question; URL mode
 * (the inbox link) when the decision needs the inbox — sensitive, a long context, a schema a form
 * cannot show; `link` when the client cannot ask at all.
 */
export function planElicitation(
  task: HumanTask,
  context: {
    user: Actor | undefined;
    capabilities: ClientCapabilities | undefined;
    /** Whether the caller's answers can be recorded (an agent key's cannot). */
    mayDecide: boolean;
    url: string | undefined;
    sensitive: boolean;
    options: ResolvedOptions;
  },
): ElicitationPlan | undefined {
  const { user, capabilities, url, options } = context;
  if (!options.elicitation || !context.mayDecide || user === undefined || task.status !== 'pending')
    return undefined;
  if (!isAssignee(task, user.id) || task.votes.some((vote) => sameActorId(vote.actor.id, user.id)))
    return undefined;
  const data = dataFieldsOf(task.schema);
  const contextLength = task.context === null ? 0 : JSON.stringify(task.context).length;
  const formFits = !context.sensitive && data !== undefined && contextLength <= options.maxFormContext;
  if (formFits && data && capabilities?.elicitation?.form) {
    const rule = taskTypeRules[task.type];
    const properties: Record<string, PrimitiveSchemaDefinition> = {};
    const required: string[] = [];
    if (task.allowedOutcomes.length > 1) {
      properties.outcome = {
        type: 'string',
        title: 'Decision',
        oneOf: task.allowedOutcomes.map((outcome) => ({ const: outcome, title: humanize(outcome) })),
      };
      required.push('outcome');
    }
    Object.assign(properties, data.properties);
    required.push(...data.required);
    const commentTitle =
      task.type === 'clarification' ? 'Your answer' : task.type === 'override' ? 'Justification' : 'Comment';
    properties.comment = { type: 'string', title: commentTitle, maxLength: 20_000 };
    if (rule.requires === 'comment') required.push('comment');
    if (rule.requires === 'evidence') {
      properties.evidence = {
        type: 'string',
        title: 'Evidence',
        description: 'A link or a note proving the work',
      };
      required.push('evidence');
    }
    return {
      mode: 'form',
      dataFields: Object.keys(data.properties),
      params: {
        mode: 'form',
        message: messageOf(task, user, options.maxFormContext),
        requestedSchema: { type: 'object', properties, required },
      },
    };
  }
  if (url !== undefined && capabilities?.elicitation?.url) {
    return {
      mode: 'url',
      params: {
        mode: 'url',
        elicitationId: `${task.id}:${randomUUID()}`,
        url,
        message: `${task.title}\n\nHoldpoint asks you (${user.id}) to decide in the inbox.`,
      },
    };
  }
  return url === undefined ? undefined : { mode: 'link' };
}

/**
 * Ask, and record the answer as the person's own: an accepted form is their decision (bound to the
 * version they were shown); a declined or dismissed question decides nothing — the task stays open —
 * and is recorded as their note (`declined`, `dismissed`), so the trail says they were asked.
 */
export async function elicit(
  access: McpTaskAccess,
  server: Server,
  task: HumanTask,
  plan: Exclude<ElicitationPlan, { mode: 'link' }>,
  context: { timeoutMs: number; relatedRequestId?: string | number; signal?: AbortSignal },
): Promise<ElicitationAnswer> {
  const result = await server.elicitInput(plan.params, {
    timeout: context.timeoutMs,
    ...(context.signal ? { signal: context.signal } : {}),
    ...(context.relatedRequestId === undefined ? {} : { relatedRequestId: context.relatedRequestId }),
  });
  if (result.action !== 'accept') {
    try {
      await access.noteTask(task.id, {
        note: result.action === 'decline' ? 'declined' : 'dismissed',
        via: 'mcp',
      });
    } catch (error) {
      // Decided meanwhile, or not theirs any more: the answer still decided nothing.
      if (!isRefusal(error)) throw error;
    }
    return { action: result.action };
  }
  if (plan.mode === 'url') return { action: 'accept' };
  const content = result.content ?? {};
  // A form with a choice of outcomes asks for one: an accept without it (a client may send a bare
  // accept, which the SDK does not check against the form) chose nothing, and is recorded as nothing.
  const outcome =
    typeof content.outcome === 'string'
      ? content.outcome
      : task.allowedOutcomes.length === 1
        ? (task.allowedOutcomes[0] as string)
        : undefined;
  if (outcome === undefined)
    return {
      action: 'accept',
      refused: `VALIDATION: the answer named no decision; choose one of ${task.allowedOutcomes.join(', ')}.`,
    };
  const data = Object.fromEntries(
    plan.dataFields.filter((field) => content[field] !== undefined).map((field) => [field, content[field]]),
  );
  const comment = typeof content.comment === 'string' && content.comment !== '' ? content.comment : undefined;
  try {
    const decided = await access.decide(task.id, {
      outcome,
      ...(comment === undefined ? {} : { comment }),
      ...(typeof content.evidence === 'string' ? { evidence: content.evidence } : {}),
      ...(plan.dataFields.length > 0 ? { data } : {}),
      versionDigest: task.versionDigest,
    });
    return { action: 'accept', task: decided };
  } catch (error) {
    const refusal = refusalOf(error);
    if (!refusal) throw error;
    return { action: 'accept', refused: `${refusal.code}: ${refusal.message}` };
  }
}
