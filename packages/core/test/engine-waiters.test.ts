import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HumanResult } from '../src/index.js';
import { createStore } from '../src/store/create-store.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { engineFor } from './helpers/engine.js';
import { advance, eventuallyAtFakeTime, fakeClock, settle } from './helpers/fake-clock.js';
import { wrapStore } from './helpers/wrap-store.js';

const ann = 'ann@acme.test';
const opened: StoreBackend[] = [];

beforeEach(() => fakeClock());
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

/**
 * A memory store that hears no wake-ups (as if every message were lost), counts `readClaims` calls
 * and can hold them at a gate.
 */
async function deafStore(spec: string) {
  const store = await createStore(spec);
  opened.push(store);
  const counts = { reads: 0, keys: 0, inFlight: 0, mostInFlight: 0 };
  let gate: Promise<void> | undefined;
  const wrapped = wrapStore(store, {
    readClaims: async (keys) => {
      counts.reads++;
      counts.keys += keys.length;
      counts.inFlight++;
      counts.mostInFlight = Math.max(counts.mostInFlight, counts.inFlight);
      try {
        await gate;
        return await store.readClaims(keys);
      } finally {
        counts.inFlight--;
      }
    },
    subscribe: () => () => {},
  });
  const hold = () => {
    let open!: () => void;
    gate = new Promise((resolve) => {
      open = resolve;
    });
    return () => {
      gate = undefined;
      open();
    };
  };
  return { store: wrapped, counts, hold };
}

describe('the waiters’ safety-net poll', () => {
  it('reads the heads of 1,200 waited intents in 3 batched reads per round, and resumes a waiter whose wake-up was lost', async () => {
    const spec = `memory://waiters-${Math.random()}`;
    const { store, counts } = await deafStore(spec);
    const agent = await engineFor('unused', { store, pollInterval: '1s', timers: false });
    const human = await engineFor(spec, { timers: false });
    const results: HumanResult[] = [];
    const waits = Array.from({ length: 1_200 }, (_, index) =>
      agent
        .waitForHuman({ assignee: ann, idempotencyKey: `wait-${index}` })
        .then((result) => {
          results.push(result);
        })
        // The rest are rejected when the engine closes after the test.
        .catch(() => {}),
    );
    await settle();
    const [first] = (await human.listTasks({ status: 'pending', limit: 1 })).tasks;
    expect(first).toBeDefined();

    counts.reads = 0;
    counts.keys = 0;
    await advance(1_000);
    // One round: one read per 500 intents, asking only whether each moved past the seq last seen.
    await eventuallyAtFakeTime(() => expect(counts.reads).toBe(3));
    expect(counts.keys).toBe(1_200);

    // Decided on another engine; this one hears nothing, and the next round finds it.
    await human.decide(first?.id as string, { outcome: 'approved', actor: ann });
    await advance(1_000);
    await eventuallyAtFakeTime(() => expect(results).toHaveLength(1));
    expect(results[0]).toMatchObject({ status: 'decided', outcome: 'approved', taskId: first?.id });
    expect(waits).toHaveLength(1_200);
  });

  it('never starts a round while the last one still waits for the store', async () => {
    const spec = `memory://waiters-${Math.random()}`;
    const { store, counts, hold } = await deafStore(spec);
    const agent = await engineFor('unused', { store, pollInterval: '1s', timers: false });
    for (let index = 0; index < 20; index++) void agent.waitForHuman({ assignee: ann }).catch(() => {});
    await settle();
    const release = hold();
    counts.reads = 0;
    counts.mostInFlight = 0;
    await advance(1_000);
    await eventuallyAtFakeTime(() => expect(counts.reads).toBe(1));
    // Ten more intervals pass while the store does not answer: no second round piles up.
    for (let second = 0; second < 10; second++) await advance(1_000);
    expect(counts.reads).toBe(1);
    expect(counts.mostInFlight).toBe(1);
    release();
    await settle();
    // Once it ends, the next round comes an interval later.
    await advance(1_000);
    await eventuallyAtFakeTime(() => expect(counts.reads).toBe(2));
  });
});

describe('pages of the event feed with large contexts', () => {
  it('stop at about 8 MB of events, and the cursors still give every event exactly once', async () => {
    vi.useRealTimers();
    const hp = await engineFor(`memory://feed-${Math.random()}`, { timers: false });
    // Contexts may be up to 1 MiB each: twelve of 900 KB are more than one page may carry.
    const draft = 'x'.repeat(900 * 1024);
    for (let index = 0; index < 12; index++)
      await hp.requestHuman({ assignee: ann, context: { draft, index } });
    const pages: number[] = [];
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await hp.events({ limit: 100, ...(cursor === undefined ? {} : { since: cursor }) });
      if (page.events.length === 0) break;
      pages.push(page.events.length);
      seen.push(...page.events.map((event) => `${event.intentId}:${event.seq}`));
      cursor = page.cursor;
    }
    // 24 events (intent-submitted and task-created per task), 12 of them ~900 KB: at most 9 of those a page.
    expect(seen).toHaveLength(24);
    expect(new Set(seen).size).toBe(24);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages[0]).toBeLessThan(24);
  });
});
