import { z } from 'zod';
import { canonicalActorId } from '../actor-id.js';
import { canonicalJson, versionDigest } from '../canonical-json.js';
import { type Duration, durationWithin, maxTaskDurationMs } from '../duration.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Actor, EscalationStep, TaskStatus, TimeoutPolicy } from '../model.js';
import { plainJson } from '../plain-json.js';
import { type TaskType, taskTypeRules, taskTypes } from '../task-types.js';
import { identifierProblem, textProblem } from '../text.js';
import { toFormJsonSchema } from './form-schema.js';

/**
 * Limits of what the engine takes, so that every value fits every store (PostgreSQL refuses index
 * rows over ~2.7 KB) and no timer is asked to fire at a time that has no date. Lengths of
 * identifiers are UTF-8 bytes; lengths of text are UTF-16 code units (JavaScript's `length`).
 * Documented in the README ("Limits").
 */
export const inputLimits = {
  /** An assignee, an escalation delegate or an actor id. */
  idBytes: 320,
  /** An `idempotencyKey`. */
  idempotencyKeyBytes: 512,
  /** An intent id given to `requestHuman`, or an intent `type`. */
  nameBytes: 200,
  /** An outcome name. */
  outcomeBytes: 100,
  assignees: 100,
  allowedOutcomes: 20,
  escalationSteps: 20,
  title: 500,
  actorName: 200,
  /** description, comment, a cancel reason, a fail error. */
  text: 20_000,
  /** Shortest `remind.every`. */
  remindEveryMinMs: 1_000,
  /** Most reminders a task may ask for (`remind.max`). */
  reminders: 100,
  /** `remind.max` when `every` is given without it. */
  defaultReminders: 10,
  /** Longest timeout, escalation step, `remind.after` and `remind.every`. */
  durationMaxMs: maxTaskDurationMs,
} as const;

/**
 * The message of a value none of a union's shapes took: what to give, and that it is required when
 * it is missing (zod's own is "Invalid input").
 */
function expected(what: string) {
  return {
    error: (issue: { input?: unknown }) =>
      issue.input === undefined ? `is required: ${what}` : `must be ${what}`,
  };
}

const duration = z.union(
  [z.number(), z.string()],
  expected("a duration such as '48h', '30m' or '1d', or milliseconds"),
);
const nonEmpty = z
  .string({
    error: (issue) =>
      issue.input === undefined ? 'is required' : `must be a string, got ${typeof issue.input}`,
  })
  .trim()
  .min(1, 'must not be empty');

/** The check of a store key or indexed value: well-formed, no control characters, bounded. */
function identifierCheck(maxBytes: number) {
  return (value: string, context: z.RefinementCtx) => {
    const problem = identifierProblem(value, maxBytes);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  };
}

/** A string that becomes a store key or an indexed value: well-formed, no control characters, bounded. */
function identifier(maxBytes: number) {
  return nonEmpty.superRefine(identifierCheck(maxBytes));
}

/** Free text stored inside JSON: well-formed Unicode, at most `max` code units. */
function text(max: number) {
  return z
    .string()
    .max(max)
    .superRefine((value, context) => {
      const problem = textProblem(value);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    });
}

