// Over Streamable HTTP, with the SDK's real Client and a Node HTTP server process mounting the
// handler (what `holdpoint serve` does at /mcp); API keys stand in for the server's. The human
// decides through another engine on the same SQLite file.
import { request as httpRequest } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CallToolResultSchema,
  ElicitationCompleteNotificationSchema,
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callWait,
  connectHttp,
  errorText,
  type Human,
  humanEngine,
  pendingTaskOf,
  startHttpServer,
  stopHttpServers,
  tempStore,
  viewOf,
} from './helpers.js';

const { store, cleanup } = tempStore();
const keys = {
  'key-alice': { id: 'alice@acme.test', name: 'Alice' },
  'key-bob': { id: 'bob@acme.test' },
};
const inboxUrl = 'http://localhost:8787';
let human: Human;
let server: Awaited<ReturnType<typeof startHttpServer>>;
const clients: Client[] = [];

beforeAll(async () => {
  human = await humanEngine(store);
  server = await startHttpServer(store, {
    keys,
    inboxUrl,
    progressInterval: '100ms',
    taskPollInterval: '100ms',
  });
});

afterAll(async () => {
  await stopHttpServers();
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server?.stop();
  await human?.close();
  cleanup();
});

/** A client whose person answers elicitations with `answer` (and records what was asked). */
async function personAt(
  token: string,
  answer?: (params: ElicitRequest['params']) => ElicitResult,
): Promise<{ client: Client; asked: ElicitRequest['params'][]; completed: string[] }> {
  const asked: ElicitRequest['params'][] = [];
  const completed: string[] = [];
  const { client } = await connectHttp(
    server.url,
    token,
    answer ? { capabilities: { elicitation: { form: {}, url: {} } } } : {},
  );
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params);
      return answer(request.params);
    });
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
      completed.push(notification.params.elicitationId);
    });
  }
  clients.push(client);
  return { client, asked, completed };
}

/** POST an initialize with the given headers, as a browser page or a script would. */
function rawInitialize(
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      server.url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: 'Bearer key-alice',
          ...headers,
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: text, headers: response.headers }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('Host, Origin and bearer checks', () => {
  it('refuses a foreign Host or Origin (DNS rebinding) and accepts localhost ones', async () => {
    const evilHost = await rawInitialize({ host: 'evil.example.com' });
    expect(evilHost.status).toBe(403);
    expect(evilHost.body).toContain('Host');
    const evilOrigin = await rawInitialize({ origin: 'http://evil.example.com' });
    expect(evilOrigin.status).toBe(403);
    expect(evilOrigin.body).toContain('Origin');
    expect(
      (await rawInitialize({ host: `localhost:${server.url.port}`, origin: 'http://localhost:3000' })).status,
    ).toBe(200);
    expect((await rawInitialize({})).status).toBe(200);
  });

  it('refuses requests without a valid API key, and a session to any other key', async () => {
    const missing = await rawInitialize({ authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toContain('Bearer');
    expect((await rawInitialize({ authorization: 'Bearer nope' })).status).toBe(401);

    const { transport } = await connectHttp(server.url, 'key-alice');
    const sessionId = transport.sessionId as string;
    const hijack = await fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer key-bob',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(hijack.status).toBe(404);
    await transport.terminateSession();
    await transport.close();
  });
});

describe('waiting over HTTP', () => {
  it('a wait resolves when the human decides, with progress notifications over SSE', async () => {
    const { client } = await personAt('key-bob');
    const progress: number[] = [];
    const call = callWait(
      client,
      { title: 'Publish the release notes', assignee: 'editor@acme.test' },
      (params) => progress.push(params.progress),
    );
    const task = await pendingTaskOf(human, 'editor@acme.test');
    await expect.poll(() => progress.length).toBeGreaterThanOrEqual(2);
    await human.decide(task.id, { outcome: 'approved', actor: 'editor@acme.test' });
    expect(await call).toMatchObject({
      status: 'decided',
      outcome: 'approved',
      url: `${inboxUrl}/tasks/${task.id}`,
    });
  });

  it('a gate for someone else is never asked at the client: it waits for them', async () => {
    const { client, asked } = await personAt('key-alice', () => ({
      action: 'accept',
      content: { outcome: 'approved' },
    }));
    const call = callWait(client, { title: 'Bob signs off', assignee: 'bob@acme.test' }, () => undefined);
    const task = await pendingTaskOf(human, 'bob@acme.test', 'Bob signs off');
    await human.decide(task.id, { outcome: 'rejected', comment: 'not yet', actor: 'bob@acme.test' });
    expect(await call).toMatchObject({ outcome: 'rejected', actor: { id: 'bob@acme.test' } });
    expect(asked).toEqual([]);
  });
});

describe('idle sessions', { timeout: 60_000 }, () => {
  it('a session left idle is closed; its MCP task is not: a new session reads its status and result', async () => {
    const idle = await startHttpServer(store, { keys, sessionIdleTimeout: '1s', taskPollInterval: '100ms' });
    const first = await connectHttp(idle.url, 'key-bob');
    // As clients do: the tool list says wait_for_human may run as a task.
    await first.client.listTools();
    const stream = first.client.experimental.tasks.callToolStream(
      { name: 'wait_for_human', arguments: { title: 'Renew the certificate', assignee: 'ops@acme.test' } },
      CallToolResultSchema,
    );
    let taskId = '';
    for await (const message of stream) {
      if (message.type === 'taskCreated') {
        taskId = message.task.taskId;
        break;
      }
      if (message.type === 'error') throw message.error;
    }
    const sessionId = first.transport.sessionId as string;
    expect(taskId).toMatch(/^tsk_/);
    // The client goes away without ending its session (as a closed laptop does).
    await first.client.close();
    const ask = () =>
      fetch(idle.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: 'Bearer key-bob',
          'mcp-session-id': sessionId,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }),
      }).then((response) => response.status);
    // Each request makes the session busy again: ask less often than the idle timeout.
    await expect.poll(ask, { timeout: 30_000, interval: 2_500 }).toBe(404);

    const { client } = await connectHttp(idle.url, 'key-bob');
    clients.push(client);
    expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'working' });
    await human.decide(taskId, { outcome: 'approved', actor: 'ops@acme.test' });
    await expect
      .poll(async () => (await client.experimental.tasks.getTask(taskId)).status, { timeout: 15_000 })
      .toBe('completed');
    expect(viewOf(await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))).toMatchObject(
      { status: 'decided', outcome: 'approved', actor: { id: 'ops@acme.test' } },
    );
    await idle.stop();
  });
});

