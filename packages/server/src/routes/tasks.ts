import type { HumanResult, HumanTask, RequestHumanOptions } from '@holdpoint/core';
import { createRoute } from '@hono/zod-openapi';
import { callerTasks } from '../auth/caller-tasks.js';
import { idempotencyKeyOf } from '../auth/idempotency.js';
import type { Principal } from '../auth/principal.js';
import type { ServerApp, ServerContext } from '../context.js';
import { ApiError } from '../errors.js';
import {
  CancelBody,
  CreateTaskBody,
  DecideBody,
  HumanTask as HumanTaskSchema,
  IdempotencyHeader,
  IdParam,
  ListTasksQuery,
  TaskPage,
  TaskResult,
  WaitQuery,
} from '../schemas.js';
import { errors, jsonBody, jsonResponse, secured } from './responses.js';

const tags = ['Tasks'];

const create = createRoute({
  method: 'post',
  path: '/v1/tasks',
  tags,
  summary: 'Ask a human: create a task',
  description:
    'Creates a human task without waiting (wait with `GET /v1/tasks/{id}/result?wait=` or `GET /v1/events?task=`). With an idempotency key the same identity gets the same task back — or its decision. Scope: agent (in its own intents) or admin.',
  security: secured,
  request: { headers: IdempotencyHeader, ...jsonBody(CreateTaskBody) },
  responses: { 201: jsonResponse(HumanTaskSchema, 'The task'), ...errors(403, 404, 409, 413, 415) },
});

const list = createRoute({
  method: 'get',
  path: '/v1/tasks',
  tags,
  summary: 'List tasks',
  description:
    'Newest first, a page at a time (`cursor`). A person key sees its own tasks (`assignee` is theirs); an agent key lists the tasks of one of its intents (`intent` is required); admin: any filter.',
  security: secured,
  request: { query: ListTasksQuery },
  responses: { 200: jsonResponse(TaskPage, 'A page of tasks'), ...errors(403) },
});

const get = createRoute({
  method: 'get',
  path: '/v1/tasks/{id}',
  tags,
  summary: 'Get a task',
  description: 'Scope: the agent that owns its intent, a person it involves, or admin.',
  security: secured,
  request: { params: IdParam },
  responses: { 200: jsonResponse(HumanTaskSchema, 'The task'), ...errors(403, 404) },
});

const decide = createRoute({
  method: 'post',
  path: '/v1/tasks/{id}/decide',
  tags,
  summary: 'Decide a task',
  description:
    'Only a current assignee (a person key whose identity is assigned) or an admin (recorded as deciding as admin) may decide; anyone else gets 403 NOT_ASSIGNED. The decision is recorded with the authenticated identity.',
  security: secured,
  request: { params: IdParam, ...jsonBody(DecideBody) },
  responses: {
    200: jsonResponse(HumanTaskSchema, 'The task after the decision'),
    ...errors(403, 404, 409, 413, 415),
  },
});

const cancel = createRoute({
  method: 'post',
  path: '/v1/tasks/{id}/cancel',
  tags,
  summary: 'Cancel a task',
  description: 'Its waiters get `status: canceled`. Scope: the agent that owns its intent, or admin.',
  security: secured,
  request: { params: IdParam, ...jsonBody(CancelBody, false) },
  responses: { 200: jsonResponse(HumanTaskSchema, 'The canceled task'), ...errors(403, 404, 409, 413, 415) },
});

const result = createRoute({
  method: 'get',
  path: '/v1/tasks/{id}/result',
  tags,
  summary: 'Wait for a task’s result',
  description:
    'Answers at once when the task has ended; otherwise waits up to `wait` seconds and answers `status: pending` if it still has not — ask again. Counts as an open stream of the key while it waits.',
  security: secured,
  request: { params: IdParam, query: WaitQuery },
  responses: { 200: jsonResponse(TaskResult, 'The result, or `status: pending`'), ...errors(403, 404, 429) },
});

