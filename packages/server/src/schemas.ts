// Every request and response of the HTTP API, defined once: the routes validate with these and the
// OpenAPI document is generated from them.
import { taskTypes } from '@holdpoint/core';
import { z } from '@hono/zod-openapi';

// ---------------------------------------------------------------------------------------------
// Shared pieces

const json = (description: string) => z.unknown().openapi({ description: `${description} (any JSON value)` });
const text = (max: number) => z.string().min(1).max(max);
const duration = z.union([z.number().int().min(0), z.string().min(1).max(40)]).openapi({
  description: "Milliseconds, or a string such as '250ms', '30s', '15m', '48h', '7d'",
  example: '48h',
});
/** A page size in a query: 1–1000. */
const pageSize = (description: string) =>
  z.coerce.number().int().min(1).max(1000).optional().openapi({ description });
/** Seconds to wait in a query: 0–60 (`maxWaitSeconds`). */
const waitSeconds = (description: string) =>
  z.coerce
    .number()
    .int()
    .min(0)
    .max(60)
    .optional()
    .openapi({ description: `${description} (0–60, default 0)` });
const isoTime = z.string().openapi({ description: 'ISO 8601 time', example: '2026-01-31T09:30:00.000Z' });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'VALIDATION' }),
      message: z.string().openapi({ example: 'body.assignee: must not be empty' }),
      details: z.record(z.string(), z.unknown()).openapi({
        description:
          '`field` names the part of the request that is wrong (`body.assignee`, `query.limit`, `path.id`, `header.Idempotency-Key`); `issues` lists each problem',
        example: {
          field: 'body.assignee',
          issues: [{ field: 'body.assignee', message: 'must not be empty' }],
        },
      }),
    }),
  })
  .openapi('Error');

export const Actor = z
  .object({ id: z.string(), name: z.string().optional() })
  .openapi('Actor', { description: 'Who acted: an identity the server authenticated' });

export const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'tsk_Xq3…' }),
});

export const IdempotencyHeader = z.object({
  'Idempotency-Key': text(200).optional().openapi({
    description:
      'The same key from the same identity returns the same result (same as `idempotencyKey` in the body)',
    example: 'q3-2026/cfo',
  }),
});

// ---------------------------------------------------------------------------------------------
// Intents

export const Intent = z
  .object({
    id: z.string().openapi({ example: 'int_8cWk2…' }),
    type: z.string().openapi({ example: 'board-report' }),
    input: json('The caller’s input'),
    status: z.enum([
      'CREATED',
      'SUBMITTED',
      'IN_PROGRESS',
      'WAITING',
      'COMPLETED',
      'FAILED',
      'CANCELED',
      'TIMED_OUT',
    ]),
    waitingReason: z.enum(['WAITING_FOR_HUMAN', 'WAITING_FOR_TIME']).optional(),
    idempotencyKey: z.string().optional(),
    taskIds: z.array(z.string()),
    result: json('Set by complete').optional(),
    error: z.string().optional(),
    createdAt: isoTime,
    updatedAt: isoTime,
    seq: z.number().int().openapi({ description: 'Sequence number of the intent’s latest audit event' }),
  })
  .openapi('Intent');

export const SubmitIntentBody = z
  .strictObject({
    type: text(200).openapi({ description: 'Your label for the kind of work', example: 'board-report' }),
    input: json('What the work is about').optional(),
    idempotencyKey: text(200).optional().openapi({
      description: 'The same key from the same identity returns the same intent',
      example: 'q3-2026',
    }),
  })
  .openapi('SubmitIntent');

export const CompleteIntentBody = z
  .strictObject({ result: json('The work’s result').optional() })
  .openapi('CompleteIntent');

export const FailIntentBody = z
  .strictObject({ error: text(20_000).openapi({ example: 'the report generator crashed' }) })
  .openapi('FailIntent');

export const CancelBody = z
  .strictObject({ reason: z.string().max(20_000).optional().openapi({ example: 'superseded by Q4' }) })
  .openapi('Cancel');

// ---------------------------------------------------------------------------------------------
// Tasks

export const TaskType = z.enum(taskTypes).openapi('TaskType');
export const TaskStatus = z.enum(['pending', 'decided', 'timed_out', 'canceled']).openapi('TaskStatus');

const Vote = z
  .object({ actor: Actor, outcome: z.string(), comment: z.string().optional(), at: isoTime })
  .openapi('Vote');

