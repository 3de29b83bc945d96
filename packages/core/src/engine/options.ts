import { z } from 'zod';
import { versionDigest } from '../canonical-json.js';
import { type Duration, parseDuration } from '../duration.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Actor, EscalationStep, TimeoutPolicy } from '../model.js';
import { type TaskType, taskTypeRules, taskTypes } from '../task-types.js';
import { toFormJsonSchema } from './form-schema.js';

const duration = z.union([z.number(), z.string()]);
const nonEmpty = z.string().trim().min(1, 'must not be empty');
const actorSchema = z.union([
  nonEmpty,
  z.object({ id: nonEmpty, name: z.string().optional() }, { error: 'must be an id string or { id, name? }' }),
]);

/** Options shared by `requestHuman` and `waitForHuman`. */
export interface RequestHumanOptions {
  /** The intent this task belongs to. Without it, the task gets an intent of its own (type `human-task`). */
  intentId?: string;
  /** Kind of task. @default 'approval' */
  task?: TaskType;
  /** Short line the human sees. @default a sentence made from the task type */
  title?: string;
  description?: string;
  /** What the human decides on (JSON); its digest binds the decision to this version. */
  context?: unknown;
  /** Who must act. Give `assignee` or `assignees`. */
  assignee?: string;
  /** Several people; with `quorum`, how many must approve. */
  assignees?: string[];
  /** Positive votes needed among `assignees`, or `'all'`. Any rejection rejects. @default 1 */
  quorum?: number | 'all';
  /** Outcomes the human may choose. @default the task type's outcomes */
  allowedOutcomes?: string[];
  /** Form the decision's `data` must match: a zod schema or a JSON Schema (2020-12). Required for `form`. */
  schema?: unknown;
  /** How long the assignee has before escalation, or the timeout policy. @example '48h' */
  timeout?: Duration;
  /** Reminders to the current assignees: first `after`, then every `every`, at most `max`. */
  remind?: { after: Duration; every?: Duration; max?: number };
  /** Delegates, in order, each taking over when the previous step times out. */
  escalateTo?: string | Array<string | { assignee: string; timeout?: Duration }>;
  /** When true an escalation takes the task away from earlier assignees. @default false */
  reassign?: boolean;
  /** What the last timeout does. @default 'fail' */
  onTimeout?: TimeoutPolicy;
  /** The same key returns the same task (or its decision) — how a restarted agent picks up its wait. */
  idempotencyKey?: string;
  /** Caller's own JSON, stored with the task. */
  metadata?: Record<string, unknown>;
}

const requestSchema = z
  .object({
    intentId: nonEmpty.optional(),
    task: z.enum(taskTypes, { error: `must be one of ${taskTypes.join(', ')}` }).optional(),
    title: nonEmpty.max(500).optional(),
    description: z.string().max(20_000).optional(),
    context: z.unknown().optional(),
    assignee: nonEmpty.optional(),
    assignees: z.array(nonEmpty).min(1, 'must name at least one person').optional(),
    quorum: z.union([z.number().int().min(1), z.literal('all')]).optional(),
    allowedOutcomes: z.array(nonEmpty).min(1, 'must allow at least one outcome').optional(),
    schema: z.unknown().optional(),
    timeout: duration.optional(),
    remind: z
      .object({ after: duration, every: duration.optional(), max: z.number().int().min(1).optional() })
      .optional(),
    escalateTo: z
      .union([
        nonEmpty,
        z.array(z.union([nonEmpty, z.object({ assignee: nonEmpty, timeout: duration.optional() })])),
      ])
      .optional(),
    reassign: z.boolean().optional(),
    onTimeout: z.enum(['fail', 'reject', 'approve']).optional(),
    idempotencyKey: nonEmpty.max(500).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    signal: z.unknown().optional(),
  })
  .strict();

