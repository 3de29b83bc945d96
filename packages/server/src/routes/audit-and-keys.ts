import { auditKeyFingerprint } from '@holdpoint/core';
import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../auth/authority.js';
import type { ServerApp, ServerContext } from '../context.js';
import { ApiError } from '../errors.js';
import { ApiKeyInfo, AuditKey, CreatedKey, CreateKeyBody, IdParam, Verification } from '../schemas.js';
import { errors, jsonBody, jsonResponse, secured } from './responses.js';

const exportMediaTypes = ['application/x-ndjson', 'application/jsonl', 'text/plain'];

const auditKey = createRoute({
  method: 'get',
  path: '/v1/audit/key',
  tags: ['Audit'],
  summary: 'The audit signing key',
  description:
    'The public key that signs this server’s exports, its fingerprint, and where the private key is kept.',
  security: secured,
  responses: { 200: jsonResponse(AuditKey, 'The key'), ...errors() },
});

const verify = createRoute({
  method: 'post',
  path: '/v1/audit/verify',
  tags: ['Audit'],
  summary: 'Verify an audit export',
  description:
    'Send an export (`GET /v1/intents/{id}/audit`) as the body. `ok` is true only when every event is intact, the export is signed by this server’s audit key (`trusted`) and, when the store holds the intent, it is not cut short (`chainEvents`); otherwise `seq` names the first event that does not check out and `reason` says what is wrong.',
  security: secured,
  request: {
    body: { required: true, content: { 'application/x-ndjson': { schema: z.string() } } },
  },
  responses: { 200: jsonResponse(Verification, 'What was found'), ...errors(413, 415) },
});

const createKey = createRoute({
  method: 'post',
  path: '/v1/keys',
  tags: ['Keys'],
  summary: 'Create an API key',
  description: 'The secret is in this response only: it is stored as a hash. Scope: admin.',
  security: secured,
  request: jsonBody(CreateKeyBody),
  responses: { 201: jsonResponse(CreatedKey, 'The key and its secret'), ...errors(403, 413, 415) },
});

const listKeys = createRoute({
  method: 'get',
  path: '/v1/keys',
  tags: ['Keys'],
  summary: 'List API keys',
  description: 'Every key, oldest first, revoked ones marked; never a secret. Scope: admin.',
  security: secured,
  responses: { 200: jsonResponse(z.object({ keys: z.array(ApiKeyInfo) }), 'The keys'), ...errors(403) },
});

const revokeKey = createRoute({
  method: 'post',
  path: '/v1/keys/{id}/revoke',
  tags: ['Keys'],
  summary: 'Revoke an API key',
  description: 'It stops working at once on every server on the store. Scope: admin.',
  security: secured,
  request: { params: IdParam },
  responses: { 200: jsonResponse(ApiKeyInfo, 'The revoked key'), ...errors(403, 404) },
});

/** Audit verification and the signing key; API keys. */
export function auditAndKeyRoutes(app: ServerApp, context: ServerContext): void {
  const { hp, keys, auditKeySource } = context;
  const trustedKey = async () => {
    const publicKey = await hp.audit.publicKey();
    return { publicKey, fingerprint: auditKeyFingerprint(publicKey), source: auditKeySource };
  };

  app.openapi(auditKey, async (c) => c.json(await trustedKey(), 200));

  app.openapi(verify, async (c) => {
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!exportMediaTypes.includes(mediaType)) {
      throw new ApiError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Send the export as ${exportMediaTypes.join(', ')}; got ${mediaType === '' ? 'no content type' : mediaType}.`,
        { field: 'header.Content-Type' },
      );
    }
    const jsonl = await c.req.text();
    if (jsonl.trim() === '') {
      throw new ApiError('VALIDATION', 'Send the audit export (JSONL) as the body.', { field: 'body' });
    }
    // The engine trusts its own signing key, and compares the export with the chain it holds.
    return c.json({ ...(await hp.audit.verify(jsonl)), trustedKey: await trustedKey() }, 200);
  });

  app.openapi(createKey, async (c) => {
    const principal = c.get('principal');
    requireRole(principal, ['admin'], 'create API keys');
    const created = await keys.create({ ...c.req.valid('json'), createdBy: principal.actor.id });
    return c.json(created, 201);
  });

  app.openapi(listKeys, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'list API keys');
    return c.json({ keys: await keys.list() }, 200);
  });

  app.openapi(revokeKey, async (c) => {
    requireRole(c.get('principal'), ['admin'], 'revoke API keys');
    return c.json(await keys.revoke(c.req.valid('param').id), 200);
  });
}