export const Decision = z
  .object({
    outcome: z.string(),
    comment: z.string().optional(),
    data: json('Form data').optional(),
    evidence: json('Evidence').optional(),
    actor: Actor.nullable().openapi({ description: '`null` when a policy decided' }),
    decidedBy: z.enum(['human', 'policy']),
    decidedAt: isoTime,
    versionDigest: z.string(),
    votes: z.array(Vote).optional(),
  })
  .openapi('Decision');

export const HumanTask = z
  .object({
    id: z.string().openapi({ example: 'tsk_8cWk2….Ab3dE' }),
    intentId: z.string(),
    type: TaskType,
    title: z.string(),
    description: z.string().optional(),
    context: json('What the human decides on'),
    versionDigest: z.string().openapi({ example: 'sha256:9f86d08…' }),
    assignees: z.array(z.string()),
    originalAssignees: z.array(z.string()),
    quorum: z.number().int(),
    allowedOutcomes: z.array(z.string()),
    schema: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: 'JSON Schema of the decision’s data' }),
    status: TaskStatus,
    createdAt: isoTime,
    updatedAt: isoTime,
    deadlineAt: isoTime.optional(),
    timeoutMs: z.number().optional(),
    remind: z.object({ afterMs: z.number(), everyMs: z.number().optional(), max: z.number() }).optional(),
    remindersSent: z.number().int(),
    escalateTo: z.array(z.object({ assignee: z.string(), timeoutMs: z.number() })),
    escalationLevel: z.number().int(),
    reassign: z.boolean(),
    onTimeout: z.enum(['fail', 'reject', 'approve']),
    idempotencyKey: z.string().optional(),
    votes: z.array(Vote),
    decision: Decision.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('HumanTask');

export const CreateTaskBody = z
  .strictObject({
    task: TaskType.optional().openapi({ description: 'Kind of task (default `approval`)' }),
    intentId: text(200)
      .optional()
      .openapi({ description: 'An intent of yours; without it the task gets one' }),
    title: text(500).optional().openapi({ example: 'Distribute Q3 board report' }),
    description: z.string().max(20_000).optional(),
    context: json('What the human decides on; its digest binds the decision to this version').optional(),
    assignee: text(200).optional().openapi({ example: 'cfo@acme.test' }),
    assignees: z.array(text(200)).min(1).max(100).optional(),
    quorum: z.union([z.number().int().min(1), z.literal('all')]).optional(),
    allowedOutcomes: z.array(text(200)).min(1).max(50).optional(),
    schema: z.record(z.string(), z.unknown()).optional().openapi({
      description: 'JSON Schema (2020-12) that the decision’s data must match; required for `form`',
    }),
    timeout: duration.optional(),
    remind: z
      .strictObject({ after: duration, every: duration.optional(), max: z.number().int().min(1).optional() })
      .optional(),
    escalateTo: z
      .array(z.union([text(200), z.strictObject({ assignee: text(200), timeout: duration.optional() })]))
      .max(20)
      .optional(),
    reassign: z.boolean().optional(),
    onTimeout: z.enum(['fail', 'reject', 'approve']).optional(),
    idempotencyKey: text(200).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('CreateTask', {
    example: {
      task: 'approval',
      title: 'Distribute Q3 board report',
      assignee: 'cfo@acme.test',
      context: { quarter: 'Q3' },
      timeout: '48h',
      escalateTo: ['deputy-cfo@acme.test'],
    },
  });

export const DecideBody = z
  .strictObject({
    outcome: text(200).openapi({ example: 'approved' }),
    comment: z.string().max(20_000).optional(),
    data: json('Form data (for `form` tasks)').optional(),
    evidence: json('Evidence (for `manual_action` tasks)').optional(),
    versionDigest: text(200).optional().openapi({
      description: 'The version the human saw; refused (409 STALE_VERSION) when the task is at another',
    }),
  })
  .openapi('Decide', { description: 'Who decides is the authenticated identity; there is no actor field.' });

export const ListTasksQuery = z.strictObject({
  assignee: text(200).optional().openapi({ description: 'Tasks this person is a current assignee of' }),
  status: TaskStatus.optional(),
  intent: text(200).optional().openapi({ description: 'Tasks of this intent' }),
  type: TaskType.optional(),
  overdue: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: '`true`: pending and past the current deadline' }),
  limit: pageSize('Page size (default 100)'),
  cursor: text(2000).optional().openapi({ description: 'From the previous page' }),
});

export const TaskPage = z
  .object({
    tasks: z.array(HumanTask),
    cursor: z.string().optional().openapi({ description: 'Present when more may follow: pass as `cursor`' }),
  })
  .openapi('TaskPage');