/** An assignee, escalation delegate or actor id: an identifier, in lower case if it is an email address. */
const actorId = nonEmpty.transform(canonicalActorId).superRefine(identifierCheck(inputLimits.idBytes));
const actorSchema = z.union(
  [
    actorId,
    z.object(
      { id: actorId, name: text(inputLimits.actorName).optional() },
      { error: 'must be an id string or { id, name? }' },
    ),
  ],
  expected("who acts: an id string ('cfo@acme.test') or { id, name? }"),
);

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
  /** Who must act. Give `assignee` or `assignees`. An email address is kept in lower case. */
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
    intentId: identifier(inputLimits.nameBytes).optional(),
    task: z.enum(taskTypes, { error: `must be one of ${taskTypes.join(', ')}` }).optional(),
    title: text(inputLimits.title).pipe(nonEmpty).optional(),
    description: text(inputLimits.text).optional(),
    context: z.unknown().optional(),
    assignee: actorId.optional(),
    assignees: z
      .array(actorId)
      .min(1, 'must name at least one person')
      .max(inputLimits.assignees, `must name at most ${inputLimits.assignees} people`)
      .optional(),
    quorum: z
      .union(
        [z.number().int().min(1), z.literal('all')],
        expected("a whole number of approvals from 1, or 'all'"),
      )
      .optional(),
    allowedOutcomes: z
      .array(identifier(inputLimits.outcomeBytes))
      .min(1, 'must allow at least one outcome')
      .max(inputLimits.allowedOutcomes, `must allow at most ${inputLimits.allowedOutcomes} outcomes`)
      .optional(),
    schema: z.unknown().optional(),
    timeout: duration.optional(),
    remind: z
      .object({
        after: duration,
        every: duration.optional(),
        max: z.number().int().min(1).max(inputLimits.reminders).optional(),
      })
      .strict()
      .optional(),
    escalateTo: z
      .union(
        [
          actorId,
          z
            .array(
              z.union(
                [actorId, z.object({ assignee: actorId, timeout: duration.optional() }).strict()],
                expected("a delegate's id, or { assignee, timeout? }"),
              ),
            )
            .max(inputLimits.escalationSteps, `must have at most ${inputLimits.escalationSteps} steps`),
        ],
        expected("a delegate's id, or a list of steps, each an id or { assignee, timeout? }"),
      )
      .optional(),
    reassign: z.boolean().optional(),
    onTimeout: z.enum(['fail', 'reject', 'approve']).optional(),
    idempotencyKey: identifier(inputLimits.idempotencyKeyBytes).optional(),
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

/** A task duration: from `minMs` (0 unless given) to {@link inputLimits.durationMaxMs}. */
function taskDuration(value: Duration, field: string, minMs = 0): number {
  return durationWithin(value, field, minMs, inputLimits.durationMaxMs);
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
    schema = formSchemaOf(parsed.schema, `${where}.schema`);
  } else if (type === 'form') {
    throw new ValidationError({
      field: `${where}.schema`,
      message: `${where}: a 'form' task needs schema (a zod schema or a JSON Schema 2020-12 object) for the data the human fills in`,
    });
  }
  const context = plainJson(parsed.context ?? null, `${where}.context`);
  const metadata =
    parsed.metadata === undefined
      ? undefined
      : (plainJson(parsed.metadata, `${where}.metadata`) as Record<string, unknown>);
  const timeoutMs =
    parsed.timeout === undefined ? undefined : taskDuration(parsed.timeout, `${where}.timeout`);
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
        : taskDuration(stepTimeout, `${where}.escalateTo.${index}.timeout`);
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
    const afterMs = taskDuration(parsed.remind.after, `${where}.remind.after`);
    // Reminders go to people: more than one a second is never meant, and without max they stop
    // after a few rather than never.
    const everyMs =
      parsed.remind.every === undefined
        ? undefined
        : taskDuration(parsed.remind.every, `${where}.remind.every`, inputLimits.remindEveryMinMs);
    remind = {
      afterMs,
      max: parsed.remind.max ?? (everyMs === undefined ? 1 : inputLimits.defaultReminders),
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
    ...(metadata === undefined ? {} : { metadata }),
  };
}

/**
 * A form schema as the task stores it: a zod schema converted to JSON Schema 2020-12, or a JSON
 * Schema object, made plain JSON and compiled to check that it is a schema.
 */
function formSchemaOf(value: unknown, field: string): Record<string, unknown> {
  const isZod = typeof value === 'object' && value !== null && '_zod' in value;
  const source = isZod ? value : plainJson(value, field);
  let schema: Record<string, unknown>;
  try {
    schema = toFormJsonSchema(source);
  } catch (error) {
    throw new ValidationError({ field, message: `${field}: ${(error as Error).message}`, cause: error });
  }
  return plainJson(schema, field) as Record<string, unknown>;
}

/**
 * What an idempotent retry is compared on: everything that changes what a human is asked or what
 * happens without them, by the option's name. The intent is compared apart (an implicit intent
 * has a new id on every call).
 */
