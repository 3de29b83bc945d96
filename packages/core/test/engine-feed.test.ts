// The event feed and the task lists on every store: a cursor that never skips or repeats, filters
// answered by their own index, and lists that stay exact however many other tasks there are.
import { eventually } from '@holdpoint/test-services';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Holdpoint } from '../src/index.js';
import { createStore } from '../src/store/create-store.js';
import { engineFor, errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

const ann = 'ann@acme.test';
const bob = 'bob@acme.test';
const carl = 'carl@acme.test';

afterEach(() => {
  vi.useRealTimers();
});

/** Read the feed (with a filter) from the start in pages of `limit`; every event once, or throw. */
async function readAll(hp: Holdpoint, limit: number, filter: Parameters<Holdpoint['events']>[0] = {}) {
  const ids: string[] = [];
  const seen = new Set<string>();
  let since: string | undefined;
  for (let pages = 0; ; pages++) {
    const page = await hp.events({ ...filter, limit, ...(since === undefined ? {} : { since }) });
    for (const [at, entry] of page.entries.entries()) {
      const id = `${entry.event.intentId}:${entry.event.seq}`;
      if (seen.has(id)) throw new Error(`${id} was read twice`);
      seen.add(id);
      ids.push(id);
      expect(page.events[at]).toBe(entry.event);
    }
    if (page.entries.length > 0) expect(page.cursor).toBe(page.entries.at(-1)?.cursor);
    since = page.cursor;
    if (page.entries.length < limit) return ids;
    if (pages > 100_000) throw new Error('the feed never ends');
  }
}

/** `<intentId>:<seq>` of every event of these intents, from their chains. */
async function chainIds(hp: Holdpoint, intentIds: Iterable<string>): Promise<string[]> {
  const ids: string[] = [];
  for (const intentId of intentIds) {
    const { seq } = await hp.getIntent(intentId);
    for (let at = 1; at <= seq; at++) ids.push(`${intentId}:${at}`);
  }
  return ids.sort();
}

/**
 * Wait until the whole feed holds exactly the events of these intents' chains. On PostgreSQL an
 * event becomes readable once every older transaction on the server has ended (docs/engine.md).
 */
async function caughtUp(hp: Holdpoint, intentIds: Iterable<string>): Promise<void> {
  const expected = await chainIds(hp, intentIds);
  await eventually(async () => expect((await readAll(hp, 1_000)).sort()).toEqual(expected));
}

describe.each(storeCases)('the event feed on $name', (storeCase) => {
  async function engine(spec = storeCase.spec()): Promise<Holdpoint> {
    await storeCase.ready();
    // Some tests fake Date after the engine started: it must run on the process's clock.
    return engineFor(spec, { timers: false, clock: 'local' });
  }

  it('pages a burst of 3,000 events recorded in one millisecond, each exactly once', async () => {
    const hp = await engine();
    // Every event carries the same time: the feed must not lean on time to order them.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T09:00:00Z'));
    const intents = await Promise.all(
      Array.from({ length: 3_000 }, (_, index) => hp.submit({ type: 'burst', input: index })),
    );
    const ids = await eventually(async () => {
      const read = await readAll(hp, 10);
      expect(read).toHaveLength(3_000);
      return read;
    });
    expect(ids.sort()).toEqual(intents.map((intent) => `${intent.id}:1`).sort());
    const { events } = await hp.events({ limit: 1_000 });
    expect(new Set(events.map((event) => event.at))).toEqual(new Set(['2026-11-20T09:00:00.000Z']));
  }, 120_000);

  it('gives a reader tailing the feed every event once while three engines write', async () => {
    await storeCase.ready();
    const spec = storeCase.spec();
    const writers = await Promise.all([0, 1, 2].map(() => engineFor(spec, { timers: false })));
    const reader = await engineFor(spec, { timers: false });
    const intentIds = new Set<string>();
    let writing = true;
    const work = Promise.all(
      writers.map(async (hp, writer) => {
        for (let round = 0; round < 40; round++) {
          const task = await hp.requestHuman({ assignee: round % 2 === 0 ? ann : bob });
          intentIds.add(task.intentId);
          if (round % 2 === 1) await hp.decide(task.id, { outcome: 'approved', actor: bob });
          if (round % 10 === writer) await hp.cancel(task.intentId);
        }
      }),
    ).finally(() => {
      writing = false;
    });
    const seen: string[] = [];
    let since: string | undefined;
    const readOnce = async () => {
      const page = await reader.events({ limit: 5, ...(since === undefined ? {} : { since }) });
      seen.push(...page.events.map((event) => `${event.intentId}:${event.seq}`));
      since = page.cursor;
      return page.events.length;
    };
    // A tail polls, as an SSE stream does: every couple of milliseconds (the pause also lets the
    // stores that answer synchronously hand the event loop to the writers).
    while (writing) {
      await readOnce();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await work;
    // Read on until the feed holds every event (at once, except on PostgreSQL: see caughtUp).
    const expected = await chainIds(reader, intentIds);
    await eventually(async () => {
      while ((await readOnce()) > 0);
      expect([...seen].sort()).toEqual(expected);
    });
    expect(new Set(seen).size).toBe(seen.length);
  }, 60_000);

  it('filters by intent, task and assignee, each exactly, in pages', async () => {
    const hp = await engine();
    const annTasks = [];
    const bobTasks = [];
    for (let round = 0; round < 12; round++) {
      const mine = await hp.requestHuman({ assignee: ann, title: `ann ${round}` });
      annTasks.push(mine);
      const theirs = await hp.requestHuman({ assignee: bob, title: `bob ${round}` });
      bobTasks.push(theirs);
      if (round % 3 === 0) await hp.decide(mine.id, { outcome: 'approved', actor: ann });
      if (round % 4 === 0) await hp.cancel(theirs.intentId);
    }
    // One intent with a task for each of them.
    const shared = await hp.submit({ type: 'shared' });
    const sharedAnn = await hp.requestHuman({ intentId: shared.id, assignee: ann });
    const sharedBob = await hp.requestHuman({ intentId: shared.id, assignee: bob });
    await hp.cancel(shared.id);
    await caughtUp(
      hp,
      [...annTasks, ...bobTasks, sharedAnn].map((task) => task.intentId),
    );

    expect(await readAll(hp, 2, { intentId: shared.id })).toEqual(
      [1, 2, 3, 4].map((seq) => `${shared.id}:${seq}`),
    );
    const sharedEvents = (await hp.events({ intentId: shared.id })).events;
    expect(sharedEvents.map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
      'task-created',
      'intent-canceled',
    ]);
    const taskIds = await readAll(hp, 1, { taskId: annTasks[0]?.id as string });
    expect(taskIds).toEqual([`${annTasks[0]?.intentId}:2`, `${annTasks[0]?.intentId}:3`]);
    expect(await readAll(hp, 3, { taskId: sharedBob.id })).toEqual([`${shared.id}:3`]);

    // Ann's feed: every event of her tasks, and the cancellation of the intent that ended hers.
    const annIds = await readAll(hp, 4, { assignee: ann });
    const expected = [
      ...annTasks.flatMap((task, round) => [
        `${task.intentId}:2`,
        ...(round % 3 === 0 ? [`${task.intentId}:3`] : []),
      ]),
      `${shared.id}:2`,
      `${shared.id}:4`,
    ];
    expect(annIds.sort()).toEqual(expected.sort());
    expect(sharedAnn.assignees).toEqual([ann]);
    // Filters combine.
    expect(await readAll(hp, 5, { assignee: bob, intentId: shared.id })).toEqual([
      `${shared.id}:3`,
      `${shared.id}:4`,
    ]);
    expect(await readAll(hp, 5, { assignee: bob, taskId: sharedAnn.id })).toEqual([]);
    expect(bobTasks).toHaveLength(12);
  }, 60_000);

  it("reads only what comes after 'now', and resumes from any entry's cursor", async () => {
    const hp = await engine();
    const before = await hp.submit({ type: 'before' });
    await caughtUp(hp, [before.id]);
    const now = await hp.events({ since: 'now' });
    expect(now.events).toEqual([]);
    const later = await hp.submit({ type: 'after' });
    const page = await eventually(async () => {
      const read = await hp.events({ since: now.cursor });
      expect(read.events.map((event) => event.intentId)).toEqual([later.id]);
      return read;
    });
    const all = await hp.events({ limit: 10 });
    expect(all.entries).toHaveLength(2);
    const resumed = await hp.events({ since: all.entries[0]?.cursor as string });
    expect(resumed.events.map((event) => event.intentId)).toEqual([later.id]);
    // Nothing new: the same cursor comes back, to read on from later.
    expect((await hp.events({ since: page.cursor })).cursor).toBe(page.cursor);
  });

  it('refuses a cursor that is not one with VALIDATION', async () => {
    const hp = await engine();
    await hp.submit({ type: 'one' });
    for (const since of ['', 'abc', '-1', '1.5.5', '1|int_x:1', '99999999999999999999999', ' 1']) {
      const error = await errorOf(hp.events({ since }));
      expect(error.code, `since ${JSON.stringify(since)}`).toBe('VALIDATION');
      expect(error.message).toContain('cursor');
    }
    expect((await errorOf(hp.events({ since: 5 as never }))).code).toBe('VALIDATION');
    expect((await errorOf(hp.events({ intentId: '\u0000' }))).code).toBe('VALIDATION');
    // A well-formed cursor ahead of the feed (another store's, or this one's before it was emptied):
    // a reader resuming there would wait past the events to come, so it is refused.
    const head = (await hp.events({ since: 'now' })).cursor;
    const parts = head.split('.');
    const ahead = [...parts.slice(0, -1), String(Number(parts.at(-1)) + 1_000)].join('.');
    const error = await errorOf(hp.events({ since: ahead }));
    expect(error.code).toBe('VALIDATION');
    expect(error.message).toContain('ahead of this store');
    // The head itself, and the start, still read.
    expect((await hp.events({ since: head })).entries).toEqual([]);
    expect((await hp.events({ since: '0' })).entries.length).toBeGreaterThan(0);
  });
});

describe.each(storeCases)('listTasks and taskCounts on $name', (storeCase) => {
  async function engine(): Promise<Holdpoint> {
    await storeCase.ready();
    return engineFor(storeCase.spec(), { timers: false });
  }

  /** Every task of a query, page by page; each once, or throw. */
  async function listAll(hp: Holdpoint, query: Parameters<Holdpoint['listTasks']>[0], limit: number) {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await hp.listTasks({ ...query, limit, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.tasks.length).toBeLessThanOrEqual(limit);
      ids.push(...page.tasks.map((task) => task.id));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    return ids;
  }

  it('finds 5 decided tasks behind 2,100 newer pending ones, and counts both without reading them', async () => {
    await storeCase.ready();
    const spec = storeCase.spec();
    const hp = await engineFor(spec, { timers: false });
    const decided: string[] = [];
    for (let index = 0; index < 5; index++) {
      const task = await hp.requestHuman({ assignee: ann, title: `decided ${index}` });
      await hp.decide(task.id, { outcome: 'approved', actor: ann });
      decided.unshift(task.id);
    }
    // Newest first; tasks created in the same millisecond by id.
    const order = await Promise.all(decided.map((id) => hp.getTask(id)));
    decided.splice(
      0,
      decided.length,
      ...order
        .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? -1 : 1))
        .map((task) => task.id),
    );
    for (let batch = 0; batch < 21; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => hp.requestHuman({ assignee: bob })));
    }
    expect((await hp.listTasks({ status: 'decided' })).tasks.map((task) => task.id)).toEqual(decided);
    expect(await listAll(hp, { status: 'decided' }, 2)).toEqual(decided);
    expect(await listAll(hp, { assignee: ann, status: 'decided' }, 3)).toEqual(decided);
    expect(await listAll(hp, { assignee: ann }, 4)).toEqual(decided);
    const pending = await hp.listTasks({ status: 'pending', limit: 10_000 });
    expect(pending.tasks).toHaveLength(2_100);
    expect(pending.cursor).toBeUndefined();
    expect(await hp.taskCounts()).toEqual({
      pending: 2_100,
      decided: 5,
      timed_out: 0,
      canceled: 0,
      total: 2_105,
    });
    expect(await hp.taskCounts({ assignee: ann })).toEqual({
      pending: 0,
      decided: 5,
      timed_out: 0,
      canceled: 0,
      total: 5,
    });
    expect((await hp.taskCounts({ assignee: bob })).pending).toBe(2_100);
    // The counts are counters: an engine on the same store reads them in one call, and no list or record.
    const store = await createStore(spec);
    const calls: string[] = [];
    const watch =
      <A extends unknown[], R>(name: string, call: (...args: A) => R) =>
      (...args: A): R => {
        calls.push(name);
        return call(...args);
      };
    const counted = wrapStore(store, {
      readCounters: watch('readCounters', (counters: string[]) => store.readCounters(counters)),
      indexRange: watch('indexRange', store.indexRange.bind(store)),
      readRecords: watch('readRecords', store.readRecords.bind(store)),
      readFeed: watch('readFeed', store.readFeed.bind(store)),
    });
    const cold = await engineFor('unused', { store: counted, timers: false });
    try {
      calls.length = 0;
      expect((await cold.taskCounts()).total).toBe(2_105);
      expect((await cold.taskCounts({ assignee: bob })).pending).toBe(2_100);
      expect(calls).toEqual(['readCounters', 'readCounters']);
    } finally {
      await cold.close();
      await store.close();
    }
  }, 180_000);

  it('reads a page of tasks from 60 intents in two store reads: the list, then their records', async () => {
    await storeCase.ready();
    const spec = storeCase.spec();
    const hp = await engineFor(spec, { timers: false });
    const created = await Promise.all(
      Array.from({ length: 60 }, (_, n) => hp.requestHuman({ assignee: ann, title: `task ${n}` })),
    );
    // A cold engine (nothing cached) on the same store, its store calls counted.
    const store = await createStore(spec);
    const calls: string[] = [];
    const counted = wrapStore(store, {
      indexRange: (index, options) => {
        calls.push('indexRange');
        return store.indexRange(index, options);
      },
      readRecords: (keys) => {
        calls.push('readRecords');
        return store.readRecords(keys);
      },
      readClaims: (keys) => {
        calls.push('readClaims');
        return store.readClaims(keys);
      },
    });
    const cold = await engineFor('unused', { store: counted, timers: false });
    try {
      calls.length = 0;
      const first = await cold.listTasks({ assignee: ann, status: 'pending', limit: 50 });
      expect(calls).toEqual(['indexRange', 'readRecords']);
      calls.length = 0;
      const second = await cold.listTasks({
        assignee: ann,
        status: 'pending',
        limit: 50,
        ...(first.cursor === undefined ? {} : { cursor: first.cursor }),
      });
      expect(calls).toEqual(['indexRange', 'readRecords']);
      expect([...first.tasks, ...second.tasks].map((task) => task.id).sort()).toEqual(
        created.map((task) => task.id).sort(),
      );
      expect(second.cursor).toBeUndefined();
    } finally {
      await cold.close();
      await store.close();
    }
  });

  it('answers every filter exactly behind 2,000 newer tasks, newest first, page by page', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T09:00:00Z'));
    const hp = await engine();
    const created: Array<{ id: string; intentId: string; kind: string; createdAt: string }> = [];
    const intent = await hp.submit({ type: 'several' });
    for (let index = 0; index < 30; index++) {
      vi.setSystemTime(new Date(Date.parse('2026-11-20T09:00:00Z') + index * 1_000));
      const assignee = index % 3 === 0 ? ann : bob;
      const task = await hp.requestHuman({
        assignee,
        ...(index % 2 === 0 ? { task: 'review' as const } : {}),
        ...(index % 5 === 0 ? { timeout: '1h' } : { timeout: '1d' }),
        ...(index % 7 === 0 ? { intentId: intent.id } : {}),
      });
      let kind = 'pending';
      if (index % 4 === 1) {
        await hp.decide(task.id, { outcome: index % 2 === 0 ? 'approved' : 'approved', actor: assignee });
        kind = 'decided';
      } else if (index % 4 === 2) {
        await hp.cancelTask(task.id);
        kind = 'canceled';
      }
      created.push({ id: task.id, intentId: task.intentId, kind, createdAt: task.createdAt });
    }
    // 2,000 newer pending approvals of another assignee, each with a deadline a day away: every
    // filter's tasks above lie behind them in every list that holds both.
    vi.setSystemTime(new Date(Date.parse('2026-11-20T09:00:00Z') + 60_000));
    for (let batch = 0; batch < 20; batch++) {
      const others = await Promise.all(
        Array.from({ length: 100 }, () => hp.requestHuman({ assignee: carl, timeout: '1d' })),
      );
      for (const task of others)
        created.push({ id: task.id, intentId: task.intentId, kind: 'pending', createdAt: task.createdAt });
    }
    // Newest first; tasks created in the same millisecond by id.
    const newestFirst = [...created].sort(
      (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? -1 : 1),
    );
    const ids = (predicate: (entry: (typeof created)[number]) => boolean) =>
      newestFirst.filter(predicate).map((entry) => entry.id);
    const indexOf = (id: string) => created.findIndex((entry) => entry.id === id);
    const isAnn = (id: string) => indexOf(id) % 3 === 0 && indexOf(id) < 30;
    const isBob = (id: string) => indexOf(id) % 3 !== 0 && indexOf(id) < 30;
    const isReview = (id: string) => indexOf(id) % 2 === 0 && indexOf(id) < 30;

    expect(await listAll(hp, {}, 97)).toEqual(ids(() => true));
    expect(await listAll(hp, { status: 'pending' }, 91)).toEqual(ids((entry) => entry.kind === 'pending'));
    expect(await listAll(hp, { status: 'canceled' }, 2)).toEqual(ids((entry) => entry.kind === 'canceled'));
    expect(await listAll(hp, { assignee: ann }, 3)).toEqual(ids((entry) => isAnn(entry.id)));
    expect(await listAll(hp, { assignee: bob, status: 'pending' }, 3)).toEqual(
      ids((entry) => isBob(entry.id) && entry.kind === 'pending'),
    );
    expect(await listAll(hp, { assignee: carl, status: 'decided' }, 3)).toEqual([]);
    expect(await listAll(hp, { type: 'approval', status: 'canceled' }, 2)).toEqual(
      ids((entry) => !isReview(entry.id) && entry.kind === 'canceled'),
    );
    expect(await listAll(hp, { type: 'review' }, 5)).toEqual(ids((entry) => isReview(entry.id)));
    expect(await listAll(hp, { type: 'review', status: 'decided' }, 1)).toEqual(
      ids((entry) => isReview(entry.id) && entry.kind === 'decided'),
    );
    // A combination without an index of its own: the assignee's list, the type checked per task.
    expect(await listAll(hp, { assignee: ann, type: 'approval' }, 2)).toEqual(
      ids((entry) => isAnn(entry.id) && !isReview(entry.id)),
    );
    expect(await listAll(hp, { intentId: intent.id }, 2)).toEqual(
      ids((entry) => entry.intentId === intent.id),
    );
    expect(await listAll(hp, { intentId: intent.id, status: 'pending' }, 1)).toEqual(
      ids((entry) => entry.intentId === intent.id && entry.kind === 'pending'),
    );
    expect((await hp.listTasks({ intentId: 'int_unknown' })).tasks).toEqual([]);

    // Two hours on: the pending tasks with a one-hour timeout are overdue (no engine fired their timers).
    vi.setSystemTime(new Date(Date.parse('2026-11-20T09:00:00Z') + 2 * 3_600_000));
    const overdue = created
      .filter((entry, index) => entry.kind === 'pending' && index % 5 === 0 && index < 30)
      .map((entry) => entry.id);
    expect(overdue.length).toBeGreaterThan(1);
    // Most overdue first: the oldest deadline first.
    expect(await listAll(hp, { overdue: true }, 1)).toEqual(overdue);
    expect(await listAll(hp, { overdue: true, assignee: ann }, 2)).toEqual(overdue.filter(isAnn));
    expect(await listAll(hp, { overdue: true, status: 'decided' }, 2)).toEqual([]);
    expect(await listAll(hp, { overdue: true, type: 'review' }, 2)).toEqual(overdue.filter(isReview));
    expect(await listAll(hp, { overdue: false, status: 'pending' }, 93)).toEqual(
      ids((entry) => entry.kind === 'pending' && !overdue.includes(entry.id)),
    );
    expect(await hp.taskCounts()).toEqual({
      pending: ids((entry) => entry.kind === 'pending').length,
      decided: ids((entry) => entry.kind === 'decided').length,
      timed_out: 0,
      canceled: ids((entry) => entry.kind === 'canceled').length,
      total: 2_030,
    });
  }, 120_000);

  it('moves a task between lists and counts as it escalates, and refuses bad queries', async () => {
    await storeCase.ready();
    const hp = await engineFor(storeCase.spec(), { pollInterval: '24h' });
    const task = await hp.requestHuman({
      assignee: ann,
      timeout: 1,
      escalateTo: [{ assignee: bob, timeout: '1h' }],
    });
    await expect
      .poll(async () =>
        (await hp.listTasks({ assignee: bob, status: 'pending' })).tasks.map((listed) => listed.id),
      )
      .toEqual([task.id]);
    expect((await hp.taskCounts({ assignee: bob })).pending).toBe(1);
    expect(
      (await hp.listTasks({ assignee: ann, status: 'pending' })).tasks.map((listed) => listed.id),
    ).toEqual([task.id]);
    await hp.decide(task.id, { outcome: 'approved', actor: bob });
    expect((await hp.listTasks({ assignee: bob, status: 'pending' })).tasks).toEqual([]);
    expect(
      (await hp.listTasks({ assignee: ann, status: 'decided' })).tasks.map((listed) => listed.id),
    ).toEqual([task.id]);
    expect(await hp.taskCounts({ assignee: bob })).toMatchObject({ pending: 0, decided: 1 });

    for (const query of [
      { cursor: 'nope' },
      { cursor: Buffer.from('[1]').toString('base64url') },
      { type: 'meeting' as never },
      { overdue: 'yes' as never },
      { limit: 0 },
      { intentId: '' },
    ]) {
      expect((await errorOf(hp.listTasks(query))).code, JSON.stringify(query)).toBe('VALIDATION');
    }
    expect((await errorOf(hp.taskCounts({ assignee: '\u0000' }))).code).toBe('VALIDATION');
  });
});