/** A request after validation: every default filled in, durations in milliseconds. */
export interface NormalizedRequest {
  intentId?: string;
  type: TaskType;
  title: string;
  description?: string;
  context: unknown;
  versionDigest: string;
  assignees: string[];
  quorum: number;
  allowedOutcomes: string[];
  schema?: Record<string, unknown>;
  timeoutMs?: number;
  remind?: { afterMs: number; everyMs?: number; max: number };
  escalateTo: EscalationStep[];
  reassign: boolean;
  onTimeout: TimeoutPolicy;
  idempotencyKey?: string;
  metadata?: Record<string, unknown>;
}

function describeIssues(where: string, error: z.ZodError): ValidationError {
  const lines = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(options)';
    return `${path}: ${issue.message}`;
  });
  const first = error.issues[0];
  return new ValidationError({
    field: first && first.path.length > 0 ? `${where}.${first.path.join('.')}` : where,
    message: `${where}: ${lines.join('; ')}`,
    cause: error,
  });
}

/** Parse with a zod schema, or throw a ValidationError that names each field and what is wrong. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  if (value === null || typeof value !== 'object') {
    throw new ValidationError({
      field: where,
      message: `${where}: expected an options object, got ${value === null ? 'null' : typeof value}`,
    });
  }
  const result = schema.safeParse(value);
  if (!result.success) throw describeIssues(where, result.error);
  return result.data;
}

/** How deep a JSON value given to the engine (context, input, data, …) may nest. */
const maxJsonDepth = 100;

/**
 * What keeps a value from being JSON, or undefined. Functions and symbols count: JSON.stringify drops
 * them silently, so a recorded event would no longer match the hash computed over it.
 */
