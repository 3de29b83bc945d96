// The HTTP handler's limits and browser rules, over a real server process: sessions per caller (no
// one key can take every session), the body limit on every request (not only `initialize`), and CORS
// for the origins a page may call from.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callWait,
  connectHttp,
  type Human,
  humanEngine,
  pendingTaskOf,
  startHttpServer,
  stopHttpServers,
  tempStore,
} from './helpers.js';

const { store, cleanup } = tempStore();
const keys = { 'key-alice': { id: 'alice@acme.test' }, 'key-bob': { id: 'bob@acme.test' } };
const app = 'http://app.acme.test';
let human: Human;
let server: Awaited<ReturnType<typeof startHttpServer>>;

beforeAll(async () => {
  human = await humanEngine(store);
  server = await startHttpServer(store, {
    keys,
    maxSessionsPerCaller: 2,
    maxBodyBytes: 2_000,
    allowedOrigins: [app],
    progressInterval: '100ms',
  });
});

afterAll(async () => {
  await stopHttpServers();
  await human?.close();
  cleanup();
});

const jsonRpc = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** POST a JSON-RPC message as `token`, in a session when given one. */
function post(token: string, message: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(server.url, {
    method: 'POST',
    headers: {
      ...jsonRpc,
      authorization: `Bearer ${token}`,
      'mcp-protocol-version': '2025-11-25',
      ...headers,
    },
    body: typeof message === 'string' ? message : JSON.stringify(message),
  });
}

/** Open a session as `token`; its id. */
async function initialize(token: string, headers: Record<string, string> = {}): Promise<Response> {
  const response = await post(
    token,
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    },
    headers,
  );
  await response.text();
  return response;
}

const toolsList = { jsonrpc: '2.0', id: 2, method: 'tools/list' };

describe('sessions per caller', () => {
  it("a caller's new session beyond the limit closes their least recently used idle one, never another's", async () => {
    const bob = (await initialize('key-bob')).headers.get('mcp-session-id') as string;
    const opened: string[] = [];
    for (let n = 0; n < 3; n++) {
      const response = await initialize('key-alice');
      expect(response.status).toBe(200);
      opened.push(response.headers.get('mcp-session-id') as string);
    }
    // Alice's first session made room for her third; her second and third, and Bob's, still answer.
    expect((await post('key-alice', toolsList, { 'mcp-session-id': opened[0] as string })).status).toBe(404);
    for (const id of opened.slice(1))
      expect((await post('key-alice', toolsList, { 'mcp-session-id': id })).status).toBe(200);
    expect((await post('key-bob', toolsList, { 'mcp-session-id': bob })).status).toBe(200);
    for (const id of opened.slice(1))
      await fetch(server.url, {
        method: 'DELETE',
        headers: { authorization: 'Bearer key-alice', 'mcp-session-id': id },
      });
  });

  it('is refused (429) while each of them has a request in flight', async () => {
    const waits = [];
    for (let n = 0; n < 2; n++) {
      const { client } = await connectHttp(server.url, 'key-alice');
      waits.push({
        client,
        call: callWait(client, { title: `Busy ${n}`, assignee: 'carol@acme.test' }, () => {}),
      });
    }
    const tasks = await Promise.all([0, 1].map((n) => pendingTaskOf(human, 'carol@acme.test', `Busy ${n}`)));
    const refused = await initialize('key-alice');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect((await initialize('key-bob')).status).toBe(200);
    for (const task of tasks) await human.decide(task.id, { outcome: 'approved', actor: 'carol@acme.test' });
    for (const { client, call } of waits) {
      expect(await call).toMatchObject({ status: 'decided' });
      await client.close();
    }
  });
});

describe('limits on every request', () => {
  it('refuses a body over maxBodyBytes inside a session too (413), and takes one within it', async () => {
    const session = (await initialize('key-bob')).headers.get('mcp-session-id') as string;
    const call = (title: string) => ({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'wait_for_human', arguments: { title, assignee: 'carol@acme.test', wait: false } },
    });
    const large = await post('key-bob', call('x'.repeat(3_000)), { 'mcp-session-id': session });
    expect(large.status).toBe(413);
    expect(await large.text()).toContain('at most 2000 bytes');
    expect((await human.listTasks({ assignee: 'carol@acme.test', status: 'pending' })).tasks).toEqual([]);
    const small = await post('key-bob', call('Small enough'), { 'mcp-session-id': session });
    expect(small.status).toBe(200);
    expect(await small.text()).toContain('Small enough');
    const broken = await post('key-bob', '{"jsonrpc":', { 'mcp-session-id': session });
    expect(broken.status).toBe(400);
  });
});

describe('CORS for the allowed origins', () => {
  it('answers a preflight without credentials, and lets the page read the session id', async () => {
    const preflight = await fetch(server.url, {
      method: 'OPTIONS',
      headers: {
        origin: app,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, mcp-session-id',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(app);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('mcp-session-id');
    const opened = await initialize('key-bob', { origin: app });
    expect(opened.status).toBe(200);
    expect(opened.headers.get('access-control-allow-origin')).toBe(app);
    expect(opened.headers.get('access-control-expose-headers')).toContain('mcp-session-id');
    // Another origin gets neither.
    const evil = await fetch(server.url, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example.com' },
    });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });
});