const comparedFields: ReadonlyArray<[string, (request: NormalizedRequest) => unknown]> = [
  ['task', (request) => request.type],
  ['title', (request) => request.title],
  ['description', (request) => request.description],
  ['context', (request) => request.versionDigest],
  // Held requests stored before email ids were kept in lower case may spell them otherwise.
  ['assignees', (request) => request.assignees.map(canonicalActorId).sort()],
  ['quorum', (request) => request.quorum],
  ['allowedOutcomes', (request) => request.allowedOutcomes],
  ['schema', (request) => request.schema],
  ['timeout', (request) => request.timeoutMs],
  ['remind', (request) => request.remind],
  [
    'escalateTo',
    (request) => request.escalateTo.map((step) => ({ ...step, assignee: canonicalActorId(step.assignee) })),
  ],
  ['reassign', (request) => request.reassign],
  ['onTimeout', (request) => request.onTimeout],
  ['metadata', (request) => request.metadata],
];

/** The names of the compared options in which two requests under one idempotency key differ. */
export function requestDifferences(held: NormalizedRequest, asked: NormalizedRequest): string[] {
  return comparedFields
    .filter(([, read]) => canonicalJson(read(held) ?? null) !== canonicalJson(read(asked) ?? null))
    .map(([name]) => name);
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
  /** Who decides: an id from authentication, or `{ id, name? }`. An email address compares without case. */
  actor: string | Actor;
  /** The digest of the version the human saw; a mismatch is refused with `STALE_VERSION`. */
  versionDigest?: string;
  /** The caller authorised this actor by other means (an admin): skip the assignee check. @default false */
  asAdmin?: boolean;
}

const decideSchema = z
  .object({
    outcome: identifier(inputLimits.outcomeBytes),
    comment: text(inputLimits.text).optional(),
    data: z.unknown().optional(),
    evidence: z.unknown().optional(),
    actor: actorSchema,
    versionDigest: identifier(inputLimits.nameBytes).optional(),
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
  const data = plainJson(parsed.data, 'decide.data');
  const evidence = plainJson(parsed.evidence, 'decide.evidence');
  const actor: Actor =
    typeof parsed.actor === 'string'
      ? { id: parsed.actor.trim() }
      : { id: parsed.actor.id.trim(), ...(parsed.actor.name ? { name: parsed.actor.name } : {}) };
  return {
    outcome: parsed.outcome,
    ...(parsed.comment === undefined ? {} : { comment: parsed.comment }),
    ...(data === undefined ? {} : { data }),
    ...(evidence === undefined ? {} : { evidence }),
    actor,
    ...(parsed.versionDigest === undefined ? {} : { versionDigest: parsed.versionDigest }),
    asAdmin: parsed.asAdmin ?? false,
  };
}

/** The input of `noteTask`. */
export interface NoteTaskInput {
  /** Who the note is about and from: an id from authentication, or `{ id, name? }`. A current assignee (or `asAdmin`). */
  actor: string | Actor;
  /**
   * What happened, in a word: `declined` (they were asked and declined to answer there),
   * `dismissed` (they closed the question unanswered), or your own (letters, digits, `-`, `_`, `.`, at most 100 bytes).
   */
  note: string;
  /** Their words, if any. */
  comment?: string;
  /** Where it happened: the channel or client, e.g. `mcp`, `inbox`, `email`. */
  via?: string;
  /** The caller authorised this actor by other means (an admin): skip the assignee check. @default false */
  asAdmin?: boolean;
}

const noteWord = identifier(inputLimits.outcomeBytes).refine((value) => /^[A-Za-z0-9._-]+$/.test(value), {
  message: 'must be a word of letters, digits, ".", "-" or "_" (e.g. declined)',
});

const noteSchema = z
  .object({
    actor: actorSchema,
    note: noteWord,
    comment: text(inputLimits.text).optional(),
    via: noteWord.optional(),
    asAdmin: z.boolean().optional(),
  })
  .strict();

/** A `noteTask` input after validation. */
export interface NormalizedNote {
  actor: Actor;
  note: string;
  comment?: string;
  via?: string;
  asAdmin: boolean;
}

/** Validate a `noteTask` input. */
export function normalizeNote(input: unknown): NormalizedNote {
  const parsed = parseWith(noteSchema, input, 'noteTask');
  const actor: Actor =
    typeof parsed.actor === 'string'
      ? { id: parsed.actor.trim() }
      : { id: parsed.actor.id.trim(), ...(parsed.actor.name ? { name: parsed.actor.name } : {}) };
  return {
    actor,
    note: parsed.note,
    ...(parsed.comment === undefined ? {} : { comment: parsed.comment }),
    ...(parsed.via === undefined ? {} : { via: parsed.via }),
    asAdmin: parsed.asAdmin ?? false,
  };
}

/** Validate an actor given to `cancelTask` and friends. */
export function normalizeActor(actor: unknown, field: string): Actor | null {
  if (actor === undefined || actor === null) return null;
  const result = actorSchema.safeParse(actor);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => issue.message).join('; ');
    throw new ValidationError({
      field,
      message: `${field} must be an id string or { id, name? }: ${problems}`,
    });
  }
  return typeof result.data === 'string'
    ? { id: result.data }
    : { id: result.data.id, ...(result.data.name ? { name: result.data.name } : {}) };
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
    type: identifier(inputLimits.nameBytes),
    input: z.unknown().optional(),
    idempotencyKey: identifier(inputLimits.idempotencyKeyBytes).optional(),
  })
  .strict();