function notJson(value: unknown, path: string, seen: Set<object>, depth = 0): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is ${value}`;
  if (typeof value !== 'object') return `${path} is a ${typeof value}`;
  // Hashing, storing and cloning a value all recurse through it: past some depth they run out of
  // stack, and how soon depends on the caller's stack — refuse deep values here, reliably.
  if (depth >= maxJsonDepth) return `${path} is nested deeper than ${maxJsonDepth} levels`;
  if (seen.has(value)) return `${path} contains itself`;
  seen.add(value);
  let problem: string | undefined;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    problem = notJson((value as { toJSON: () => unknown }).toJSON(), path, seen, depth);
  } else {
    const entries = Array.isArray(value) ? value.entries() : Object.entries(value);
    for (const [key, item] of entries) {
      // undefined is left out (or written null in an array) alike by JSON and the hash.
      if (item !== undefined) problem ??= notJson(item, `${path}.${key}`, seen, depth + 1);
    }
  }
  seen.delete(value);
  return problem;
}

/** @throws ValidationError unless `value` is JSON: objects, arrays, strings, finite numbers, booleans, null. */
export function jsonOnly(value: unknown, field: string): void {
  let problem: string | undefined;
  try {
    problem = notJson(value, field, new Set());
  } catch (error) {
    // Nested deeper than the stack, or a toJSON that throws.
    problem = error instanceof Error ? error.message : 'it cannot be read';
  }
  if (problem !== undefined) {
    throw new ValidationError({
      field,
      message: `${field} must be JSON (objects, arrays, strings, finite numbers, booleans, null): ${problem}`,
    });
  }
}

/** Validate and fill in defaults for a `requestHuman` / `waitForHuman` call. */
export function normalizeRequest(options: unknown, where: string): NormalizedRequest {
  const parsed = parseWith(requestSchema, options, where);
  const type = parsed.task ?? 'approval';
  const rule = taskTypeRules[type];
  if (parsed.assignee && parsed.assignees) {
    throw new ValidationError({
      field: `${where}.assignee`,
      message: `${where}: give either assignee or assignees, not both`,
    });
  }
  const assignees = [...new Set(parsed.assignees ?? (parsed.assignee ? [parsed.assignee] : []))];
  if (assignees.length === 0) {
    throw new ValidationError({
      field: `${where}.assignee`,
      message: `${where}: name who must act with assignee: 'name@example.com' (or assignees: [...])`,
    });
  }
  const quorum = parsed.quorum === 'all' ? assignees.length : (parsed.quorum ?? 1);
  if (quorum > assignees.length) {
    throw new ValidationError({
      field: `${where}.quorum`,
      message: `${where}: quorum ${quorum} needs at least ${quorum} assignees, got ${assignees.length}`,
    });
  }
  const allowedOutcomes = [...new Set(parsed.allowedOutcomes ?? rule.outcomes)];
  let schema: Record<string, unknown> | undefined;
  if (parsed.schema !== undefined) {
    try {
      schema = toFormJsonSchema(parsed.schema);
    } catch (error) {
      throw new ValidationError({
        field: `${where}.schema`,
        message: `${where}.schema: ${(error as Error).message}`,
        cause: error,
      });
    }
  } else if (type === 'form') {
    throw new ValidationError({
      field: `${where}.schema`,
      message: `${where}: a 'form' task needs schema (a zod schema or a JSON Schema 2020-12 object) for the data the human fills in`,
    });
  }
  const context = parsed.context ?? null;
  jsonOnly(context, `${where}.context`);
  if (parsed.metadata) jsonOnly(parsed.metadata, `${where}.metadata`);
  const timeoutMs =
    parsed.timeout === undefined ? undefined : parseDuration(parsed.timeout, `${where}.timeout`);
  const steps =
    parsed.escalateTo === undefined
      ? []
      : Array.isArray(parsed.escalateTo)
        ? parsed.escalateTo
        : [parsed.escalateTo];
  const escalateTo = steps.map((step, index) => {
    const assignee = typeof step === 'string' ? step : step.assignee;
    const stepTimeout = typeof step === 'string' ? undefined : step.timeout;
    const ms =
      stepTimeout === undefined
        ? timeoutMs
        : parseDuration(stepTimeout, `${where}.escalateTo.${index}.timeout`);
    if (ms === undefined) {
      throw new ValidationError({
        field: `${where}.escalateTo`,
        message: `${where}: escalateTo needs a timeout: set timeout (how long each person has) or give each step { assignee, timeout }`,
      });
    }
    return { assignee, timeoutMs: ms };
  });
  if (escalateTo.length > 0 && timeoutMs === undefined) {
    throw new ValidationError({
      field: `${where}.timeout`,
      message: `${where}: escalateTo needs timeout: how long ${assignees.join(', ')} has before the task goes to ${escalateTo[0]?.assignee}`,
    });
  }
  let remind: NormalizedRequest['remind'];
  if (parsed.remind) {
    const afterMs = parseDuration(parsed.remind.after, `${where}.remind.after`);
    const everyMs =
      parsed.remind.every === undefined
        ? undefined
        : parseDuration(parsed.remind.every, `${where}.remind.every`);
    if (everyMs === 0)
      throw new ValidationError({
        field: `${where}.remind.every`,
        message: `${where}.remind.every must be more than 0`,
      });
    remind = {
      afterMs,
      max: parsed.remind.max ?? (everyMs === undefined ? 1 : Number.MAX_SAFE_INTEGER),
      ...(everyMs === undefined ? {} : { everyMs }),
    };
  }
  const onTimeout = parsed.onTimeout ?? 'fail';
  if (onTimeout === 'reject' && !allowedOutcomes.includes(rule.rejectOutcome) && allowedOutcomes.length < 2) {
    throw new ValidationError({
      field: `${where}.onTimeout`,
      message: `${where}: onTimeout 'reject' needs a rejecting outcome among allowedOutcomes`,
    });
  }
  return {
    ...(parsed.intentId === undefined ? {} : { intentId: parsed.intentId }),
    type,
    title: parsed.title ?? `${type.replace('_', ' ')} requested`,
    ...(parsed.description === undefined ? {} : { description: parsed.description }),
    context,
    versionDigest: versionDigest(context),
    assignees,
    quorum,
    allowedOutcomes,
    ...(schema === undefined ? {} : { schema }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(remind === undefined ? {} : { remind }),
    escalateTo,
    reassign: parsed.reassign ?? false,
    onTimeout,
    ...(parsed.idempotencyKey === undefined ? {} : { idempotencyKey: parsed.idempotencyKey }),
    ...(parsed.metadata === undefined ? {} : { metadata: parsed.metadata }),
  };
}

/** The outcome a timeout policy records for a task. */
export function policyOutcome(
  type: TaskType,
  allowedOutcomes: readonly string[],
  policy: 'reject' | 'approve',
): string {
  if (policy === 'approve') return allowedOutcomes[0] as string;
  const preferred = taskTypeRules[type].rejectOutcome;
  return allowedOutcomes.includes(preferred) ? preferred : (allowedOutcomes.at(-1) as string);
}

/** The input of `decide`. */
export interface DecideInput {
  /** One of the task's allowed outcomes. */
  outcome: string;
  /** Required for `clarification` (the answer) and `override` (the justification). */
  comment?: string;
  /** Form data, checked against the task's schema. */
  data?: unknown;
  /** Proof of the work done; required for `manual_action` (a URL, a note, a list). */
  evidence?: unknown;
  /** Who decides: an id from authentication, or `{ id, name? }`. */
  actor: string | Actor;
  /** The digest of the version the human saw; a mismatch is refused with `STALE_VERSION`. */
  versionDigest?: string;
  /** The caller authorised this actor by other means (an admin): skip the assignee check. @default false */
  asAdmin?: boolean;
}

const decideSchema = z
  .object({
    outcome: nonEmpty,
    comment: z.string().max(20_000).optional(),
    data: z.unknown().optional(),
    evidence: z.unknown().optional(),
    actor: actorSchema,
    versionDigest: nonEmpty.optional(),
    asAdmin: z.boolean().optional(),
  })
  .strict();

/** A decision input after validation. */
export interface NormalizedDecision {
  outcome: string;
  comment?: string;
  data?: unknown;
  evidence?: unknown;
  actor: Actor;
  versionDigest?: string;
  asAdmin: boolean;
}

/** Validate a `decide` input. */
export function normalizeDecision(input: unknown): NormalizedDecision {
  const parsed = parseWith(decideSchema, input, 'decide');
  if (parsed.data !== undefined) jsonOnly(parsed.data, 'decide.data');
  if (parsed.evidence !== undefined) jsonOnly(parsed.evidence, 'decide.evidence');
  const actor: Actor =
    typeof parsed.actor === 'string'
      ? { id: parsed.actor.trim() }
      : { id: parsed.actor.id.trim(), ...(parsed.actor.name ? { name: parsed.actor.name } : {}) };
  return {
    outcome: parsed.outcome,
    ...(parsed.comment === undefined ? {} : { comment: parsed.comment }),
    ...(parsed.data === undefined ? {} : { data: parsed.data }),
    ...(parsed.evidence === undefined ? {} : { evidence: parsed.evidence }),
    actor,
    ...(parsed.versionDigest === undefined ? {} : { versionDigest: parsed.versionDigest }),
    asAdmin: parsed.asAdmin ?? false,
  };
}

/** Validate an actor given to `cancelTask` and friends. */
export function normalizeActor(actor: unknown, field: string): Actor | null {
  if (actor === undefined || actor === null) return null;
  const result = actorSchema.safeParse(actor);
  if (!result.success)
    throw new ValidationError({ field, message: `${field} must be an id string or { id, name? }` });
  return typeof result.data === 'string' ? { id: result.data } : result.data;
}

/** Options of `submit`. */
export interface SubmitOptions {
  /** Your label for the kind of work, e.g. `board-report`. */
  type: string;
  /** The work's input (JSON). */
  input?: unknown;
  /** The same key returns the same intent. */
  idempotencyKey?: string;
}

const submitSchema = z
  .object({
    type: nonEmpty.max(200),
    input: z.unknown().optional(),
    idempotencyKey: nonEmpty.max(500).optional(),
  })
  .strict();

/** Validate a `submit` call. */
export function normalizeSubmit(options: unknown): SubmitOptions {
  const parsed = parseWith(submitSchema, options, 'submit');
  jsonOnly(parsed.input ?? null, 'submit.input');
  return parsed;
}