export const TaskResult = z
  .object({
    status: z.enum(['pending', 'decided', 'timed_out', 'canceled']),
    taskId: z.string(),
    intentId: z.string(),
    outcome: z.string().optional(),
    comment: z.string().optional(),
    data: json('Form data').optional(),
    evidence: json('Evidence').optional(),
    actor: Actor.nullable().optional(),
    decidedBy: z.enum(['human', 'policy']).optional(),
    decidedAt: isoTime.optional(),
    versionDigest: z.string(),
    votes: z.array(Vote).optional(),
  })
  .openapi('TaskResult', {
    description: '`status: pending` when the wait ended before the task did: ask again',
  });

export const WaitQuery = z.strictObject({
  wait: waitSeconds('Seconds to wait for the task to end'),
});

// ---------------------------------------------------------------------------------------------
// Events

export const AuditEvent = z
  .object({
    id: z.string(),
    intentId: z.string(),
    seq: z.number().int(),
    type: z.string().openapi({ example: 'task-decided' }),
    at: isoTime,
    actor: Actor.nullable(),
    taskId: z.string().optional(),
    data: z.record(z.string(), z.unknown()),
    prevHash: z.string().nullable(),
    hash: z.string(),
  })
  .openapi('AuditEvent');

export const FeedEntry = z.object({ cursor: z.string(), event: AuditEvent }).openapi('FeedEntry');

export const EventPage = z
  .object({
    entries: z.array(FeedEntry),
    cursor: z.string().openapi({ description: 'Pass as `after` to read on' }),
  })
  .openapi('EventPage');

export const EventsQuery = z.strictObject({
  intent: text(200).optional().openapi({ description: 'Only events of this intent' }),
  task: text(200).optional().openapi({ description: 'Only events of this task' }),
  assignee: text(200)
    .optional()
    .openapi({ description: 'Only events of tasks this person is or was assigned to' }),
  after: text(2000).optional().openapi({
    description:
      'A cursor (an SSE event id or a page’s `cursor`): events after it; `now` for new events only; absent: from the start. `Last-Event-ID` takes precedence',
  }),
  wait: waitSeconds('Long-poll: seconds to wait for an event when there is none yet'),
  limit: pageSize('Long-poll page size (default 100)'),
});

export const LastEventIdHeader = z.object({
  'Last-Event-ID': text(2000).optional().openapi({ description: 'Resume an SSE stream after this event id' }),
});

// ---------------------------------------------------------------------------------------------
// Audit

export const AuditKey = z
  .object({
    publicKey: z
      .string()
      .openapi({ description: 'SPKI PEM of the Ed25519 key that signs this server’s exports' }),
    fingerprint: z.string().openapi({ example: 'ed25519:Qm9…' }),
    source: z
      .string()
      .openapi({ description: 'Where the key is kept: `file:…`, `env:…`, `option` or `store`' }),
  })
  .openapi('AuditKey');

export const Verification = z
  .object({
    ok: z.boolean().openapi({
      description: 'The chain is intact, whole as far as the store knows, and signed by the trusted key',
    }),
    intentId: z.string().optional(),
    events: z.number().int().optional(),
    head: z.string().optional(),
    signedAt: isoTime.optional(),
    final: z
      .boolean()
      .optional()
      .openapi({ description: 'The last event ended the intent: nothing can follow it' }),
    seq: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'When not ok: the first event that does not check out' }),
    reason: z.string().optional(),
    signer: z
      .string()
      .optional()
      .openapi({ description: 'Fingerprint of the key that signed', example: 'ed25519:Qm9…' }),
    trusted: z.boolean().optional().openapi({ description: 'Whether the signer is this server’s audit key' }),
    chainEvents: z
      .number()
      .int()
      .optional()
      .openapi({ description: 'How many events the store’s chain of the intent has' }),
    trustedKey: AuditKey,
  })
  .openapi('Verification');

// ---------------------------------------------------------------------------------------------
// API keys

export const KeyScope = z.enum(['agent', 'person', 'admin']).openapi('KeyScope', {
  description:
    '`agent`: submit intents, ask for humans, read and end its own; `person`: see and decide the tasks assigned to its person; `admin`: everything, deciding on behalf of a person',
});

export const ApiKeyInfo = z
  .object({
    id: z.string().openapi({ example: 'k_4f1c2b9a0d6e7f35' }),
    name: z.string(),
    scope: KeyScope,
    actor: Actor,
    createdAt: isoTime,
    createdBy: z.string().optional(),
    revokedAt: isoTime.optional(),
  })
  .openapi('ApiKey');

