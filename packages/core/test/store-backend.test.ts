import { eventually } from '@holdpoint/test-services';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { storeCases } from './helpers/stores.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publish until every inbox has the message (subscribing is asynchronous on some stores). */
async function publishUntilReceived(
  publisher: StoreBackend,
  message: string,
  inboxes: string[][],
): Promise<void> {
  await publisher.publish(message);
  await eventually(
    async () => {
      if (inboxes.every((inbox) => inbox.includes(message))) return;
      await publisher.publish(message);
      throw new Error(`"${message}" has not arrived in every inbox: ${JSON.stringify(inboxes)}`);
    },
    { interval: 50 },
  );
}

describe.each(storeCases)('StoreBackend contract on $name', (storeCase) => {
  const opened: StoreBackend[] = [];

  async function open(spec: string): Promise<StoreBackend> {
    const store = await createStore(spec);
    opened.push(store);
    return store;
  }

  /** Two backends on one fresh store, as two engines would have. */
  async function pair(): Promise<[StoreBackend, StoreBackend]> {
    const spec = storeCase.spec();
    return [await open(spec), await open(spec)];
  }

  beforeAll(() => storeCase.ready());

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  it('reports its kind', async () => {
    const [store] = await pair();
    expect(store.kind).toBe(storeCase.name);
  });

  it('lets the first writer of a claim win, on any backend of the store', async () => {
    const [first, second] = await pair();
    expect(await first.claim('decision:t1', 'ann')).toBe(true);
    expect(await first.claim('decision:t1', 'bob')).toBe(false);
    expect(await second.claim('decision:t1', 'bob')).toBe(false);
    expect(await second.readClaims(['decision:t1'])).toEqual(['ann']);
  });

  it('gives exactly one of 50 concurrent claims on one key', async () => {
    const [first, second] = await pair();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        (index % 2 === 0 ? first : second).claim('race', `caller-${index}`),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await first.readClaims(['race'])).toEqual([`caller-${winner}`]);
  });

  it('lets a lease lapse after its ttl, and then be taken again', async () => {
    const [first, second] = await pair();
    // Long enough to still hold on a busy machine while it is checked; then waited out.
    expect(await first.claim('lease', 'ann', 1_500)).toBe(true);
    expect(await second.claim('lease', 'bob', 1_500)).toBe(false);
    expect(await second.readClaims(['lease'])).toEqual(['ann']);
    await eventually(async () => expect(await second.readClaims(['lease'])).toEqual([undefined]));
    expect(await second.claim('lease', 'bob', 5_000)).toBe(true);
    expect(await first.claim('lease', 'ann', 5_000)).toBe(false);
    expect(await first.readClaims(['lease'])).toEqual(['bob']);
  });

  it('keeps a permanent claim past any lease length', async () => {
    const [store] = await pair();
    expect(await store.claim('audit:1', 'event')).toBe(true);
    await sleep(60);
    expect(await store.claim('audit:1', 'other', 10)).toBe(false);
    expect(await store.readClaims(['audit:1'])).toEqual(['event']);
  });

  it('releases a claim only for the value that holds it', async () => {
    const [first, second] = await pair();
    await first.claim('reminder:t1', 'engine-a', 5_000);
    await second.releaseClaim('reminder:t1', 'engine-b');
    expect(await second.readClaims(['reminder:t1'])).toEqual(['engine-a']);
    await second.releaseClaim('reminder:t1', 'engine-a');
    expect(await second.readClaims(['reminder:t1'])).toEqual([undefined]);
    expect(await second.claim('reminder:t1', 'engine-b', 5_000)).toBe(true);
    await first.releaseClaim('never-claimed', 'x');
  });

  it('does not release a lapsed lease that another caller has since taken', async () => {
    const [first, second] = await pair();
    await first.claim('job', 'engine-a', 50);
    await sleep(100);
    expect(await second.claim('job', 'engine-b', 5_000)).toBe(true);
    await first.releaseClaim('job', 'engine-a');
    expect(await first.readClaims(['job'])).toEqual(['engine-b']);
  });

  it('reads claims in the order asked, with undefined where there is none', async () => {
    const [store] = await pair();
    await store.claim('k1', 'v1');
    await store.claim('k3', 'v3');
    expect(await store.readClaims(['k3', 'k2', 'k1', 'k3'])).toEqual(['v3', undefined, 'v1', 'v3']);
    expect(await store.readClaims([])).toEqual([]);
  });

  it('keeps the claims of two prefixes apart', async () => {
    const spec = storeCase.spec();
    const plain = await open(spec);
    const otherPrefix = `other-${Math.random().toString(36).slice(2)}`;
    // A prefix in the URL (Redis) wins over the option, so replace it there too.
    const other = await createStore(spec.replace(/prefix=[^&]+/, `prefix=${otherPrefix}`), {
      prefix: otherPrefix,
    });
    opened.push(other);
    expect(await plain.claim('shared-key', 'a')).toBe(true);
    expect(await other.claim('shared-key', 'b')).toBe(true);
    expect(await other.readClaims(['shared-key'])).toEqual(['b']);
    await other.indexAdd('due', [{ member: 'x', score: 1 }]);
    expect(await plain.indexRange('due', { limit: 10 })).toEqual([]);
    // Tidy up the second prefix: the helper only knows the one it gave out.
    await other.releaseClaim('shared-key', 'b');
    await other.indexRemove('due', ['x']);
  });

  it('adds, re-scores, ranges and removes index members, lowest score first and ties by member', async () => {
    const [first, second] = await pair();
    await first.indexAdd('due', [
      { member: 'c', score: 30 },
      { member: 'a', score: 10 },
      { member: 'b', score: 20 },
    ]);
    expect(await second.indexRange('due', { limit: 10 })).toEqual([
      { member: 'a', score: 10 },
      { member: 'b', score: 20 },
      { member: 'c', score: 30 },
    ]);

    await first.indexAdd('due', [{ member: 'c', score: 5 }]);
    await first.indexAdd('due', [
      { member: 'e', score: 20 },
      { member: 'd', score: 20 },
    ]);
    expect(await second.indexRange('due', { limit: 10 })).toEqual([
      { member: 'c', score: 5 },
      { member: 'a', score: 10 },
      { member: 'b', score: 20 },
      { member: 'd', score: 20 },
      { member: 'e', score: 20 },
    ]);

    // Bounds are inclusive, and the limit takes the lowest scores.
    expect(
      (await second.indexRange('due', { min: 10, max: 20, limit: 10 })).map((entry) => entry.member),
    ).toEqual(['a', 'b', 'd', 'e']);
    expect(
      (await second.indexRange('due', { min: 10, max: 20, limit: 2 })).map((entry) => entry.member),
    ).toEqual(['a', 'b']);
    expect((await second.indexRange('due', { max: 9, limit: 10 })).map((entry) => entry.member)).toEqual([
      'c',
    ]);
    expect((await second.indexRange('due', { min: 21, limit: 10 })).map((entry) => entry.member)).toEqual([]);
    expect(await second.indexRange('due', { limit: 0 })).toEqual([]);

    await second.indexRemove('due', ['b', 'not-there']);
    await second.indexRemove('due', []);
    expect((await first.indexRange('due', { limit: 10 })).map((entry) => entry.member)).toEqual([
      'c',
      'a',
      'd',
      'e',
    ]);
    expect(await first.indexRange('other-index', { limit: 10 })).toEqual([]);
  });

  it('keeps scores exactly, including negative and millisecond timestamps', async () => {
    const [store] = await pair();
    const due = Date.parse('2026-11-20T09:00:00.123Z');
    await store.indexAdd('due', [
      { member: 'later', score: due },
      { member: 'negative', score: -1.5 },
    ]);
    expect(await store.indexRange('due', { min: -2, max: due, limit: 10 })).toEqual([
      { member: 'negative', score: -1.5 },
      { member: 'later', score: due },
    ]);
  });

  it('refuses a score that is not a finite number', async () => {
    const [store] = await pair();
    await expect(store.indexAdd('due', [{ member: 'x', score: Number.NaN }])).rejects.toMatchObject({
      code: 'VALIDATION',
    });
  });

  it('delivers a published message to subscribers of both backends, and stops after unsubscribe', async () => {
    const [first, second] = await pair();
    const own: string[] = [];
    const other: string[] = [];
    first.subscribe((message) => own.push(message));
    const stop = second.subscribe((message) => other.push(message));
    await publishUntilReceived(first, 'task-decided:t1', [own, other]);

    stop();
    const before = other.length;
    await first.publish('after-unsubscribe');
    await publishUntilReceived(first, 'still-subscribed', [own]);
    await sleep(100);
    expect(other.slice(before)).toEqual([]);
  });

  it('shares Keyv records between backends of one store', async () => {
    const [first, second] = await pair();
    expect(await first.keyv.set('task:t1', { status: 'pending', amount: 120 })).toBe(true);
    expect(await second.keyv.get('task:t1')).toEqual({ status: 'pending', amount: 120 });
    expect(await second.keyv.delete('task:t1')).toBe(true);
    expect(await first.keyv.get('task:t1')).toBeUndefined();
  });

  it('closes idempotently, leaves other backends on the store working, and refuses calls once closed', async () => {
    const [first, second] = await pair();
    second.subscribe(() => {});
    await second.close();
    await second.close();
    expect(await first.claim('after-close', 'x')).toBe(true);
    expect(await first.keyv.set('after-close', 1)).toBe(true);
    await expect(second.claim('after-close', 'y')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('appends an event with its feed entry, list entries and counters, all or nothing', async () => {
    const [first, second] = await pair();
    const writes = {
      indexAdd: [
        { index: 'list:all', member: 't1', score: -5 },
        { index: 'list:status:pending', member: 't1', score: -5 },
      ],
      counters: [
        { counter: 'count:pending', delta: 1 },
        { counter: 'count:pending', delta: 1 },
      ],
    };
    const feed = { intentId: 'int_a', seq: 1, taskId: 't1', assignees: ['ann', 'ann', 'bob'] };
    expect(await first.appendEvent('ev:int_a:1', '{"n":1}', feed, writes)).toBe(true);
    // The loser writes nothing: no second feed entry, no index change, no count.
    expect(
      await second.appendEvent('ev:int_a:1', '{"n":2}', feed, {
        indexAdd: [{ index: 'list:all', member: 'lost', score: 0 }],
        counters: [{ counter: 'count:pending', delta: 5 }],
      }),
    ).toBe(false);
    expect(await second.readClaims(['ev:int_a:1'])).toEqual(['{"n":1}']);
    expect((await second.indexRange('list:all', { limit: 10 })).map((entry) => entry.member)).toEqual(['t1']);
    expect(await second.readCounters(['count:pending', 'count:never'])).toEqual([2, 0]);
    expect(
      await first.appendEvent(
        'ev:int_a:2',
        '{"n":3}',
        { intentId: 'int_a', seq: 2, assignees: [] },
        {
          indexRemove: [{ index: 'list:status:pending', member: 't1' }],
          counters: [{ counter: 'count:pending', delta: -1 }],
        },
      ),
    ).toBe(true);
    expect(
      await first.appendEvent('ev:int_b:1', '{"n":4}', { intentId: 'int_b', seq: 1, assignees: ['bob'] }),
    ).toBe(true);
    expect(await second.indexRange('list:status:pending', { limit: 10 })).toEqual([]);
    expect(await second.readCounters(['count:pending'])).toEqual([1]);

    // On PostgreSQL an entry is readable once every older transaction on the server has ended.
    const all = await eventually(async () => {
      const read = await second.readFeed({ limit: 10 });
      expect(read.map((entry) => `${entry.intentId}:${entry.seq}`)).toEqual([
        'int_a:1',
        'int_a:2',
        'int_b:1',
      ]);
      return read;
    });
    expect(await second.feedHead()).toBe(all[2]?.position);
    const after = await first.readFeed({ limit: 10, after: all[0]?.position as string });
    expect(after.map((entry) => entry.position)).toEqual([all[1]?.position, all[2]?.position]);
    expect((await first.readFeed({ limit: 10, intentId: 'int_a' })).map((entry) => entry.seq)).toEqual([
      1, 2,
    ]);
    expect((await first.readFeed({ limit: 10, taskId: 't1' })).map((entry) => entry.seq)).toEqual([1]);
    expect((await first.readFeed({ limit: 10, assignee: 'bob' })).map((entry) => entry.intentId)).toEqual([
      'int_a',
      'int_b',
    ]);
    expect(await first.readFeed({ limit: 10, assignee: 'ann', intentId: 'int_b' })).toEqual([]);
    expect(await first.readFeed({ limit: 1, after: all[2]?.position as string })).toEqual([]);
    await expect(first.readFeed({ limit: 1, after: 'x' })).rejects.toMatchObject({ code: 'VALIDATION' });
  });

  it('writes records with the event that wins, replaces them with later events, and reads several at once', async () => {
    const [first, second] = await pair();
    const feed = (seq: number) => ({ intentId: 'int_r', seq, assignees: [] });
    const records = (n: number) => [
      { key: 'head:int_r', value: `{"seq":${n}}` },
      { key: 'task:t1', value: `{"n":${n}}` },
    ];
    expect(await first.appendEvent('ev:int_r:1', '{}', feed(1), { records: records(1) })).toBe(true);
    // The loser of the claim writes no record.
    expect(await second.appendEvent('ev:int_r:1', '{}', feed(1), { records: records(9) })).toBe(false);
    expect(await second.readRecords(['task:t1', 'task:none', 'head:int_r'])).toEqual([
      '{"n":1}',
      undefined,
      '{"seq":1}',
    ]);
    // A later event replaces what it names and leaves the rest; the last value of a key wins.
    expect(
      await second.appendEvent('ev:int_r:2', '{}', feed(2), {
        records: [
          { key: 'head:int_r', value: '{"seq":1.5}' },
          { key: 'head:int_r', value: '{"seq":2}' },
          { key: 'task:t2', value: '{"n":2}' },
        ],
      }),
    ).toBe(true);
    expect(await first.readRecords(['head:int_r', 'task:t1', 'task:t2'])).toEqual([
      '{"seq":2}',
      '{"n":1}',
      '{"n":2}',
    ]);
    expect(await first.readRecords([])).toEqual([]);
    await expect(
      first.appendEvent('ev:int_r:3', '{}', feed(3), { records: [{ key: 'task:t3', value: 'a\u0000b' }] }),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
    expect(await first.readClaims(['ev:int_r:3'])).toEqual([undefined]);
  });

  it('publishes the message of an event that wins, with the event, and none for one that loses', async () => {
    const [first, second] = await pair();
    const own: string[] = [];
    const other: string[] = [];
    first.subscribe((message) => own.push(message));
    second.subscribe((message) => other.push(message));
    await publishUntilReceived(first, 'listening', [own, other]);
    const feed = (seq: number) => ({ intentId: 'int_m', seq, assignees: [] });
    expect(await first.appendEvent('ev:int_m:1', '{}', feed(1), { message: 'wake:1' })).toBe(true);
    expect(await second.appendEvent('ev:int_m:1', '{}', feed(1), { message: 'lost:1' })).toBe(false);
    expect(await second.appendEvent('ev:int_m:2', '{}', feed(2), { message: 'wake:2' })).toBe(true);
    // Messages of one publisher arrive in the order sent (of two, in any order): once `wake:2` is
    // in, a `lost:1` sent before it by the same backend would be too.
    const received = (inbox: string[]) => inbox.filter((message) => message !== 'listening').sort();
    await eventually(() => {
      expect(received(own)).toEqual(['wake:1', 'wake:2']);
      expect(received(other)).toEqual(['wake:1', 'wake:2']);
    });
    await expect(
      first.appendEvent('ev:int_m:3', '{}', feed(3), { message: 'a\u0000b' }),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
    expect(await first.readClaims(['ev:int_m:3'])).toEqual([undefined]);
  });

  it('answers each of many concurrent record reads with its own keys, in its order', async () => {
    // A backend may answer concurrent reads with one statement (PostgreSQL does).
    const [store] = await pair();
    const records = Array.from({ length: 20 }, (_, n) => ({ key: `rec:c${n}`, value: `v${n}` }));
    expect(
      await store.appendEvent('ev:int_c:1', '{}', { intentId: 'int_c', seq: 1, assignees: [] }, { records }),
    ).toBe(true);
    const asked = Array.from({ length: 60 }, (_, n) => [
      `rec:c${(n * 7) % 20}`,
      `rec:none${n}`,
      `rec:c${n % 20}`,
      `rec:c${(n * 7) % 20}`,
    ]);
    const answers = await Promise.all(asked.map((keys) => store.readRecords(keys)));
    answers.forEach((values, n) => {
      expect(values).toEqual([`v${(n * 7) % 20}`, undefined, `v${n % 20}`, `v${(n * 7) % 20}`]);
    });
    await expect(store.readRecords(['rec:c1', 42 as unknown as string])).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await store.close();
    await expect(store.readRecords(['rec:c1'])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('answers each of many concurrent appends for its own events, whatever they are recorded with', async () => {
    // A backend may record concurrent appends together (PostgreSQL does): rivals for one key, a
    // retry whose idempotency claim is held and a refused value among them change no other answer.
    const [store, other] = await pair();
    const heard: string[] = [];
    other.subscribe((message) => heard.push(message));
    await publishUntilReceived(store, 'listening', [heard]);
    expect(await store.claim('idem:held', 'earlier')).toBe(true);
    const pairs = 12;
    const calls: Array<Promise<boolean>> = [];
    for (let n = 0; n < pairs; n++) {
      const feed = { intentId: `int_g${n}`, seq: 1, taskId: `tsk_g${n}`, assignees: [`p${n}@acme.test`] };
      const writes = (who: string) => ({
        indexAdd: [{ index: 'list:g', member: `tsk_g${n}`, score: n }],
        counters: [{ counter: 'count:g', delta: 1 }],
        records: [{ key: `rec:g${n}`, value: who }],
        message: `woke:${n}:${who}`,
      });
      calls.push(store.appendEvent(`ev:int_g${n}:1`, `{"by":"first"}`, feed, writes('first')));
      calls.push(store.appendEvent(`ev:int_g${n}:1`, `{"by":"second"}`, feed, writes('second')));
    }
    // Appends without a rival, each of which must be recorded.
    const solos = Array.from({ length: 6 }, (_, n) =>
      store.appendEvent(
        `ev:int_s${n}:1`,
        '{}',
        { intentId: `int_s${n}`, seq: 1, assignees: [] },
        { counters: [{ counter: 'count:s', delta: 1 }], message: `woke:s${n}` },
      ),
    );
    const appendEvents = store.appendEvents?.bind(store);
    if (!appendEvents) throw new Error(`${storeCase.name} has no appendEvents`);
    const held = appendEvents(
      [{ key: 'ev:int_h:1', value: '{}', feed: { intentId: 'int_h', seq: 1, assignees: [] } }],
      { counters: [{ counter: 'count:g', delta: 100 }], message: 'woke:held' },
      [{ key: 'idem:held', value: 'retry' }],
    );
    const refused = store.appendEvent(
      'ev:int_z:1',
      '{}',
      { intentId: 'int_z', seq: 1, assignees: [] },
      { counters: [{ counter: 'count:g', delta: 1000 }], message: 'a\u0000b' },
    );
    const [results, soloResults, heldResult, refusedResult] = await Promise.all([
      Promise.all(calls),
      Promise.all(solos),
      held,
      refused.then(
        () => 'recorded',
        (error: { code?: string }) => error.code,
      ),
    ]);
    expect(soloResults).toEqual(solos.map(() => true));
    expect(await store.readCounters(['count:s'])).toEqual([solos.length]);
    expect(heldResult).toBe(false);
    expect(refusedResult).toBe('VALIDATION');
    const winners: string[] = [];
    for (let n = 0; n < pairs; n++) {
      const [first, second] = [results[2 * n], results[2 * n + 1]];
      expect([first, second].filter(Boolean)).toHaveLength(1);
      winners.push(first ? 'first' : 'second');
    }
    expect(await store.readClaims(winners.map((_, n) => `ev:int_g${n}:1`))).toEqual(
      winners.map((who) => `{"by":"${who}"}`),
    );
    expect(await store.readRecords(winners.map((_, n) => `rec:g${n}`))).toEqual(winners);
    expect(await store.readCounters(['count:g'])).toEqual([pairs]);
    expect((await store.indexRange('list:g', { limit: 100 })).length).toBe(pairs);
    expect(await store.readClaims(['ev:int_h:1', 'ev:int_z:1', 'idem:held'])).toEqual([
      undefined,
      undefined,
      'earlier',
    ]);
    const feed = await store.readFeed({ limit: 100 });
    expect(feed.map((entry) => entry.intentId).sort()).toEqual(
      [...winners.map((_, n) => `int_g${n}`), ...solos.map((_, n) => `int_s${n}`)].sort(),
    );
    expect(
      (await store.readFeed({ limit: 100, assignee: 'p3@acme.test' })).map((entry) => entry.intentId),
    ).toEqual(['int_g3']);
    await eventually(() => {
      expect(heard.filter((message) => message !== 'listening').sort()).toEqual(
        [...winners.map((who, n) => `woke:${n}:${who}`), ...solos.map((_, n) => `woke:s${n}`)].sort(),
      );
    });
  });

  it('releases the leases an event names when it wins, each only while it holds the value given', async () => {
    const [first, second] = await pair();
    const feed = (seq: number) => ({ intentId: 'int_l', seq, assignees: [] });
    await first.claim('lease:timer:a', 'engine-a', 5_000);
    await first.claim('lease:timer:b', 'engine-b', 5_000);
    await first.claim('lease:timer:c', 'engine-a', 5_000);
    const releases = [
      { key: 'lease:timer:a', value: 'engine-a' },
      // Held by another value: kept.
      { key: 'lease:timer:b', value: 'engine-a' },
      { key: 'lease:timer:never', value: 'engine-a' },
    ];
    expect(await second.appendEvent('ev:int_l:1', '{}', feed(1), { releaseClaims: releases })).toBe(true);
    expect(await first.readClaims(['lease:timer:a', 'lease:timer:b', 'lease:timer:c'])).toEqual([
      undefined,
      'engine-b',
      'engine-a',
    ]);
    // An event that loses releases nothing.
    const lost = [{ key: 'lease:timer:c', value: 'engine-a' }];
    expect(await second.appendEvent('ev:int_l:1', '{}', feed(1), { releaseClaims: lost })).toBe(false);
    expect(await first.readClaims(['lease:timer:c'])).toEqual(['engine-a']);
    await expect(
      first.appendEvent('ev:int_l:2', '{}', feed(2), {
        releaseClaims: [{ key: 'lease:timer:a', value: 'a\u0000b' }],
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
  });

  it('appends several events with a claim in one transaction, or nothing when any key is held', async () => {
    const [first, second] = await pair();
    const append = first.appendEvents?.bind(first);
    expect(append).toBeTypeOf('function');
    if (!append) return;
    const messages: string[] = [];
    second.subscribe((message) => messages.push(message));
    await publishUntilReceived(first, 'listening', [messages]);
    const events = (intentId: string) => [
      { key: `ev:${intentId}:1`, value: `{"${intentId}":1}`, feed: { intentId, seq: 1, assignees: [] } },
      {
        key: `ev:${intentId}:2`,
        value: `{"${intentId}":2}`,
        feed: { intentId, seq: 2, taskId: `tsk_${intentId}`, assignees: ['ann'] },
      },
    ];
    const writes = (intentId: string) => ({
      indexAdd: [{ index: 'list:all', member: `tsk_${intentId}`, score: 1 }],
      counters: [{ counter: 'count:pending', delta: 1 }],
      records: [{ key: `task:tsk_${intentId}`, value: intentId }],
      message: `wake:${intentId}`,
    });
    expect(await append(events('int_x'), writes('int_x'), [{ key: 'idem:k', value: 'int_x' }])).toBe(true);
    expect(await second.readClaims(['ev:int_x:1', 'ev:int_x:2', 'idem:k'])).toEqual([
      '{"int_x":1}',
      '{"int_x":2}',
      'int_x',
    ]);
    // The same key for other events: held, so none of them is stored — not the events' keys, not
    // their feed entries, lists, counts, records or message.
    expect(
      await second.appendEvents?.(events('int_y'), writes('int_y'), [{ key: 'idem:k', value: 'int_y' }]),
    ).toBe(false);
    // A held event key refuses the call the same way, whichever key comes first.
    expect(
      await second.appendEvents?.(
        [...events('int_z').slice(0, 1), ...events('int_x').slice(1)],
        writes('int_z'),
      ),
    ).toBe(false);
    expect(await first.readClaims(['ev:int_y:1', 'ev:int_y:2', 'ev:int_z:1', 'idem:k'])).toEqual([
      undefined,
      undefined,
      undefined,
      'int_x',
    ]);
    expect((await first.indexRange('list:all', { limit: 10 })).map((entry) => entry.member)).toEqual([
      'tsk_int_x',
    ]);
    expect(await first.readCounters(['count:pending'])).toEqual([1]);
    expect(await first.readRecords(['task:tsk_int_x', 'task:tsk_int_y', 'task:tsk_int_z'])).toEqual([
      'int_x',
      undefined,
      undefined,
    ]);
    const feed = await eventually(async () => {
      const read = await second.readFeed({ limit: 10 });
      expect(read.map((entry) => `${entry.intentId}:${entry.seq}`)).toEqual(['int_x:1', 'int_x:2']);
      return read;
    });
    expect(await second.feedHead()).toBe(feed[1]?.position);
    expect((await first.readFeed({ limit: 10, assignee: 'ann' })).map((entry) => entry.seq)).toEqual([2]);
    expect((await first.readFeed({ limit: 10, taskId: 'tsk_int_x' })).map((entry) => entry.seq)).toEqual([2]);
    // A lapsed lease on a key is not held.
    expect(await first.claim('idem:lease', 'old', 1)).toBe(true);
    await sleep(20);
    expect(await second.appendEvents?.(events('int_w'), {}, [{ key: 'idem:lease', value: 'int_w' }])).toBe(
      true,
    );
    expect(await first.readClaims(['idem:lease', 'ev:int_w:2'])).toEqual(['int_w', '{"int_w":2}']);
    await eventually(() =>
      expect(messages.filter((message) => message.startsWith('wake:'))).toEqual(['wake:int_x']),
    );
    // The same key twice, or no events, is a mistake of the caller.
    await expect(append([...events('int_v'), ...events('int_v').slice(1)])).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    await expect(append([], {}, [{ key: 'idem:v', value: 'v' }])).rejects.toMatchObject({
      code: 'VALIDATION',
    });
    expect(await first.readClaims(['ev:int_v:1', 'idem:v'])).toEqual([undefined, undefined]);
  });

  it('reads an index after a (score, member) keyset cursor, whether or not the member is still there', async () => {
    const [store] = await pair();
    await store.indexAdd('ties', [
      { member: 'a', score: 1 },
      { member: 'b', score: 1 },
      { member: 'c', score: 1 },
      { member: 'd', score: 2 },
      { member: 'e', score: 3 },
    ]);
    const members = async (options: Parameters<StoreBackend['indexRange']>[1]) =>
      (await store.indexRange('ties', options)).map((entry) => entry.member);
    expect(await members({ limit: 10, after: { score: 1, member: 'a' } })).toEqual(['b', 'c', 'd', 'e']);
    expect(await members({ limit: 2, after: { score: 1, member: 'b' } })).toEqual(['c', 'd']);
    // Not in the index (any more): the entries after where it would be.
    expect(await members({ limit: 10, after: { score: 1, member: 'bb' } })).toEqual(['c', 'd', 'e']);
    expect(await members({ limit: 10, after: { score: 0, member: 'z' } })).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(await members({ limit: 10, after: { score: 1, member: 'c' }, max: 2 })).toEqual(['d']);
    expect(await members({ limit: 10, after: { score: 0, member: 'a' }, min: 2 })).toEqual(['d', 'e']);
    expect(await members({ limit: 10, after: { score: 3, member: 'e' } })).toEqual([]);
    // The index is as it was.
    expect(await members({ limit: 10 })).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
