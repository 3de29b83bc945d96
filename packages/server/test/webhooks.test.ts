// Webhooks against a real local receiver: signatures, retries with backoff while it is down, order per
// task, dead letters and replay.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../src/index.js';
import { startServer, type TestServer } from './helpers.js';

// Waits are for what is asserted, with room for a loaded machine.
const patience = { timeout: 20_000 };

interface Received {
  id: string;
  type: string;
  taskId: string;
  body: string;
  signature: string | undefined;
}

/** A webhook receiver on loopback that answers with `status()` and records what it accepted. */
async function receiver(status: () => number = () => 200) {
  const accepted: Received[] = [];
  let attempts = 0;
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    attempts += 1;
    const code = status();
    if (code >= 200 && code < 300) {
      const parsed = JSON.parse(body) as { id: string; type: string; taskId: string };
      accepted.push({
        id: parsed.id,
        type: parsed.type,
        taskId: parsed.taskId,
        body,
        signature: request.headers['x-holdpoint-signature'] as string | undefined,
      });
    }
    response.writeHead(code).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    accepted,
    attempts: () => attempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function subscribe(url: string): Promise<string> {
  const reply = await t?.call(t.keys.admin, 'POST', '/v1/webhooks', { url });
  expect(reply?.status).toBe(201);
  return reply?.body.secret as string;
}

async function ask(assignee: string) {
  const reply = await t?.call(t.keys.agent, 'POST', '/v1/tasks', {
    task: 'approval',
    title: 'Refund',
    assignee,
  });
  return reply?.body as { id: string; versionDigest: string };
}

describe('webhooks', () => {
  it('delivers each task event once, signed over timestamp.body with the webhook’s secret', async () => {
    const hook = await receiver();
    t = await startServer({ channels: { publicUrl: 'http://127.0.0.1', pollMs: 50 } });
    await t.server.startChannels();
    const secret = await subscribe(hook.url);
    const task = await ask('cfo@acme.test');
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.id}/decide`, { outcome: 'approved' });
    await expect
      .poll(() => hook.accepted.map((delivery) => delivery.type), patience)
      .toEqual(['task-created', 'task-decided']);
    for (const delivery of hook.accepted) {
      expect(verifyWebhookSignature(secret, delivery.signature, delivery.body)).toMatchObject({ ok: true });
      // A body changed on the way, or another secret, does not verify.
      expect(
        verifyWebhookSignature(secret, delivery.signature, delivery.body.replace('Refund', 'Refunds')).ok,
      ).toBe(false);
      expect(verifyWebhookSignature('whsec_other', delivery.signature, delivery.body).ok).toBe(false);
      // Outside the replay window (5 minutes by default) it does not verify either.
      const late = Math.floor(Date.now() / 1000) + 301;
      expect(verifyWebhookSignature(secret, delivery.signature, delivery.body, { now: late }).ok).toBe(false);
    }
    expect(new Set(hook.accepted.map((delivery) => delivery.id)).size).toBe(2);
    expect(JSON.parse(hook.accepted[1]?.body as string).event.data.decision.outcome).toBe('approved');
    // The timeline of the task's intent shows the deliveries. A delivery is recorded once the
    // receiver's 2xx is back at the server, which can be after the receiver counted the request.
    const intentId = (await t.holdpoint.getTask(task.id)).intentId;
    await expect
      .poll(
        async () => (await t?.server.outbox.delivered(intentId))?.map((entry) => entry.eventType),
        patience,
      )
      .toEqual(['task-created', 'task-decided']);
    await hook.close();
  });

  it('retries with backoff while the receiver is down; then every delivery arrives once, in order per task', async () => {
    let down = true;
    const hook = await receiver(() => (down ? 503 : 200));
    t = await startServer({
      channels: {
        publicUrl: 'http://127.0.0.1',
        pollMs: 50,
        retryDelaysMs: [50, 100, 200, 200, 200, 200, 200, 200, 200, 200],
      },
    });
    await t.server.startChannels();
    await subscribe(hook.url);
    const tasks = await Promise.all(
      ['a@acme.test', 'b@acme.test', 'cfo@acme.test'].map((assignee) => ask(assignee)),
    );
    const cfoTask = tasks[2] as { id: string };
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${cfoTask.id}/decide`, {
      outcome: 'rejected',
      comment: 'no',
    });
    await expect.poll(() => hook.attempts(), patience).toBeGreaterThan(6);
    expect(hook.accepted).toEqual([]);
    down = false;
    await expect.poll(() => hook.accepted.length, patience).toBe(4);
    const ids = hook.accepted.map((delivery) => delivery.id);
    expect(new Set(ids).size).toBe(4);
    const cfoEvents = hook.accepted
      .filter((delivery) => delivery.taskId === cfoTask.id)
      .map((delivery) => delivery.type);
    expect(cfoEvents).toEqual(['task-created', 'task-decided']);
    // Nothing more comes: each was delivered once.
    await t.server.startChannels();
    expect(hook.accepted.length).toBe(4);
    await hook.close();
  });

  it('puts a delivery that fails every attempt in the dead letters, and replays it with the same id', async () => {
    let failing = true;
    const hook = await receiver(() => (failing ? 500 : 204));
    t = await startServer({
      channels: { publicUrl: 'http://127.0.0.1', pollMs: 50, retryDelaysMs: [20, 20] },
    });
    await t.server.startChannels();
    await subscribe(hook.url);
    const task = await ask('cfo@acme.test');
    await expect
      .poll(
        async () => (await t?.call(t.keys.admin, 'GET', '/v1/dead-letters'))?.body.deadLetters.length,
        patience,
      )
      .toBe(1);
    const [letter] = (await t.call(t.keys.admin, 'GET', '/v1/dead-letters')).body.deadLetters;
    expect(letter).toMatchObject({
      channel: 'webhook',
      eventType: 'task-created',
      taskId: task.id,
      attempts: 3,
    });
    expect(letter.lastError).toContain('500');
    expect(hook.attempts()).toBe(3);
    expect((await t.call(t.keys.agent, 'GET', '/v1/dead-letters')).status).toBe(403);
    failing = false;
    const replay = await t.call(t.keys.admin, 'POST', `/v1/dead-letters/${letter.id}/replay`);
    expect(replay.status).toBe(200);
    await expect.poll(() => hook.accepted.map((delivery) => delivery.id), patience).toEqual([letter.id]);
    expect((await t.call(t.keys.admin, 'GET', '/v1/dead-letters')).body.deadLetters).toEqual([]);
    expect((await t.call(t.keys.admin, 'POST', `/v1/dead-letters/${letter.id}/replay`)).status).toBe(404);
    await hook.close();
  });

  it('refuses a webhook URL that is not http(s)', async () => {
    t = await startServer();
    const reply = await t.call(t.keys.admin, 'POST', '/v1/webhooks', { url: 'file:///etc/passwd' });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details.field).toBe('body.url');
  });
});
