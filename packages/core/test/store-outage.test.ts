import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { errorOf } from './helpers/refusal.js';
import { type StoreName, storeCases } from './helpers/stores.js';

/**
 * A TCP proxy in front of a real server: `stop()` is the server going away (every connection
 * dropped, new ones refused), `start()` on the same port is it coming back.
 */
class OutageProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  constructor(target: URL) {
    this.#target = { host: target.hostname, port: Number(target.port) };
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connectTcp(this.#target);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

const proxies: OutageProxy[] = [];
const opened: StoreBackend[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.stop()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh spec of the helper (so its keys or schema are cleaned up), and the same store through a proxy. */
async function throughProxy(
  name: StoreName,
): Promise<{ direct: string; proxied: string; proxy: OutageProxy }> {
  const direct = storeCases.find((storeCase) => storeCase.name === name)?.spec() ?? '';
  const proxy = new OutageProxy(new URL(direct));
  proxies.push(proxy);
  await proxy.start();
  const proxied = new URL(direct);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  return { direct, proxied: proxied.toString(), proxy };
}

async function open(spec: string): Promise<StoreBackend> {
  const store = await createStore(spec);
  opened.push(store);
  return store;
}

const selected = new Set(storeCases.map((storeCase) => storeCase.name));

describe.runIf(selected.has('redis'))('the redis store when Redis is away', () => {
  it('fails to open promptly with STORE_UNAVAILABLE when nothing listens', async () => {
    const started = Date.now();
    const error = await errorOf(createStore('redis://127.0.0.1:1'));
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', store: 'redis', retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('fails to open within a few seconds when the server accepts but never answers', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const error = await errorOf(
        createStore(`redis://127.0.0.1:${(silent.address() as { port: number }).port}`),
      );
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', store: 'redis' });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });

  it('fails calls at once while Redis is gone, and works again without reopening once it is back', async () => {
    const { direct, proxied, proxy } = await throughProxy('redis');
    const store = await open(proxied);
    const messages: string[] = [];
    store.subscribe((message) => messages.push(message));
    expect(await store.claim('before', 'a')).toBe(true);

    await proxy.stop();
    await sleep(50);
    const started = Date.now();
    const error = await errorOf(store.claim('during', 'a'));
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', store: 'redis' });
    await expect(store.keyv.get('anything')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1_000);

    await proxy.start();
    await expect.poll(() => store.claim('after', 'a').catch(() => false), { interval: 100 }).toBe(true);
    // A claim refused during the outage was never sent: it is still free.
    expect(await store.readClaims(['before', 'during', 'after'])).toEqual(['a', undefined, 'a']);

    // The subscriber connection came back and subscribed again.
    const publisher = await open(direct);
    await expect
      .poll(
        async () => {
          await publisher.publish('after-outage');
          return messages;
        },
        { interval: 100 },
      )
      .toContain('after-outage');
  });
});

describe.runIf(selected.has('postgres'))('the postgres store when PostgreSQL is away', () => {
  it('fails calls while PostgreSQL is gone, works again once it is back, and listens again', async () => {
    const { direct, proxied, proxy } = await throughProxy('postgres');
    const store = await open(proxied);
    const messages: string[] = [];
    store.subscribe((message) => messages.push(message));
    const publisher = await open(direct);
    await expect
      .poll(
        async () => {
          await publisher.publish('before-outage');
          return messages;
        },
        { timeout: 2_000, interval: 50 },
      )
      .toContain('before-outage');

    await proxy.stop();
    await sleep(50);
    const started = Date.now();
    const error = await errorOf(store.claim('during', 'a'));
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', store: 'postgres' });
    expect(Date.now() - started).toBeLessThan(1_000);

    await proxy.start();
    await expect.poll(() => store.claim('after', 'a').catch(() => false), { interval: 100 }).toBe(true);
    expect(await store.readClaims(['during', 'after'])).toEqual([undefined, 'a']);
    await expect
      .poll(
        async () => {
          await publisher.publish('after-outage');
          return messages;
        },
        { interval: 100 },
      )
      .toContain('after-outage');
  });
});