/** A `submit` call after validation: `input` is its plain JSON copy (null when absent). */
export interface NormalizedSubmit {
  type: string;
  input: unknown;
  idempotencyKey?: string;
}

/** Validate a `submit` call. */
export function normalizeSubmit(options: unknown): NormalizedSubmit {
  const parsed = parseWith(submitSchema, options, 'submit');
  return {
    type: parsed.type,
    input: plainJson(parsed.input ?? null, 'submit.input'),
    ...(parsed.idempotencyKey === undefined ? {} : { idempotencyKey: parsed.idempotencyKey }),
  };
}

/** `complete`'s result as plain JSON (null when absent). */
export function normalizeResult(result: unknown, field: string): unknown {
  return plainJson(result ?? null, field);
}

/** Free text given to `cancel`, `cancelTask` (`reason`) or `fail` (`error`): absent, or well-formed and bounded. */
export function normalizeText(value: unknown, field: string, required = false): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || (required && value.trim() === '')) {
    throw new ValidationError({
      field,
      message: `${field} must be ${required ? 'a non-empty string' : 'a string'}, got ${value === null ? 'null' : typeof value}`,
    });
  }
  const problem =
    value.length > inputLimits.text ? `is longer than ${inputLimits.text} characters` : textProblem(value);
  if (problem) throw new ValidationError({ field, message: `${field} ${problem}` });
  return value;
}

/** Every task status, in the order counts list them. */
export const taskStatuses = [
  'pending',
  'decided',
  'timed_out',
  'canceled',
] as const satisfies readonly TaskStatus[];

/** A `status` filter of `listTasks`: one of the task statuses, or absent. */
export function normalizeTaskStatus(status: unknown, field: string): TaskStatus | undefined {
  if (status === undefined) return undefined;
  if (typeof status !== 'string' || !(taskStatuses as readonly string[]).includes(status)) {
    throw new ValidationError({
      field,
      message: `${field} must be one of ${taskStatuses.join(', ')}; got ${typeof status === 'string' ? JSON.stringify(status) : typeof status}`,
    });
  }
  return status as TaskStatus;
}

/** An id used to look something up (an assignee filter): well-formed, no control characters, bounded. */
export function normalizeIdentifier(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError({ field, message: `${field} must be a non-empty string` });
  }
  const problem = identifierProblem(value, inputLimits.idBytes);
  if (problem) throw new ValidationError({ field, message: `${field} ${problem}` });
  return value;
}

/**
 * An assignee or actor id used to look something up (the `assignee` filters): an identifier, in
 * lower case when it is an email address — the form the engine keeps them in.
 */
export function normalizeActorId(value: unknown, field: string): string {
  return normalizeIdentifier(typeof value === 'string' ? canonicalActorId(value) : value, field);
}
