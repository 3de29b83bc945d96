import { generateKeyPairSync } from 'node:crypto';
import { createHoldpoint, verifyAudit } from '@holdpoint/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ limits: { bodyBytes: 64 * 1024, headerBytes: 8 * 1024 } });
});
afterAll(() => t.close());

/** An intent of the agent with one approval task for the CFO. */
async function askCfo(extra: Record<string, unknown> = {}) {
  const intent = await t.call(t.keys.agent, 'POST', '/v1/intents', {
    type: 'payout',
    input: { amount: 120 },
  });
  const task = await t.call(t.keys.agent, 'POST', '/v1/tasks', {
    intentId: intent.body.id,
    title: 'Pay out 120 EUR',
    assignee: 'cfo@acme.test',
    context: { amount: 120 },
    ...extra,
  });
  expect(task.status).toBe(201);
  return { intent: intent.body, task: task.body };
}

function expectError(reply: { status: number; body: unknown }, status: number, code: string, field?: string) {
  expect(reply.status).toBe(status);
  expect(reply.body).toMatchObject({
    error: { code, message: expect.any(String), details: expect.any(Object) },
  });
  if (field !== undefined)
    expect((reply.body as { error: { details: { field?: string } } }).error.details.field).toBe(field);
}

describe('intents and tasks over HTTP', () => {
  it('runs a gate: submit, ask, the assignee decides, the agent reads the result and completes', async () => {
    const { intent, task } = await askCfo();
    expect(task).toMatchObject({ status: 'pending', assignees: ['cfo@acme.test'], intentId: intent.id });
    const waiting = await t.call(t.keys.agent, 'GET', `/v1/intents/${intent.id}`);
    expect(waiting.body).toMatchObject({ status: 'WAITING', waitingReason: 'WAITING_FOR_HUMAN' });

    const decided = await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.id}/decide`, {
      outcome: 'approved',
      comment: 'ok',
      versionDigest: task.versionDigest,
    });
    expect(decided.status).toBe(200);
    expect(decided.body.decision).toMatchObject({
      outcome: 'approved',
      actor: { id: 'cfo@acme.test' },
      decidedBy: 'human',
    });

    const result = await t.call(t.keys.agent, 'GET', `/v1/tasks/${task.id}/result`);
    expect(result.body).toMatchObject({
      status: 'decided',
      outcome: 'approved',
      actor: { id: 'cfo@acme.test' },
    });
    const completed = await t.call(t.keys.agent, 'POST', `/v1/intents/${intent.id}/complete`, {
      result: { paid: true },
    });
    expect(completed.body).toMatchObject({ status: 'COMPLETED', result: { paid: true } });
    expectError(await t.call(t.keys.agent, 'POST', `/v1/intents/${intent.id}/cancel`), 409, 'INVALID_STATE');
  });

  it('wakes a waiting agent on GET /result?wait= when the decision lands', async () => {
    const { task } = await askCfo();
    const waiting = t.call(t.keys.agent, 'GET', `/v1/tasks/${task.id}/result?wait=20`);
    // The wait holds one of the agent's stream slots while it is open: decide once it is waiting.
    await expect
      .poll(async () => (await t.call(t.keys.cfo, 'GET', `/v1/tasks/${task.id}`)).body.status)
      .toBe('pending');
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.id}/decide`, {
      outcome: 'rejected',
      comment: 'too much',
    });
    expect((await waiting).body).toMatchObject({
      status: 'decided',
      outcome: 'rejected',
      comment: 'too much',
    });
  });

  it('answers status pending when the wait ends first', async () => {
    const { task } = await askCfo();
    const result = await t.call(t.keys.agent, 'GET', `/v1/tasks/${task.id}/result?wait=1`);
    expect(result.body).toMatchObject({ status: 'pending', taskId: task.id });
  });

  it('fails and cancels intents, canceling their tasks', async () => {
    const first = await askCfo();
    const failed = await t.call(t.keys.agent, 'POST', `/v1/intents/${first.intent.id}/fail`, {
      error: 'boom',
    });
    expect(failed.body).toMatchObject({ status: 'FAILED', error: 'boom' });
    expect((await t.call(t.keys.agent, 'GET', `/v1/tasks/${first.task.id}/result`)).body.status).toBe(
      'canceled',
    );
    const second = await askCfo();
    const canceled = await t.call(t.keys.agent, 'POST', `/v1/tasks/${second.task.id}/cancel`, {
      reason: 'not needed',
    });
    expect(canceled.body.status).toBe('canceled');
    // An optional body left empty, sent with the JSON content type many clients always set.
    const third = await askCfo();
    const empty = await t.call(t.keys.agent, 'POST', `/v1/tasks/${third.task.id}/cancel`, undefined, {
      'content-type': 'application/json',
    });
    expect(empty.status).toBe(200);
    expect(empty.body.status).toBe('canceled');
    expectError(
      await t.call(t.keys.cfo, 'POST', `/v1/tasks/${second.task.id}/decide`, { outcome: 'approved' }),
      409,
      'ALREADY_DECIDED',
    );
  });

  it('passes idempotency keys through from the header or the body, per identity', async () => {
    const body = { type: 'report' };
    const a = await t.call(t.keys.agent, 'POST', '/v1/intents', body, { 'idempotency-key': 'q3' });
    const b = await t.call(t.keys.agent, 'POST', '/v1/intents', { ...body, idempotencyKey: 'q3' });
    expect(b.body.id).toBe(a.body.id);
    expect(a.body.idempotencyKey).toBe('q3');
    // Another identity with the same key gets its own intent, never the first agent's.
    const other = await t.call(t.keys.otherAgent, 'POST', '/v1/intents', body, { 'idempotency-key': 'q3' });
    expect(other.body.id).not.toBe(a.body.id);
    const conflict = await t.call(
      t.keys.agent,
      'POST',
      '/v1/intents',
      { type: 'other' },
      { 'idempotency-key': 'q3' },
    );
    expectError(conflict, 409, 'IDEMPOTENCY_CONFLICT', 'header.Idempotency-Key');
    // The key as the client gave it, not the server's namespaced form of it.
    expect(conflict.body.error.message).toContain("idempotencyKey 'q3' already belongs to");
    expect(conflict.body.error.message).not.toContain('billing-agent');
    expectError(
      await t.call(
        t.keys.agent,
        'POST',
        '/v1/intents',
        { ...body, idempotencyKey: 'x' },
        { 'idempotency-key': 'y' },
      ),
      400,
      'VALIDATION',
      'header.Idempotency-Key',
    );
    const task = { assignee: 'cfo@acme.test', context: { n: 1 } };
    const t1 = await t.call(t.keys.agent, 'POST', '/v1/tasks', task, { 'idempotency-key': 'ask-1' });
    const t2 = await t.call(t.keys.agent, 'POST', '/v1/tasks', { ...task, idempotencyKey: 'ask-1' });
    expect(t2.body.id).toBe(t1.body.id);
  });

  it('lists tasks with filters and cursors', async () => {
    const { intent } = await askCfo();
    for (const n of [2, 3]) {
      await t.call(t.keys.agent, 'POST', '/v1/tasks', {
        intentId: intent.id,
        assignee: 'deputy@acme.test',
        context: { n },
      });
    }
    const page1 = await t.call(t.keys.agent, 'GET', `/v1/tasks?intent=${intent.id}&limit=2`);
    expect(page1.body.tasks).toHaveLength(2);
    expect(page1.body.cursor).toEqual(expect.any(String));
    const page2 = await t.call(
      t.keys.agent,
      'GET',
      `/v1/tasks?intent=${intent.id}&limit=2&cursor=${encodeURIComponent(page1.body.cursor)}`,
    );
    expect(page2.body.tasks).toHaveLength(1);
    expect(page2.body.cursor).toBeUndefined();
    const ids = [...page1.body.tasks, ...page2.body.tasks].map((task: { id: string }) => task.id);
    expect(new Set(ids).size).toBe(3);
    const deputy = await t.call(t.keys.deputy, 'GET', `/v1/tasks?status=pending&intent=${intent.id}`);
    expect(deputy.body.tasks.map((task: { assignees: string[] }) => task.assignees)).toEqual([
      ['deputy@acme.test'],
      ['deputy@acme.test'],
    ]);
    const admin = await t.call(
      t.keys.admin,
      'GET',
      `/v1/tasks?assignee=cfo@acme.test&type=approval&limit=1000`,
    );
    expect(
      admin.body.tasks.every((task: { assignees: string[] }) => task.assignees.includes('cfo@acme.test')),
    ).toBe(true);
  });
});

