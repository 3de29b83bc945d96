import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../auth/authority.js';
import type { ServerApp, ServerContext } from '../context.js';
import { errors, jsonBody, jsonResponse, secured } from '../routes/responses.js';
import { CreatedWebhook, CreateWebhookBody, DeadLetter, IdParam, Webhook } from '../schemas.js';
import type { OutboxStore } from './outbox.js';
import type { Webhooks } from './webhooks.js';

const listWebhooks = createRoute({
  method: 'get',
  path: '/v1/webhooks',
  tags: ['Webhooks'],
  summary: 'List webhook subscriptions',
  description: 'Never with their secrets. Scope: admin.',
  security: secured,
  responses: { 200: jsonResponse(z.object({ webhooks: z.array(Webhook) }), 'The webhooks'), ...errors(403) },
});

const createWebhook = createRoute({
  method: 'post',
  path: '/v1/webhooks',
  tags: ['Webhooks'],
  summary: 'Subscribe a URL to task events',
  description:
    'Each delivery is a POST of JSON signed with `X-Holdpoint-Signature: t=<unix>,v1=<HMAC-SHA256 hex of "t.body">` using the secret returned here (once), with a stable `X-Holdpoint-Delivery` id to dedupe on. Scope: admin.',
  security: secured,
  request: jsonBody(CreateWebhookBody),
  responses: { 201: jsonResponse(CreatedWebhook, 'The webhook and its secret'), ...errors(403, 413, 415) },
});

const deleteWebhook = createRoute({
  method: 'delete',
  path: '/v1/webhooks/{id}',
  tags: ['Webhooks'],
  summary: 'Unsubscribe a webhook',
  description: 'No new deliveries; those still queued end in the dead letters. Scope: admin.',
  security: secured,
  request: { params: IdParam },
  responses: { 200: jsonResponse(Webhook, 'The deleted webhook'), ...errors(403, 404) },
});

const listDeadLetters = createRoute({
  method: 'get',
  path: '/v1/dead-letters',
  tags: ['Webhooks'],
  summary: 'List dead letters',
  description: 'Deliveries (webhook or email) that failed on every attempt, oldest first. Scope: admin.',
  security: secured,
  responses: {
    200: jsonResponse(z.object({ deadLetters: z.array(DeadLetter) }), 'The dead letters'),
    ...errors(403),
  },
});

const replayDeadLetter = createRoute({
  method: 'post',
  path: '/v1/dead-letters/{id}/replay',
  tags: ['Webhooks'],
  summary: 'Replay a dead letter',
  description: 'Queues it again with the same delivery id and fresh attempts. Scope: admin.',
  security: secured,
  request: { params: IdParam },
  responses: {
    200: jsonResponse(z.object({ id: z.string(), replayed: z.literal(true) }), 'Queued again'),
    ...errors(403, 404),
  },
});

/** `/v1/webhooks` and `/v1/dead-letters`. */
export function channelRoutes(
  app: ServerApp,
  _context: ServerContext,
  stores: { webhooks: Webhooks; outbox: OutboxStore; wake: () => void },
): void {
  app.openapi(listWebhooks, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'list webhooks');
    return c.json({ webhooks: await stores.webhooks.list() }, 200);
  });

  app.openapi(createWebhook, async (c) => {
    const principal = c.get('principal');
    requireRole(principal, ['admin'], 'add webhooks');
    const created = await stores.webhooks.create({ ...c.req.valid('json'), createdBy: principal.actor.id });
    return c.json(created, 201);
  });

  app.openapi(deleteWebhook, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'delete webhooks');
    return c.json(await stores.webhooks.delete(c.req.valid('param').id), 200);
  });

  app.openapi(listDeadLetters, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'list dead letters');
    return c.json({ deadLetters: await stores.outbox.deadLetters() }, 200);
  });

  app.openapi(replayDeadLetter, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'replay dead letters');
    const { id } = c.req.valid('param');
    await stores.outbox.replay(id);
    stores.wake();
    return c.json({ id, replayed: true as const }, 200);
  });
}
