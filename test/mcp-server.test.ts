// MCP as users run it: the SDK's real Client over stdio to a spawned `holdpoint mcp`, and over
// Streamable HTTP to `/mcp` of a spawned `holdpoint serve`, with the server's API keys. The human
// decides through the REST API or the `holdpoint` CLI while the tool call waits.
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  CallToolResultSchema,
  ElicitRequestSchema,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  holdpointStdioTransport,
  runHoldpoint,
  serveProcess,
  stopProcess,
} from '../packages/cli/test/serve-process.js';

const folder = mkdtempSync(join(tmpdir(), 'holdpoint-mcp-server-'));
const store = `sqlite://${join(folder, 'holdpoint.db')}`;
const quiet = {
  HOLDPOINT_URL: '',
  HOLDPOINT_KEY: '',
  HOLDPOINT_STORE: '',
  HOLDPOINT_AUDIT_KEY: '',
  HOLDPOINT_AUDIT_KEY_FILE: '',
};

type Served = Awaited<ReturnType<typeof serveProcess>>;
const servers = new Set<Served>();
const clients: Client[] = [];

async function serve(storeUrl: string, args: string[] = []): Promise<Served> {
  const served = await serveProcess(['--store', storeUrl, ...args], { cwd: folder, env: quiet });
  servers.add(served);
  return served;
}