describe('who may do what', () => {
  it('refuses a missing or wrong key with 401', async () => {
    expectError(await t.call(undefined, 'GET', '/v1/me'), 401, 'UNAUTHORIZED');
    expectError(
      await t.call('hpk_k_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'GET', '/v1/me'),
      401,
      'UNAUTHORIZED',
    );
    expect((await t.call(undefined, 'GET', '/v1/me')).headers.get('www-authenticate')).toBe('Bearer');
  });

  it('refuses a wrong scope with 403', async () => {
    expectError(await t.call(t.keys.cfo, 'POST', '/v1/intents', { type: 'x' }), 403, 'FORBIDDEN');
    expectError(await t.call(t.keys.agent, 'GET', '/v1/keys'), 403, 'FORBIDDEN');
    expectError(await t.call(t.keys.agent, 'GET', '/v1/tasks'), 403, 'FORBIDDEN', 'query.intent');
    expectError(
      await t.call(t.keys.cfo, 'GET', '/v1/tasks?assignee=deputy@acme.test'),
      403,
      'FORBIDDEN',
      'query.assignee',
    );
  });

  it('lets an agent read only its own intents and tasks', async () => {
    const { intent, task } = await askCfo();
    expectError(await t.call(t.keys.otherAgent, 'GET', `/v1/intents/${intent.id}`), 403, 'FORBIDDEN');
    expectError(await t.call(t.keys.otherAgent, 'GET', `/v1/tasks/${task.id}`), 403, 'FORBIDDEN');
    expectError(await t.call(t.keys.otherAgent, 'POST', `/v1/tasks/${task.id}/cancel`), 403, 'FORBIDDEN');
    expectError(
      await t.call(t.keys.otherAgent, 'POST', '/v1/tasks', { intentId: intent.id, assignee: 'x@acme.test' }),
      403,
      'FORBIDDEN',
    );
    expectError(await t.call(t.keys.deputy, 'GET', `/v1/tasks/${task.id}`), 403, 'FORBIDDEN');
    expect((await t.call(t.keys.cfo, 'GET', `/v1/tasks/${task.id}`)).status).toBe(200);
  });

  it('lets only a current assignee or an admin decide, recording the authenticated identity', async () => {
    const { task } = await askCfo();
    expectError(
      await t.call(t.keys.agent, 'POST', `/v1/tasks/${task.id}/decide`, { outcome: 'approved' }),
      403,
      'FORBIDDEN',
    );
    const stranger = await t.call(t.keys.deputy, 'POST', `/v1/tasks/${task.id}/decide`, {
      outcome: 'approved',
      versionDigest: 'sha256:stale',
    });
    // Not STALE_VERSION: a stranger learns nothing about the task.
    expectError(stranger, 403, 'NOT_ASSIGNED');
    expect(stranger.text).not.toContain('cfo@acme.test');
    expect(stranger.text).not.toContain(task.versionDigest);
    expectError(
      await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.id}/decide`, {
        outcome: 'approved',
        actor: 'ceo@acme.test',
      }),
      400,
      'VALIDATION',
      'body',
    );
    const byAdmin = await t.call(t.keys.admin, 'POST', `/v1/tasks/${task.id}/decide`, {
      outcome: 'approved',
    });
    expect(byAdmin.body.decision.actor).toEqual({ id: 'ops@acme.test', name: 'ops' });
    const audit = await t.call(t.keys.admin, 'GET', `/v1/intents/${task.intentId}/audit`);
    const decidedEvent = audit.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .find((event) => event.type === 'task-decided');
    expect(decidedEvent).toMatchObject({ actor: { id: 'ops@acme.test' }, data: { asAdmin: true } });
    // The stranger's attempt is in the audit, recorded with the authenticated identity.
    expect(audit.text).toContain('"type":"task-decision-refused"');
    const refused = audit.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .find((event) => event.type === 'task-decision-refused');
    expect(refused).toMatchObject({ actor: { id: 'deputy@acme.test' }, taskId: task.id });
  });

  it('lets a person key decide a task whose assignee was given in capitals (CFO@Acme.test)', async () => {
    const { task } = await askCfo({ assignee: 'CFO@Acme.test' });
    expect(task.assignees).toEqual(['cfo@acme.test']);
    expect((await t.call(t.keys.cfo, 'GET', `/v1/tasks/${task.id}`)).status).toBe(200);
    const mine = await t.call(t.keys.cfo, 'GET', '/v1/tasks?status=pending&limit=1000');
    expect(mine.body.tasks.map((listed: { id: string }) => listed.id)).toContain(task.id);
    const decided = await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.id}/decide`, { outcome: 'approved' });
    expect(decided.status).toBe(200);
    expect(decided.body.decision.actor.id).toBe('cfo@acme.test');
    // A person key made with capitals is the same person.
    const key = await t.call(t.keys.admin, 'POST', '/v1/keys', {
      name: 'capitals',
      scope: 'person',
      actor: 'CFO@Acme.test',
    });
    const again = await askCfo();
    expect((await t.call(key.body.secret, 'GET', `/v1/tasks/${again.task.id}`)).status).toBe(200);
    const listed = await t.call(key.body.secret, 'GET', '/v1/tasks?assignee=cfo@acme.test&limit=1000');
    expect(listed.body.tasks.map((found: { id: string }) => found.id)).toContain(again.task.id);
    const byKey = await t.call(key.body.secret, 'POST', `/v1/tasks/${again.task.id}/decide`, {
      outcome: 'approved',
    });
    expect(byKey.body.decision.actor.id).toBe('cfo@acme.test');
  });

  it('creates, lists and revokes keys; a revoked key stops working', async () => {
    const created = await t.call(t.keys.admin, 'POST', '/v1/keys', { name: 'temp', scope: 'agent' });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^hpk_k_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect((await t.call(created.body.secret, 'GET', '/v1/me')).body).toMatchObject({
      scope: 'agent',
      name: 'temp',
    });
    const listed = await t.call(t.keys.admin, 'GET', '/v1/keys');
    expect(listed.text).not.toContain(created.body.secret.slice(-43));
    expect(listed.body.keys.map((key: { id: string }) => key.id)).toContain(created.body.key.id);
    const revoked = await t.call(t.keys.admin, 'POST', `/v1/keys/${created.body.key.id}/revoke`);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    expectError(await t.call(created.body.secret, 'GET', '/v1/me'), 401, 'UNAUTHORIZED');
    expectError(
      await t.call(t.keys.admin, 'POST', '/v1/keys', { name: 'p', scope: 'person' }),
      400,
      'VALIDATION',
      'body.actor',
    );
  });
});

