// The web-standard mount (`fetch`, as Hono's `app.all('/mcp', (c) => mcp.fetch(c.req.raw))` uses it),
// served here by @hono/node-server in this process, with a real SDK client; and the session limit.
import type { AddressInfo } from 'node:net';
import { createHoldpoint } from '@holdpoint/core';
import { createAdaptorServer } from '@hono/node-server';
import { afterAll, describe, expect, it } from 'vitest';
import { createMcpHttpHandler } from '../src/index.js';
import { callWait, connectHttp } from './helpers.js';

const hp = await createHoldpoint({ store: 'memory://' });
const mcp = createMcpHttpHandler(hp, {
  maxSessions: 1,
  authenticate: (token) => (token === 'key-carol' ? { id: 'carol@acme.test' } : undefined),
});
const server = createAdaptorServer({ fetch: mcp.fetch });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);

afterAll(async () => {
  await mcp.close();
  await new Promise((resolve) => server.close(resolve));
  await hp.close();
});

describe('the fetch mount', () => {
  it('serves a session to a real client, and refuses sessions beyond maxSessions', async () => {
    const { client, transport } = await connectHttp(url, 'key-carol');
    expect((await client.listTools()).tools).toHaveLength(4);
    const view = await callWait(client, {
      title: 'Approve the logo',
      assignee: 'dan@acme.test',
      wait: false,
    });
    expect(view.status).toBe('pending');
    expect(mcp.sessionCount).toBe(1);

    await expect(connectHttp(url, 'key-carol')).rejects.toThrow(/503|too many open sessions/i);

    await transport.terminateSession();
    await client.close();
    expect(mcp.sessionCount).toBe(0);
    const again = await connectHttp(url, 'key-carol');
    expect((await again.client.listTools()).tools).toHaveLength(4);
    await again.client.close();
  });
});
