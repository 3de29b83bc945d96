import { createRoute } from '@hono/zod-openapi';
import type { ServerApp, ServerContext } from '../context.js';
import { ApiError } from '../errors.js';
import { renderReference } from '../reference-page.js';
import { Health, Me, Readiness } from '../schemas.js';
import { errorResponse, errors, jsonResponse, secured } from './responses.js';

const readyTimeoutMs = 2_000;

const health = createRoute({
  method: 'get',
  path: '/v1/health',
  tags: ['Health'],
  summary: 'Liveness',
  description: 'The process answers. No key needed.',
  responses: { 200: jsonResponse(Health, 'Alive') },
});

const ready = createRoute({
  method: 'get',
  path: '/v1/ready',
  tags: ['Health'],
  summary: 'Readiness',
  description: 'The store answers (within 2 s). No key needed.',
  responses: { 200: jsonResponse(Readiness, 'Ready'), 503: errorResponse(503) },
});

const me = createRoute({
  method: 'get',
  path: '/v1/me',
  tags: ['Health'],
  summary: 'Who am I',
  description: 'The identity and scope the server sees for this key.',
  security: secured,
  responses: {
    200: jsonResponse(Me, 'The caller'),
    ...errors(),
  },
});

/** Health, readiness, the caller, and the API reference (document and page). */
export function healthAndDocRoutes(app: ServerApp, { store }: ServerContext, document: () => object): void {
  app.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(ready, async (c) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${readyTimeoutMs} ms`)), readyTimeoutMs);
    });
    try {
      await Promise.race([store.readClaims(['server:ready']), timeout]);
    } catch (error) {
      throw new ApiError(
        'STORE_UNAVAILABLE',
        `The ${store.kind} store does not answer: ${(error as Error).message}`,
        {
          store: store.kind,
          retryable: true,
        },
      );
    } finally {
      clearTimeout(timer);
    }
    return c.json({ status: 'ready' as const, store: store.kind }, 200);
  });

  app.openapi(me, (c) => {
    const principal = c.get('principal');
    return c.json(
      {
        ...principal.actor,
        scope: principal.role,
        credential: `${principal.credential.kind}:${principal.credential.id}`,
      },
      200,
    );
  });

  app.get('/v1/openapi.json', (c) => c.json(document()));
  let page: string | undefined;
  app.get('/v1/docs', (c) => {
    page ??= renderReference(document() as Parameters<typeof renderReference>[0]);
    return c.html(page, 200, {
      'content-security-policy':
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    });
  });
}
