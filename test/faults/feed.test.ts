// The event feed against real processes: writers in several processes with a reader tailing the
// feed, and a writer killed in the middle of its writes. The feed entry of an event is written in
// the event's own store transaction (StoreBackend.appendEvent), so none can be missing after a
// crash; these tests check that on the real stores rather than take it on trust.
import { randomBytes } from 'node:crypto';
import { createHoldpoint, createStore, type Holdpoint, type StoreBackend } from '@holdpoint/core';
import { eventually } from '@holdpoint/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { layout } from '../../packages/core/src/store/layout.js';
import { finished, isolatedStore, killChildren, startFixture, storeSelected } from './support.js';

const stores = (['sqlite', 'redis', 'postgres'] as const).filter(storeSelected);
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await killChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every event of the feed, read from the start in pages of `limit`; fails on an event read twice. */
async function readWholeFeed(hp: Holdpoint, limit = 1_000): Promise<Set<string>> {
  const seen = new Set<string>();
  let since: string | undefined;
  for (;;) {
    const page = await hp.events({ limit, ...(since === undefined ? {} : { since }) });
    for (const event of page.events) {
      const id = `${event.intentId}:${event.seq}`;
      if (seen.has(id)) throw new Error(`the feed returned ${id} twice`);
      seen.add(id);
    }
    since = page.cursor;
    if (page.events.length < limit) return seen;
  }
}

/**
 * Every event in the chains of the gates `<run>/0` … `<run>/<count - 1>`, read from the store
 * itself: the intent each idempotency key holds, then its event keys one by one until one is absent.
 */
async function chainEvents(store: StoreBackend, run: string, count: number): Promise<Set<string>> {
  const keys = Array.from({ length: count }, (_, index) => layout.intentIdempotencyKey(`${run}/${index}`));
  const held = await store.readClaims(keys);
  const events = new Set<string>();
  for (const value of held) {
    if (value === undefined) continue;
    const { intentId } = JSON.parse(value) as { intentId: string };
    const values = await store.readClaims(
      Array.from({ length: 16 }, (_, at) => layout.eventKey(intentId, at + 1)),
    );
    for (const [at, event] of values.entries()) {
      if (event === undefined) break;
      events.add(`${intentId}:${at + 1}`);
    }
  }
  return events;
}

describe.each(stores)('the event feed on %s, with other processes writing', (kind) => {
  async function setup() {
    const isolated = isolatedStore(kind);
    cleanups.push(() => isolated.cleanup());
    const store = await createStore(isolated.spec);
    cleanups.push(() => store.close());
    const hp = await createHoldpoint({ store, timers: false });
    cleanups.push(() => hp.close());
    return { spec: isolated.spec, store, hp };
  }

  it('gives a reader tailing it every event exactly once while three processes write', async () => {
    const { spec, store, hp } = await setup();
    const run = `tail-${randomBytes(4).toString('hex')}`;
    const perWriter = 120;
    const writers = [0, 1, 2].map((writer) => ({
      run: `${run}-${writer}`,
      child: startFixture('feed-writer', [spec, `${run}-${writer}`, String(perWriter)]),
    }));
    // The reader follows the feed in small pages while the writers run, as an SSE stream would.
    const seen = new Set<string>();
    const duplicates: string[] = [];
    let since: string | undefined;
    let reads = 0;
    const readOnce = async () => {
      const page = await hp.events({ limit: 7, ...(since === undefined ? {} : { since }) });
      reads++;
      for (const event of page.events) {
        const id = `${event.intentId}:${event.seq}`;
        if (seen.has(id)) duplicates.push(id);
        seen.add(id);
      }
      since = page.cursor;
      return page.events.length;
    };
    let running = true;
    const exits = Promise.all(writers.map(({ child }) => finished(child.child, 120_000))).finally(() => {
      running = false;
    });
    // A tail polls every couple of milliseconds, as an SSE stream does.
    while (running) {
      await readOnce();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(await exits).toEqual([0, 0, 0]);
    const expected = new Set<string>();
    for (const writer of writers)
      for (const event of await chainEvents(store, writer.run, perWriter)) expected.add(event);
    // 3 writers × 120 gates: submit + task for each, a decision for every other one.
    expect(expected.size).toBe(3 * (perWriter * 2 + perWriter / 2));
    // The writers are done: read on until the feed holds every event (at once, except on PostgreSQL,
    // where an event is readable once every older transaction on the server has ended).
    await eventually(async () => {
      while ((await readOnce()) > 0);
      expect([...seen].sort()).toEqual([...expected].sort());
    });
    expect(duplicates).toEqual([]);
    // The tail really read while the writers wrote, not once at the end.
    expect(reads).toBeGreaterThan(10);
  }, 180_000);

  it('holds the feed entry of every event a writer recorded before it was killed, and nothing else', async () => {
    const { spec, store, hp } = await setup();
    const run = `crash-${randomBytes(4).toString('hex')}`;
    const count = 2_000;
    const writer = startFixture('feed-writer', [spec, run, String(count)]);
    // Killed in the middle of its work: 8 gates in flight, each between two of its events.
    await writer.next((line) => typeof line.finished === 'number' && line.finished >= 60, 60_000);
    writer.child.kill('SIGKILL');
    await finished(writer.child);
    const chains = await chainEvents(store, run, count);
    expect(chains.size).toBeGreaterThan(60);
    await eventually(async () =>
      expect([...(await readWholeFeed(hp, 250))].sort()).toEqual([...chains].sort()),
    );
  }, 120_000);
});