describe('elicitation: the person at the client answers a gate addressed to them', () => {
  it('accept: the form answer is recorded as their decision, bound to the version they saw', async () => {
    const { client, asked } = await personAt('key-alice', () => ({
      action: 'accept',
      content: { outcome: 'changes_requested', comment: 'Fix the totals' },
    }));
    const view = await callWait(client, {
      task: 'review',
      title: 'Review the invoice',
      assignee: 'alice@acme.test',
      context: { total: 12 },
    });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ mode: 'form' });
    const schema = (
      asked[0] as { requestedSchema: { properties: Record<string, { oneOf?: { const: string }[] }> } }
    ).requestedSchema;
    expect(schema.properties.outcome?.oneOf?.map((option) => option.const)).toEqual([
      'approved',
      'changes_requested',
      'rejected',
    ]);
    expect(view).toMatchObject({
      status: 'decided',
      outcome: 'changes_requested',
      comment: 'Fix the totals',
      actor: { id: 'alice@acme.test', name: 'Alice' },
      decidedBy: 'human',
      elicitation: 'accept',
    });
    const task = await human.getTask(view.taskId);
    expect(task.decision).toMatchObject({
      outcome: 'changes_requested',
      actor: { id: 'alice@acme.test', name: 'Alice' },
      versionDigest: task.versionDigest,
    });
  });

  it('accept of a form task: the form is the task schema, its fields become the data', async () => {
    const { client } = await personAt('key-alice', () => ({
      action: 'accept',
      content: { amount: 40, currency: 'EUR' },
    }));
    const view = await callWait(client, {
      task: 'form',
      title: 'Refund amount',
      assignee: 'alice@acme.test',
      schema: {
        type: 'object',
        properties: {
          amount: { type: 'number', minimum: 0 },
          currency: { type: 'string', enum: ['EUR', 'USD'] },
        },
        required: ['amount', 'currency'],
      },
    });
    expect(view).toMatchObject({
      status: 'decided',
      outcome: 'submitted',
      data: { amount: 40, currency: 'EUR' },
    });
  });

  for (const action of ['decline', 'cancel'] as const) {
    it(`${action}: nothing is decided in their name; the task stays open, the result says so, the trail has their note`, async () => {
      const { client } = await personAt('key-alice', () => ({ action }));
      const view = await callWait(client, {
        title: `Approve the budget (${action})`,
        assignee: 'alice@acme.test',
      });
      expect(view).toMatchObject({
        status: 'pending',
        elicitation: action,
        url: `${inboxUrl}/tasks/${view.taskId}`,
      });
      expect(view.next).toContain('nothing was decided');
      const task = await human.getTask(view.taskId);
      expect(task.status).toBe('pending');
      expect(task.decision).toBeUndefined();
      expect(task.votes).toEqual([]);
      // Recorded as what it was — their note that they declined or dismissed the question — not a decision.
      const events = (await human.audit.export(view.intentId))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(events.map((event) => event.type)).toEqual([
        'intent-submitted',
        'task-created',
        'task-noted',
        'signature',
      ]);
      expect(events[2]).toMatchObject({
        taskId: view.taskId,
        actor: { id: 'alice@acme.test' },
        data: { note: action === 'decline' ? 'declined' : 'dismissed', via: 'mcp' },
      });
    });
  }

  it('URL mode for a sensitive decision: the inbox link, then the decision made there', async () => {
    const { client, asked, completed } = await personAt('key-alice', () => ({ action: 'accept' }));
    const call = callWait(
      client,
      { title: 'Share the salary table', assignee: 'alice@acme.test', sensitive: true },
      () => undefined,
    );
    await expect.poll(() => asked.length).toBe(1);
    const params = asked[0] as { mode: string; url: string; elicitationId: string };
    expect(params.mode).toBe('url');
    const task = await pendingTaskOf(human, 'alice@acme.test', 'Share the salary table');
    expect(params.url).toBe(`${inboxUrl}/tasks/${task.id}`);
    await human.decide(task.id, { outcome: 'rejected', comment: 'No', actor: 'alice@acme.test' });
    expect(await call).toMatchObject({
      status: 'decided',
      outcome: 'rejected',
      elicitation: 'accept',
    });
    await expect.poll(() => completed).toEqual([params.elicitationId]);
  });

  it('a client without elicitation gets the inbox link in the result at once', async () => {
    const { client } = await personAt('key-alice');
    const view = await callWait(client, { title: 'Approve the offsite', assignee: 'alice@acme.test' });
    expect(view).toMatchObject({ status: 'pending', url: `${inboxUrl}/tasks/${view.taskId}` });
    expect(view.next).toContain(view.url);
  });

  it('as an MCP task, the person is asked in the background and the task completes with their decision', async () => {
    const { client, asked } = await personAt('key-alice', () => ({
      action: 'accept',
      content: { outcome: 'approved' },
    }));
    // The person takes a moment: meanwhile the task waits for input.
    const statuses: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params);
      const related = request.params._meta?.['io.modelcontextprotocol/related-task'] as { taskId: string };
      statuses.push((await client.experimental.tasks.getTask(related.taskId)).status);
      return { action: 'accept', content: { outcome: 'approved' } };
    });
    await client.listTools();
    let result: unknown;
    let taskId: string | undefined;
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'wait_for_human', arguments: { title: 'Merge the hotfix', assignee: 'alice@acme.test' } },
      CallToolResultSchema,
    )) {
      if (message.type === 'taskCreated') taskId = message.task.taskId;
      if (message.type === 'result') result = message.result;
      if (message.type === 'error') throw message.error;
    }
    expect(viewOf(result)).toMatchObject({
      status: 'decided',
      outcome: 'approved',
      actor: { id: 'alice@acme.test' },
    });
    // The question said which task it belongs to (MCP 2025-11-25), and the task was input_required while asked.
    expect(asked.at(-1)?._meta).toEqual({ 'io.modelcontextprotocol/related-task': { taskId } });
    expect(statuses).toEqual(['input_required']);
  });

  it('invalid arguments as an MCP task: a failed task whose result is the readable tool error', async () => {
    const { client } = await personAt('key-bob');
    await client.listTools();
    const messages: { type: string; task?: { taskId: string; status: string } }[] = [];
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'wait_for_human', arguments: { assignee: 'bob@acme.test', quorum: 'most' } },
      CallToolResultSchema,
    )) {
      messages.push(message as (typeof messages)[number]);
    }
    const created = messages.find((message) => message.type === 'taskCreated');
    expect(created?.task?.status).toBe('failed');
    const result = await client.experimental.tasks.getTaskResult(
      created?.task?.taskId as string,
      CallToolResultSchema,
    );
    expect(errorText(result)).toMatch(/'quorum'/);
  });
});
