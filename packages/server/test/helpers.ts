import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHoldpoint,
  createStore,
  type Holdpoint,
  type HoldpointOptions,
  type StoreBackend,
} from '@holdpoint/core';
import {
  createHoldpointServer,
  type HoldpointServer,
  type HoldpointServerOptions,
  type ServerLimits,
} from '../src/index.js';

export { openSse, type SseClient, type SseEvent } from './sse-client.js';

/** A server over real HTTP on a SQLite file in a temporary folder, with a key of each scope. */
export interface TestServer {
  url: string;
  server: HoldpointServer;
  store: StoreBackend;
  holdpoint: Holdpoint;
  keys: { admin: string; agent: string; otherAgent: string; cfo: string; deputy: string };
  /** A request with a key (or none), JSON in and out. */
  call(
    key: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: replies are read field by field in assertions
  body: any;
}

export async function startServer(
  given: {
    limits?: Partial<ServerLimits>;
    store?: string;
    engine?: Partial<HoldpointOptions>;
  } & Partial<HoldpointServerOptions> = {},
): Promise<TestServer> {
  const { engine, ...options } = given;
  const folder = mkdtempSync(join(tmpdir(), 'holdpoint-server-'));
  const store = await createStore(options.store ?? `sqlite://${join(folder, 'holdpoint.db')}`);
  const holdpoint = await createHoldpoint({ store, pollInterval: '200ms', ...engine });
  const server = createHoldpointServer({ holdpoint, store, onError: () => {}, ...options });
  const create = async (name: string, scope: 'agent' | 'person' | 'admin', actor?: string) =>
    (await server.keys.create({ name, scope, ...(actor === undefined ? {} : { actor }) })).secret;
  const keys = {
    admin: await create('ops', 'admin', 'ops@acme.test'),
    agent: await create('billing-agent', 'agent', 'billing-agent'),
    otherAgent: await create('other-agent', 'agent', 'other-agent'),
    cfo: await create('cfo', 'person', 'cfo@acme.test'),
    deputy: await create('deputy', 'person', 'deputy@acme.test'),
  };
  const listener = await server.listen();
  const call: TestServer['call'] = async (key, method, path, body, headers = {}) => {
    const response = await fetch(listener.url + path, {
      method,
      headers: {
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, text, body: parsed };
  };
  return {
    url: listener.url,
    server,
    store,
    holdpoint,
    keys,
    call,
    async close() {
      await server.close();
      await holdpoint.close();
      await store.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