/** A JSON request to the REST API with a key; the status and the parsed body. */
async function rest(
  served: Served,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${served.info.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A key of the store, made by the first admin key. */
async function makeKey(served: Served, options: Record<string, unknown>): Promise<string> {
  const admin = served.info.firstAdminKey as string;
  const made = await rest(served, admin, 'POST', '/v1/keys', options);
  expect(made.status).toBe(201);
  return made.body.secret as string;
}

/** An SDK client on `/mcp` of a running `holdpoint serve`, with an API key. */
async function connectHttp(
  served: Served,
  key: string,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${served.info.url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: 'holdpoint-e2e', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

/** Run the `holdpoint` binary to its end. */
function holdpoint(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runHoldpoint(args, { cwd: folder, env: quiet });
}

/** The structured content of a successful tool result. */
function structured(result: unknown): Record<string, unknown> {
  const call = result as CallToolResult;
  expect(call.isError, JSON.stringify(call.content)).toBeFalsy();
  return call.structuredContent as Record<string, unknown>;
}

/** The text of a tool error. */
function refusal(result: unknown): string {
  const call = result as CallToolResult;
  expect(call.isError, JSON.stringify(call.structuredContent)).toBe(true);
  const first = call.content[0];
  return first?.type === 'text' ? first.text : '';
}

/** The pending task of `assignee` with `title`, once the tool call has created it (read through REST). */
async function pendingTask(
  served: Served,
  key: string,
  assignee: string,
  title: string,
): Promise<{ id: string; versionDigest: string; intentId: string }> {
  let found: { id: string; versionDigest: string; intentId: string; title: string } | undefined;
  await expect
    .poll(
      async () => {
        const page = await rest(
          served,
          key,
          'GET',
          `/v1/tasks?assignee=${encodeURIComponent(assignee)}&status=pending`,
        );
        const tasks = page.body.tasks as Array<{
          id: string;
          versionDigest: string;
          intentId: string;
          title: string;
        }>;
        found = tasks.find((task) => task.title === title);
        return found !== undefined;
      },
      { timeout: 30_000, interval: 100 },
    )
    .toBe(true);
  return found as { id: string; versionDigest: string; intentId: string };
}

/** POST an initialize with raw headers (Host cannot be set through fetch). */
function rawInitialize(
  served: Served,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${served.info.url}/mcp`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

let server: Served;
let admin: string;
let agentA: string;
let agentB: string;
let cfo: string;
let bob: string;

beforeAll(async () => {
  server = await serve(store);
  admin = server.info.firstAdminKey as string;
  agentA = await makeKey(server, { name: 'agent a', scope: 'agent' });
  agentB = await makeKey(server, { name: 'agent b', scope: 'agent' });
  cfo = await makeKey(server, { name: 'cfo', scope: 'person', actor: 'cfo@acme.test', actorName: 'Carla' });
  bob = await makeKey(server, { name: 'bob', scope: 'person', actor: 'bob@acme.test' });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await Promise.all([...servers].map((served) => stopProcess(served.child)));
  rmSync(folder, { recursive: true, force: true });
});

// Spawned processes on a machine shared with other test files: waits are for conditions, with room.
describe('MCP through the holdpoint binary', { timeout: 120_000 }, () => {
  it('HTTP: wait_for_human at /mcp of holdpoint serve waits while the person decides through the REST API', async () => {
    const { client } = await connectHttp(server, agentA);
    const call = client.callTool(
      {
        name: 'wait_for_human',
        arguments: { assignee: 'cfo@acme.test', title: 'Pay invoice 7', context: { amount: 1200 } },
      },
      CallToolResultSchema,
      { onprogress: () => undefined, resetTimeoutOnProgress: true },
    );
    const task = await pendingTask(server, cfo, 'cfo@acme.test', 'Pay invoice 7');
    const decided = await rest(server, cfo, 'POST', `/v1/tasks/${task.id}/decide`, {
      outcome: 'approved',
      comment: 'paid on Friday',
      versionDigest: task.versionDigest,
    });
    expect(decided.status).toBe(200);
    expect(structured(await call)).toMatchObject({
      status: 'decided',
      taskId: task.id,
      outcome: 'approved',
      comment: 'paid on Friday',
      actor: { id: 'cfo@acme.test', name: 'Carla' },
      decidedBy: 'human',
      decidedAt: expect.any(String),
      versionDigest: task.versionDigest,
    });
    // The task asked over MCP belongs to the key as if it had been asked over REST.
    expect((await rest(server, agentA, 'GET', `/v1/tasks/${task.id}`)).status).toBe(200);
    expect((await rest(server, agentB, 'GET', `/v1/tasks/${task.id}`)).status).toBe(403);
  });

  it('stdio: wait_for_human of holdpoint mcp waits while the person decides with holdpoint tasks decide', async () => {
    const transport = holdpointStdioTransport(['mcp', '--store', store], { cwd: folder, env: quiet });
    const client = new Client({ name: 'holdpoint-e2e', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    const call = client.callTool(
      { name: 'wait_for_human', arguments: { assignee: 'cfo@acme.test', title: 'Ship release 3' } },
      CallToolResultSchema,
      { onprogress: () => undefined, resetTimeoutOnProgress: true },
    );
    const task = await pendingTask(server, admin, 'cfo@acme.test', 'Ship release 3');
    const decided = await holdpoint([
      'tasks',
      'decide',
      task.id,
      '--outcome',
      'rejected',
      '--comment',
      'not this week',
      '--url',
      server.info.url,
      '--key',
      cfo,
    ]);
    expect(decided.code, decided.stderr).toBe(0);
    expect(structured(await call)).toMatchObject({
      status: 'decided',
      taskId: task.id,
      outcome: 'rejected',
      comment: 'not this week',
      actor: { id: 'cfo@acme.test' },
      decidedBy: 'human',
    });
  });

  it('stdio with --user: the person at the client declines in the client (a note, nothing decided), then accepts (their decision)', async () => {
    const client = new Client(
      { name: 'holdpoint-e2e', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } } },
    );
    const answers: ElicitResult[] = [
      { action: 'decline' },
      { action: 'accept', content: { outcome: 'approved', comment: 'fine after all' } },
    ];
    client.setRequestHandler(ElicitRequestSchema, () => answers.shift() ?? { action: 'cancel' });
    await client.connect(
      holdpointStdioTransport(['mcp', '--store', store, '--user', 'cfo@acme.test'], {
        cwd: folder,
        env: quiet,
      }),
    );
    clients.push(client);
    const ask = { assignee: 'cfo@acme.test', title: 'Approve the offsite budget', idempotencyKey: 'offsite' };
    const declined = structured(await client.callTool({ name: 'wait_for_human', arguments: ask }));
    expect(declined).toMatchObject({ status: 'pending', elicitation: 'decline' });
    const trail = async () => {
      const response = await fetch(`${server.info.url}/v1/intents/${declined.intentId}/audit`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      return (await response.text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; actor?: { id: string }; data?: unknown });
    };
    expect((await trail()).map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
      'task-noted',
      'signature',
    ]);
    expect((await trail())[2]).toMatchObject({
      actor: { id: 'cfo@acme.test' },
      data: { note: 'declined', via: 'mcp' },
    });

    // Asked again (the same key resumes the same task): this time she answers.
    const accepted = structured(await client.callTool({ name: 'wait_for_human', arguments: ask }));
    expect(accepted).toMatchObject({
      taskId: declined.taskId,
      status: 'decided',
      outcome: 'approved',
      comment: 'fine after all',
      actor: { id: 'cfo@acme.test' },
      elicitation: 'accept',
    });
    expect((await trail()).map((event) => event.type)).toContain('task-decided');
  });

  it('a key may do over MCP exactly what it may do in the REST API: narrower keys are refused and see nothing of others’ tasks', async () => {
    const a = (await connectHttp(server, agentA)).client;
    const b = (await connectHttp(server, agentB)).client;
    const person = (await connectHttp(server, cfo)).client;
    const stranger = (await connectHttp(server, bob)).client;
    const secret = structured(
      await a.callTool({
        name: 'wait_for_human',
        arguments: {
          assignee: 'cfo@acme.test',
          title: 'Secret payroll',
          idempotencyKey: 'payroll',
          wait: false,
        },
      }),
    );
    const taskId = secret.taskId as string;
    const intentId = secret.intentId as string;

    // Another agent key: refused everywhere, and told nothing about the task.
    const call = (name: string, args: Record<string, unknown>) => b.callTool({ name, arguments: args });
    for (const text of [
      refusal(await call('get_human_task', { taskId })),
      refusal(await call('list_human_tasks', { intentId })),
      refusal(await call('cancel_human_task', { taskId })),
    ]) {
      expect(text).toMatch(/^FORBIDDEN: /);
      expect(text).not.toContain('Secret payroll');
    }
    expect(refusal(await call('list_human_tasks', {}))).toMatch(/^FORBIDDEN: .*give intentId/);
    await expect(b.experimental.tasks.getTask(taskId)).rejects.toThrow(/not found/i);
    // Its own use of the same idempotency key is its own task, not agent A's.
    const own = structured(
      await call('wait_for_human', {
        assignee: 'cfo@acme.test',
        title: 'Secret payroll',
        idempotencyKey: 'payroll',
        wait: false,
      }),
    );
    expect(own.taskId).not.toBe(taskId);
    // Agent A's session is not B's to use.
    const aSession = (await connectHttp(server, agentA)).transport.sessionId as string;
    const session = await fetch(`${server.info.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agentB}`,
        'mcp-session-id': aSession,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    expect(session.status).toBe(404);

    // A person key: may not ask; sees its own tasks only; not someone else's.
    expect(
      refusal(await person.callTool({ name: 'wait_for_human', arguments: { assignee: 'bob@acme.test' } })),
    ).toMatch(/^FORBIDDEN: A person key may not ask humans/);
    const mine = structured(await person.callTool({ name: 'list_human_tasks', arguments: {} }))
      .tasks as Array<{
      taskId: string;
      assignees: string[];
    }>;
    expect(mine.map((task) => task.taskId)).toContain(taskId);
    expect(mine.every((task) => task.assignees.includes('cfo@acme.test'))).toBe(true);
    expect(
      refusal(await person.callTool({ name: 'list_human_tasks', arguments: { assignee: 'bob@acme.test' } })),
    ).toMatch(/^FORBIDDEN: .*own tasks/);
    expect(
      structured(await person.callTool({ name: 'get_human_task', arguments: { taskId } })),
    ).toMatchObject({
      taskId,
      title: 'Secret payroll',
    });
    expect(refusal(await person.callTool({ name: 'cancel_human_task', arguments: { taskId } }))).toMatch(
      /^FORBIDDEN: /,
    );
    expect(refusal(await stranger.callTool({ name: 'get_human_task', arguments: { taskId } }))).toMatch(
      /^FORBIDDEN: /,
    );
    const bobs = structured(await stranger.callTool({ name: 'list_human_tasks', arguments: {} }))
      .tasks as Array<{
      taskId: string;
    }>;
    expect(bobs.map((task) => task.taskId)).not.toContain(taskId);

    // Nothing changed; the owner still may do all of it.
    expect((await rest(server, admin, 'GET', `/v1/tasks/${taskId}`)).body.status).toBe('pending');
    const listed = structured(await a.callTool({ name: 'list_human_tasks', arguments: { intentId } }));
    expect((listed.tasks as Array<{ taskId: string }>).map((task) => task.taskId)).toEqual([taskId]);
    expect(
      structured(await a.callTool({ name: 'cancel_human_task', arguments: { taskId, reason: 'test' } })),
    ).toMatchObject({ status: 'canceled' });
  });
});

describe('holdpoint serve, killed and started again', { timeout: 180_000 }, () => {
  const otherStore = `sqlite://${join(folder, 'restart.db')}`;
  let first: Served;
  let agent: string;
  let person: string;

  beforeAll(async () => {
    first = await serve(otherStore, ['--allowed-hosts', 'holdpoint.acme.test']);
    agent = await makeKey(first, { name: 'agent', scope: 'agent' });
    person = await makeKey(first, { name: 'cfo', scope: 'person', actor: 'cfo@acme.test' });
  }, 60_000);

  it('refuses a foreign Host or Origin at /mcp (DNS rebinding), and accepts its own names', async () => {
    const port = new URL(first.info.url).port;
    const auth = { authorization: `Bearer ${agent}` };
    const evilHost = await rawInitialize(first, { ...auth, host: `evil.example:${port}` });
    expect(evilHost.status).toBe(403);
    expect(evilHost.body).toContain("Host 'evil.example");
    const evilOrigin = await rawInitialize(first, { ...auth, origin: 'http://evil.example' });
    expect(evilOrigin.status).toBe(403);
    expect(evilOrigin.body).toContain("Origin 'http://evil.example'");
    // Refused before any key is looked at.
    expect((await rawInitialize(first, { host: 'evil.example' })).status).toBe(403);
    expect((await rawInitialize(first, { ...auth, host: `holdpoint.acme.test:${port}` })).status).toBe(200);
    expect(
      (await rawInitialize(first, { ...auth, host: `localhost:${port}`, origin: `http://localhost:${port}` }))
        .status,
    ).toBe(200);
  });

  it('an MCP task survives a SIGKILL of serve: after the restart tasks/get says working, then reports the decision', async () => {
    const { client, transport } = await connectHttp(first, agent);
    await client.listTools();
    const stream = client.experimental.tasks.callToolStream(
      {
        name: 'wait_for_human',
        arguments: {
          assignee: 'cfo@acme.test',
          title: 'Wire 40k to the supplier',
          idempotencyKey: 'wire-40k',
        },
      },
      CallToolResultSchema,
    );
    let taskId: string | undefined;
    for await (const message of stream) {
      if (message.type === 'taskCreated') {
        taskId = message.task.taskId;
        break;
      }
      if (message.type === 'error') throw message.error;
    }
    expect(taskId).toMatch(/^tsk_/);
    expect((await client.experimental.tasks.getTask(taskId as string)).status).toBe('working');
    const oldSession = transport.sessionId as string;

    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;
    servers.delete(first);
    await client.close().catch(() => undefined);

    const second = await serve(otherStore, ['--allowed-hosts', 'holdpoint.acme.test']);
    // Sessions lived in the killed process; the task lives in the store.
    const stale = await fetch(`${second.info.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agent}`,
        'mcp-session-id': oldSession,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(stale.status).toBe(404);
    const again = (await connectHttp(second, agent)).client;
    const working = await again.experimental.tasks.getTask(taskId as string);
    expect(working).toMatchObject({ taskId, status: 'working', ttl: null });
    expect(working.statusMessage).toContain('waiting for cfo@acme.test');

    const task = await pendingTask(second, person, 'cfo@acme.test', 'Wire 40k to the supplier');
    expect(task.id).toBe(taskId);
    const decided = await rest(second, person, 'POST', `/v1/tasks/${task.id}/decide`, {
      outcome: 'approved',
      comment: 'after the restart',
    });
    expect(decided.status).toBe(200);
    await expect
      .poll(async () => (await again.experimental.tasks.getTask(taskId as string)).status, {
        timeout: 30_000,
      })
      .toBe('completed');
    expect((await again.experimental.tasks.getTask(taskId as string)).statusMessage).toBe(
      'approved by cfo@acme.test',
    );
    const result = await again.experimental.tasks.getTaskResult(taskId as string, CallToolResultSchema);
    expect(structured(result)).toMatchObject({
      status: 'decided',
      taskId,
      outcome: 'approved',
      comment: 'after the restart',
      actor: { id: 'cfo@acme.test' },
    });
  });
});