describe('client mistakes are 4xx with the error body, naming the field', () => {
  it('malformed JSON, wrong types, unknown fields and task types', async () => {
    expectError(await t.call(t.keys.agent, 'POST', '/v1/intents', '{"type": '), 400, 'INVALID_JSON', 'body');
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/intents', { type: 42 }),
      400,
      'VALIDATION',
      'body.type',
    );
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/intents', { type: 'x', tpye: 'y' }),
      400,
      'VALIDATION',
      'body',
    );
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/tasks', { task: 'poll', assignee: 'a@acme.test' }),
      400,
      'VALIDATION',
      'body.task',
    );
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/tasks', { assignee: 'a@acme.test', timeout: 'soon' }),
      400,
      'VALIDATION',
      'body.timeout',
    );
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/tasks', { task: 'form', assignee: 'a@acme.test' }),
      400,
      'VALIDATION',
      'body.schema',
    );
    expectError(await t.call(t.keys.admin, 'GET', '/v1/tasks?limit=0'), 400, 'VALIDATION', 'query.limit');
    expectError(
      await t.call(t.keys.admin, 'GET', '/v1/events?after=garbage'),
      400,
      'VALIDATION',
      'query.after',
    );
  });

  it('wrong content types, oversized bodies and headers', async () => {
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/intents', 'type=x', {
        'content-type': 'application/x-www-form-urlencoded',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'header.Content-Type',
    );
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/intents', { type: 'x', input: 'a'.repeat(70 * 1024) }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    expectError(
      await t.call(t.keys.agent, 'POST', '/v1/audit/verify', '{}', { 'content-type': 'application/json' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    const huge = await t.call(t.keys.agent, 'GET', '/v1/me', undefined, {
      'x-padding': 'a'.repeat(10 * 1024),
    });
    expectError(huge, 431, 'HEADERS_TOO_LARGE');
  });

  it('unknown ids, routes and methods', async () => {
    expectError(await t.call(t.keys.admin, 'GET', '/v1/tasks/tsk_nothing.here'), 404, 'NOT_FOUND');
    expectError(await t.call(t.keys.admin, 'GET', '/v1/intents/int_nothing'), 404, 'NOT_FOUND');
    expectError(await t.call(t.keys.admin, 'POST', '/v1/keys/k_0000000000000000/revoke'), 404, 'NOT_FOUND');
    expectError(await t.call(t.keys.admin, 'GET', '/v1/nothing'), 404, 'ROUTE_NOT_FOUND');
    const wrongMethod = await t.call(t.keys.admin, 'DELETE', '/v1/tasks');
    expectError(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers.get('allow')).toBe('POST, GET');
  });
});

