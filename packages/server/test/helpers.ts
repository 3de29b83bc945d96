import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHoldpoint, createStore, type StoreBackend } from '@holdpoint/core';
import {
  createHoldpointServer,
  type HoldpointServer,
  type HoldpointServerOptions,
  type ServerLimits,
} from '../src/index.js';

/** A server over real HTTP on a SQLite file in a temporary folder, with a key of each scope. */
export interface TestServer {
  url: string;
  server: HoldpointServer;
  store: StoreBackend;
  holdpoint: Awaited<ReturnType<typeof createHoldpoint>>;
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
  options: { limits?: Partial<ServerLimits>; store?: string } & Partial<HoldpointServerOptions> = {},
): Promise<TestServer> {
  const folder = mkdtempSync(join(tmpdir(), 'holdpoint-server-'));
  const store = await createStore(options.store ?? `sqlite://${join(folder, 'holdpoint.db')}`);
  const holdpoint = await createHoldpoint({ store, pollInterval: '200ms' });
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

/** One server-sent event. */
export interface SseEvent {
  id?: string;
  data: string;
}

/** An SSE client over fetch, keeping what it has read. */
export interface SseClient {
  status: number;
  events: SseEvent[];
  /** Comment lines seen (`: heartbeat`). */
  comments: string[];
  /** Wait until `count` events have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
  closed: Promise<void>;
}

export async function openSse(
  url: string,
  key: string,
  headers: Record<string, string> = {},
): Promise<SseClient> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiting = new Set<() => void>();
  const closed = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) event.id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) {
            event.data = data.join('\n');
            events.push(event);
          }
          for (const wake of waiting) wake();
        }
      }
    } catch {
      // Aborted by close().
    }
  })();
  return {
    status: response.status,
    events,
    comments,
    closed,
    close: () => controller.abort(),
    waitFor(count, timeoutMs = 10_000) {
      if (events.length >= count) return Promise.resolve(events.slice(0, count));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`only ${events.length} of ${count} SSE events arrived in ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (events.length < count) return;
          clearTimeout(timer);
          waiting.delete(check);
          resolve(events.slice(0, count));
        };
        waiting.add(check);
      });
    },
  };
}