function resultOf(task: HumanTask): HumanResult | (Omit<HumanResult, 'status'> & { status: 'pending' }) {
  const base = { taskId: task.id, intentId: task.intentId, versionDigest: task.versionDigest };
  const decision = task.decision;
  switch (task.status) {
    case 'pending':
      return { ...base, status: 'pending' };
    case 'decided':
      return {
        ...base,
        status: 'decided',
        ...(decision
          ? {
              outcome: decision.outcome,
              ...(decision.comment === undefined ? {} : { comment: decision.comment }),
              ...(decision.data === undefined ? {} : { data: decision.data }),
              ...(decision.evidence === undefined ? {} : { evidence: decision.evidence }),
              actor: decision.actor,
              decidedBy: decision.decidedBy,
              decidedAt: decision.decidedAt,
              ...(decision.votes === undefined ? {} : { votes: decision.votes }),
            }
          : {}),
      };
    case 'timed_out':
      return { ...base, status: 'timed_out', decidedBy: 'policy', actor: null, decidedAt: task.updatedAt };
    default:
      return { ...base, status: 'canceled', decidedAt: task.updatedAt };
  }
}

/** Tasks: create, list, get, decide, cancel, and wait for the result. */
export function taskRoutes(app: ServerApp, context: ServerContext): void {
  const { hp, authority, hub, slots, limits, closing } = context;
  // Every task call goes through the caller's rules, the same ones other front ends use (MCP).
  const tasksOf = (principal: Principal) => callerTasks(hp, authority, principal);

  app.openapi(create, async (c) => {
    const { idempotencyKey: bodyKey, ...body } = c.req.valid('json');
    const key = idempotencyKeyOf(c.req.valid('header')['Idempotency-Key'], bodyKey);
    const task = await tasksOf(c.get('principal')).requestHuman({
      ...(body as RequestHumanOptions),
      ...(key === undefined ? {} : { idempotencyKey: key }),
    });
    return c.json(task, 201);
  });

  app.openapi(list, async (c) => {
    const query = c.req.valid('query');
    const page = await tasksOf(c.get('principal')).listTasks({
      ...(query.assignee === undefined ? {} : { assignee: query.assignee }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(query.intent === undefined ? {} : { intentId: query.intent }),
      ...(query.type === undefined ? {} : { type: query.type }),
      ...(query.overdue === undefined ? {} : { overdue: query.overdue === 'true' }),
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
    return c.json(page, 200);
  });

  app.openapi(get, async (c) => {
    return c.json(await tasksOf(c.get('principal')).getTask(c.req.valid('param').id), 200);
  });

  app.openapi(decide, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await tasksOf(c.get('principal')).decide(id, c.req.valid('json')), 200);
  });

  app.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    const { reason } = c.req.valid('json');
    const canceled = await tasksOf(c.get('principal')).cancelTask(id, reason === undefined ? {} : { reason });
    return c.json(canceled, 200);
  });

  app.openapi(result, async (c) => {
    const { id } = c.req.valid('param');
    const waitMs = (c.req.valid('query').wait ?? 0) * 1000;
    const principal = c.get('principal');
    let task = await hp.getTask(id);
    await authority.assertMayRead(principal, task);
    if (task.status !== 'pending' || waitMs === 0) return c.json(resultOf(task), 200);
    const release = slots.acquire(principal);
    const watch = hub.watch({ intentId: task.intentId });
    const signal = AbortSignal.any([c.req.raw.signal, closing]);
    try {
      const deadline = Date.now() + waitMs;
      // Read again after the watch is made, so a decision in between is not missed.
      task = await hp.getTask(id);
      while (task.status === 'pending' && !signal.aborted && !watch.closed && Date.now() < deadline) {
        await watch.next(Math.min(deadline - Date.now(), limits.pollMs), signal);
        task = await hp.getTask(id);
      }
      if (!(await context.stillAuthenticated(c.req.raw)))
        throw new ApiError('UNAUTHORIZED', 'The API key was revoked while the request waited.');
      return c.json(resultOf(task), 200);
    } finally {
      watch.close();
      release();
    }
  });
}