describe('audit over HTTP', () => {
  it('exports a signed trail and verifies it against the trusted key; tampering and re-signing are caught', async () => {
    const { intent, task } = await askCfo();
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.id}/decide`, { outcome: 'approved' });
    const exported = await t.call(t.keys.agent, 'GET', `/v1/intents/${intent.id}/audit`);
    expect(exported.headers.get('content-type')).toContain('application/x-ndjson');
    const verify = (jsonl: string) =>
      t.call(t.keys.agent, 'POST', '/v1/audit/verify', jsonl, { 'content-type': 'application/x-ndjson' });

    const good = await verify(exported.text);
    const key = await t.call(t.keys.agent, 'GET', '/v1/audit/key');
    expect(good.body).toMatchObject({ ok: true, intentId: intent.id, events: 3, trusted: true });
    expect(good.body.signer).toBe(key.body.fingerprint);
    expect(key.body.source).toBe('store');

    const tampered = await verify(exported.text.replace('"outcome":"approved"', '"outcome":"rejected"'));
    expect(tampered.body).toMatchObject({ ok: false, seq: 3 });

    // A trail re-signed with another key is intact but not trusted: never shown as verified.
    const other = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const forger = await createHoldpoint({ store: t.store, auditKey: other, timers: false });
    const forged = await forger.audit.export(intent.id);
    await forger.close();
    expect(verifyAudit(forged).ok).toBe(true);
    const result = await verify(forged);
    expect(result.body).toMatchObject({ ok: false, trusted: false });
  });
});

describe('health, readiness and the reference', () => {
  it('answers health and readiness without a key', async () => {
    expect((await t.call(undefined, 'GET', '/v1/health')).body).toEqual({ status: 'ok' });
    expect((await t.call(undefined, 'GET', '/v1/ready')).body).toEqual({ status: 'ready', store: 'sqlite' });
  });

  it('says when the store does not answer: not ready, 503 with the error body', async () => {
    const other = await startServer();
    await other.store.close();
    const ready = await other.call(undefined, 'GET', '/v1/ready');
    expectError(ready, 503, 'STORE_UNAVAILABLE');
    expect((await other.call(undefined, 'GET', '/v1/health')).status).toBe(200);
    await other.close();
  });

  it('serves the OpenAPI 3.1 document and a self-contained reference page', async () => {
    const document = await t.call(undefined, 'GET', '/v1/openapi.json');
    expect(document.body.openapi).toBe('3.1.0');
    expect(Object.keys(document.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/intents',
        '/v1/tasks/{id}/decide',
        '/v1/events',
        '/v1/audit/verify',
        '/v1/keys',
      ]),
    );
    // Every reference resolves, and every route but health, readiness and the reference needs a key.
    const refs = [...document.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (match) => match[1],
    );
    expect(refs.length).toBeGreaterThan(10);
    for (const name of refs) expect(document.body.components.schemas[name as string], name).toBeDefined();
    const open = Object.entries(
      document.body.paths as Record<string, Record<string, { security?: unknown[] }>>,
    )
      .flatMap(([path, item]) => Object.values(item).map((operation) => [path, operation.security] as const))
      .filter(([, security]) => !security?.length)
      .map(([path]) => path);
    expect(open.sort()).toEqual(['/v1/health', '/v1/ready']);
    const page = await t.call(undefined, 'GET', '/v1/docs');
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.text).toContain('/v1/tasks/{id}/decide');
    expect(page.text).not.toMatch(/<script|https?:\/\/(?!127\.)/);
  });
});
