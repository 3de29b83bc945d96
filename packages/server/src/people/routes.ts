import { parseDuration } from '@holdpoint/core';
import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../auth/authority.js';
import type { ServerApp, ServerContext } from '../context.js';
import { ApiError } from '../errors.js';
import { errors, jsonBody, jsonResponse, secured } from '../routes/responses.js';
import { CreateSignInLinkBody, SignInLink, UpsertUserBody, User } from '../schemas.js';
import { linkTtlBounds } from './sign-in-links.js';
import { userIdOf } from './users.js';

const tags = ['People'];

const listUsers = createRoute({
  method: 'get',
  path: '/v1/users',
  tags,
  summary: 'List the people of the inbox',
  description: 'Oldest first. Scope: admin.',
  security: secured,
  responses: { 200: jsonResponse(z.object({ users: z.array(User) }), 'The users'), ...errors(403) },
});

const upsertUser = createRoute({
  method: 'post',
  path: '/v1/users',
  tags,
  summary: 'Add a person, or change their name or admin flag',
  description:
    'People sign in with single-use links (`POST /v1/sign-in-links`, or by email when the server sends mail). Their id is their email address, which is also the assignee id tasks are given to. Scope: admin.',
  security: secured,
  request: jsonBody(UpsertUserBody),
  responses: { 200: jsonResponse(User, 'The user'), ...errors(403, 413, 415) },
});

const createLink = createRoute({
  method: 'post',
  path: '/v1/sign-in-links',
  tags,
  summary: 'Make a sign-in link for a person',
  description:
    'A single-use link that expires (default 1 hour). Opening it shows a confirm page; only confirming (a POST) signs in, so a mail scanner that fetches it signs no one in. Scope: admin.',
  security: secured,
  request: jsonBody(CreateSignInLinkBody),
  responses: { 201: jsonResponse(SignInLink, 'The link, shown once'), ...errors(403, 404, 413, 415) },
});

/** `/v1/users` and `/v1/sign-in-links`. */
export function peopleRoutes(app: ServerApp, context: ServerContext): void {
  const { people } = context;

  app.openapi(listUsers, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'list users');
    return c.json({ users: await people.users.list() }, 200);
  });

  app.openapi(upsertUser, async (c) => {
    const principal = c.get('principal');
    requireRole(principal, ['admin'], 'add users');
    const body = c.req.valid('json');
    const user = await people.users.upsert({ ...body, createdBy: principal.actor.id });
    return c.json(user, 200);
  });

  app.openapi(createLink, async (c) => {
    const principal = c.get('principal');
    requireRole(principal, ['admin'], 'make sign-in links');
    const body = c.req.valid('json');
    const userId = userIdOf(body.email);
    let ttlMs = 3_600_000;
    if (body.ttl !== undefined) {
      try {
        ttlMs = parseDuration(body.ttl, 'ttl');
      } catch {
        throw new ApiError(
          'VALIDATION',
          `body.ttl: '${body.ttl}' is not a duration such as '15m' or '24h'.`,
          {
            field: 'body.ttl',
          },
        );
      }
      if (ttlMs < linkTtlBounds.minMs || ttlMs > linkTtlBounds.maxMs)
        throw new ApiError('VALIDATION', 'body.ttl: a link lasts from 1 minute to 7 days.', {
          field: 'body.ttl',
        });
    }
    let user = await people.users.get(userId);
    if (!user) {
      if (body.createUser !== true)
        throw new ApiError(
          'NOT_FOUND',
          `No user has email ${userId}: add them first, or send createUser: true.`,
          {
            kind: 'user',
            id: userId,
            field: 'body.email',
          },
        );
      user = await people.users.upsert({ email: userId, createdBy: principal.actor.id });
    }
    const link = await people.links.create(user.id, {
      ttlMs,
      ...(body.next === undefined ? {} : { next: body.next }),
      createdBy: principal.actor.id,
    });
    const base = (context.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');
    return c.json({ url: `${base}/sign-in/${link.token}`, userId: user.id, expiresAt: link.expiresAt }, 201);
  });
}