export const CreateKeyBody = z
  .strictObject({
    name: text(200).openapi({ example: 'billing-agent' }),
    scope: KeyScope,
    actor: text(200).optional().openapi({
      description:
        'The identity recorded for what this key does (required for `person`: the person’s id, e.g. an email); default `key:<id>`',
      example: 'cfo@acme.test',
    }),
    actorName: text(200).optional().openapi({ description: 'Display name recorded with the identity' }),
  })
  .openapi('CreateKey');

export const CreatedKey = z
  .object({
    key: ApiKeyInfo,
    secret: z
      .string()
      .openapi({ description: 'The API key itself. Shown once: it is stored only as a hash' }),
  })
  .openapi('CreatedKey');

// ---------------------------------------------------------------------------------------------
// Health

export const Health = z.object({ status: z.literal('ok') }).openapi('Health');
export const Readiness = z
  .object({ status: z.literal('ready'), store: z.string().openapi({ example: 'sqlite' }) })
  .openapi('Readiness');

export const Me = z
  .object({
    id: z.string(),
    name: z.string().optional(),
    scope: KeyScope,
    credential: z
      .string()
      .openapi({ description: 'What authenticated the caller', example: 'api-key:k_4f1c2b9a0d6e7f35' }),
  })
  .openapi('Me');

// ---------------------------------------------------------------------------------------------
// People of the inbox

export const User = z
  .object({
    id: z.string().openapi({ description: 'The email address, lower case', example: 'cfo@acme.test' }),
    name: z.string().optional(),
    admin: z.boolean(),
    createdAt: isoTime,
    createdBy: z.string().optional(),
  })
  .openapi('User');

export const UpsertUserBody = z
  .strictObject({
    email: text(254).openapi({ example: 'cfo@acme.test' }),
    name: text(200).optional(),
    admin: z.boolean().optional().openapi({
      description: 'Admins see and may decide every task. Default: unchanged (false for a new user)',
    }),
  })
  .openapi('UpsertUser');

export const CreateSignInLinkBody = z
  .strictObject({
    email: text(254).openapi({ example: 'cfo@acme.test' }),
    next: text(500).optional().openapi({
      description: 'A path of the inbox to open after signing in, e.g. `/tasks/tsk_…`',
      example: '/',
    }),
    ttl: duration
      .optional()
      .openapi({ description: 'How long the link works (1 minute to 7 days). Default 1 hour' }),
    createUser: z.boolean().optional().openapi({
      description: 'Add the person (not an admin) when they are not a user yet. Default false: 404',
    }),
  })
  .openapi('CreateSignInLink');

export const SignInLink = z
  .object({
    url: z
      .string()
      .openapi({ description: 'The link: single use; a GET shows a confirm page, only its POST signs in' }),
    userId: z.string(),
    expiresAt: isoTime,
  })
  .openapi('SignInLink');

// ---------------------------------------------------------------------------------------------
// Channels: webhooks and dead letters

export const WebhookEventType = z
  .enum([
    'task-created',
    'task-reminded',
    'task-escalated',
    'task-decided',
    'task-timed-out',
    'task-canceled',
  ])
  .openapi('WebhookEventType');

export const Webhook = z
  .object({
    id: z.string().openapi({ example: 'wh_4f1c2b9a0d6e7f35' }),
    url: z.string(),
    events: z.array(WebhookEventType),
    description: z.string().optional(),
    createdAt: isoTime,
    createdBy: z.string().optional(),
  })
  .openapi('Webhook');

export const CreateWebhookBody = z
  .strictObject({
    url: text(2000).openapi({ example: 'http://127.0.0.1:4000/holdpoint' }),
    events: z.array(WebhookEventType).min(1).optional().openapi({ description: 'Default: every type' }),
    description: text(500).optional(),
  })
  .openapi('CreateWebhook');

export const CreatedWebhook = z
  .object({
    webhook: Webhook,
    secret: z.string().openapi({ description: 'The signing secret (`whsec_…`), shown once' }),
  })
  .openapi('CreatedWebhook');

export const DeadLetter = z
  .object({
    id: z.string().openapi({ description: 'The delivery id (the same on every attempt and replay)' }),
    channel: z.enum(['webhook', 'email']),
    target: z.string().openapi({ description: 'The webhook id, or the email address' }),
    eventType: z.string(),
    intentId: z.string(),
    taskId: z.string(),
    attempts: z.number().int(),
    lastError: z.string(),
    deadAt: isoTime,
  })
  .openapi('DeadLetter');
