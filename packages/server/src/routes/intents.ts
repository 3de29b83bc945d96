import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../auth/authority.js';
import { idempotencyKeyOf, scopedKey, withClientKey } from '../auth/idempotency.js';
import type { ServerApp, ServerContext } from '../context.js';
import {
  CancelBody,
  CompleteIntentBody,
  FailIntentBody,
  IdempotencyHeader,
  IdParam,
  Intent,
  SubmitIntentBody,
} from '../schemas.js';
import { errors, jsonBody, jsonResponse, secured } from './responses.js';

const tags = ['Intents'];

const submit = createRoute({
  method: 'post',
  path: '/v1/intents',
  tags,
  summary: 'Submit an intent',
  description:
    'A durable unit of agent work. With an idempotency key (header or body) the same identity gets the same intent back. Scope: agent or admin.',
  security: secured,
  request: { headers: IdempotencyHeader, ...jsonBody(SubmitIntentBody) },
  responses: { 201: jsonResponse(Intent, 'The intent'), ...errors(403, 409, 413, 415) },
});

const get = createRoute({
  method: 'get',
  path: '/v1/intents/{id}',
  tags,
  summary: 'Get an intent',
  description: 'Scope: the agent that submitted it, or admin.',
  security: secured,
  request: { params: IdParam },
  responses: { 200: jsonResponse(Intent, 'The intent'), ...errors(403, 404) },
});

const complete = createRoute({
  method: 'post',
  path: '/v1/intents/{id}/complete',
  tags,
  summary: 'Complete an intent',
  description: 'Refused (409 INVALID_STATE) while a task is pending or when the intent is final.',
  security: secured,
  request: { params: IdParam, ...jsonBody(CompleteIntentBody, false) },
  responses: { 200: jsonResponse(Intent, 'The completed intent'), ...errors(403, 404, 409, 413, 415) },
});

const fail = createRoute({
  method: 'post',
  path: '/v1/intents/{id}/fail',
  tags,
  summary: 'Fail an intent',
  description: 'Its pending tasks are canceled.',
  security: secured,
  request: { params: IdParam, ...jsonBody(FailIntentBody) },
  responses: { 200: jsonResponse(Intent, 'The failed intent'), ...errors(403, 404, 409, 413, 415) },
});

const cancel = createRoute({
  method: 'post',
  path: '/v1/intents/{id}/cancel',
  tags,
  summary: 'Cancel an intent',
  description: 'Its pending tasks are canceled and their waiters get `status: canceled`.',
  security: secured,
  request: { params: IdParam, ...jsonBody(CancelBody, false) },
  responses: { 200: jsonResponse(Intent, 'The canceled intent'), ...errors(403, 404, 409, 413, 415) },
});

const exportAudit = createRoute({
  method: 'get',
  path: '/v1/intents/{id}/audit',
  tags: ['Audit'],
  summary: 'Export an intent’s audit trail',
  description:
    'JSONL: one event per line (`seq` from 1, `prevHash`, `hash`), then a line signing the chain head with the server’s Ed25519 key. Verify it with `POST /v1/audit/verify` or offline.',
  security: secured,
  request: { params: IdParam },
  responses: {
    200: { description: 'The export', content: { 'application/x-ndjson': { schema: z.string() } } },
    ...errors(403, 404),
  },
});

/** Intents: submit, get, complete, fail, cancel, and the audit export. */
export function intentRoutes(app: ServerApp, { hp, authority }: ServerContext): void {
  app.openapi(submit, async (c) => {
    const principal = c.get('principal');
    requireRole(principal, ['agent', 'admin'], 'submit intents');
    const body = c.req.valid('json');
    const key = idempotencyKeyOf(c.req.valid('header')['Idempotency-Key'], body.idempotencyKey);
    const intent = await hp.submit({
      type: body.type,
      ...(body.input === undefined ? {} : { input: body.input }),
      ...(key === undefined ? {} : { idempotencyKey: scopedKey(principal, key) }),
    });
    await authority.recordOwner(intent.id, principal);
    return c.json(withClientKey(intent), 201);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid('param');
    const intent = await hp.getIntent(id);
    await authority.assertOwns(c.get('principal'), id, `see intent ${id}`);
    return c.json(withClientKey(intent), 200);
  });

  app.openapi(complete, async (c) => {
    const { id } = c.req.valid('param');
    const { result } = c.req.valid('json');
    await hp.getIntent(id);
    const principal = c.get('principal');
    await authority.assertOwns(principal, id, `complete intent ${id}`);
    const intent = await hp.complete(id, {
      ...(result === undefined ? {} : { result }),
      actor: principal.actor,
    });
    return c.json(withClientKey(intent), 200);
  });

  app.openapi(fail, async (c) => {
    const { id } = c.req.valid('param');
    const { error } = c.req.valid('json');
    await hp.getIntent(id);
    const principal = c.get('principal');
    await authority.assertOwns(principal, id, `fail intent ${id}`);
    return c.json(withClientKey(await hp.fail(id, { error, actor: principal.actor })), 200);
  });

  app.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    const { reason } = c.req.valid('json');
    await hp.getIntent(id);
    const principal = c.get('principal');
    await authority.assertOwns(principal, id, `cancel intent ${id}`);
    const intent = await hp.cancel(id, {
      ...(reason === undefined ? {} : { reason }),
      actor: principal.actor,
    });
    return c.json(withClientKey(intent), 200);
  });

  app.openapi(exportAudit, async (c) => {
    const { id } = c.req.valid('param');
    await hp.getIntent(id);
    await authority.assertOwns(c.get('principal'), id, `export the audit of intent ${id}`);
    const jsonl = await hp.audit.export(id);
    // The route's types know JSON and text/plain bodies only; this one is JSONL.
    return c.text(jsonl, 200, { 'content-type': 'application/x-ndjson; charset=utf-8' }) as never;
  });
}
