import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse, startServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startServer({ limits: { heartbeatMs: 300, streamsPerKey: 3 } });
});
afterAll(() => t.close());

async function newTask(assignee = 'cfo@acme.test') {
  const intent = await t.call(t.keys.agent, 'POST', '/v1/intents', { type: 'payout' });
  const task = await t.call(t.keys.agent, 'POST', '/v1/tasks', {
    intentId: intent.body.id,
    assignee,
    context: {},
  });
  return { intentId: intent.body.id as string, taskId: task.body.id as string };
}

const typesOf = (events: Array<{ data: string }>) => events.map((event) => JSON.parse(event.data).type);

describe('SSE at /v1/events', () => {
  it('streams an intent’s events as they happen, with cursors as ids, and heartbeats when quiet', async () => {
    const { intentId, taskId } = await newTask();
    const stream = await openSse(`${t.url}/v1/events?intent=${intentId}`, t.keys.agent);
    expect(stream.status).toBe(200);
    expect(typesOf(await stream.waitFor(2))).toEqual(['intent-submitted', 'task-created']);
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${taskId}/decide`, { outcome: 'approved' });
    const events = await stream.waitFor(3);
    expect(JSON.parse(events[2]?.data as string)).toMatchObject({
      type: 'task-decided',
      taskId,
      intentId,
      seq: 3,
    });
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
    await expect
      .poll(() => stream.comments.filter((comment) => comment === 'heartbeat').length)
      .toBeGreaterThan(0);
    stream.close();
  });

  it('resumes with Last-Event-ID after a disconnect: exactly the events missed, none twice', async () => {
    const tasks = await Promise.all([newTask(), newTask(), newTask()]);
    const url = `${t.url}/v1/events?assignee=cfo@acme.test`;
    const first = await openSse(url, t.keys.admin);
    // Every task-created of the CFO so far, then the stream is dropped.
    await expect
      .poll(
        () => first.events.filter((event) => tasks.some((task) => event.data.includes(task.taskId))).length,
      )
      .toBe(3);
    const seen = [...first.events];
    first.close();
    await first.closed;

    for (const task of tasks)
      await t.call(t.keys.cfo, 'POST', `/v1/tasks/${task.taskId}/decide`, { outcome: 'approved' });
    const missed = tasks.map((task) => task.taskId);

    const resumed = await openSse(url, t.keys.admin, { 'last-event-id': seen.at(-1)?.id as string });
    const replay = await resumed.waitFor(3);
    expect(replay.map((event) => JSON.parse(event.data)).map((event) => [event.type, event.taskId])).toEqual(
      missed.map((taskId) => ['task-decided', taskId]),
    );
    const seenIds = new Set(seen.map((event) => JSON.parse(event.data).id));
    expect(replay.some((event) => seenIds.has(JSON.parse(event.data).id))).toBe(false);
    // Nothing else arrives: a fourth decision is the next event, not a repeat.
    const late = await newTask();
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${late.taskId}/decide`, { outcome: 'rejected' });
    const next = await resumed.waitFor(5);
    expect(typesOf(next.slice(3))).toEqual(['task-created', 'task-decided']);
    resumed.close();
  });

  it('filters by task, and a person sees only the events of their own tasks', async () => {
    const mine = await newTask('deputy@acme.test');
    const other = await newTask('cfo@acme.test');
    const byTask = await openSse(`${t.url}/v1/events?task=${mine.taskId}&after=now`, t.keys.agent);
    const deputy = await openSse(`${t.url}/v1/events`, t.keys.deputy);
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${other.taskId}/decide`, { outcome: 'approved' });
    await t.call(t.keys.deputy, 'POST', `/v1/tasks/${mine.taskId}/decide`, { outcome: 'approved' });
    const [decided] = await byTask.waitFor(1);
    expect(JSON.parse(decided?.data as string)).toMatchObject({ type: 'task-decided', taskId: mine.taskId });
    await expect.poll(() => deputy.events.some((event) => event.data.includes('task-decided'))).toBe(true);
    expect(deputy.events.every((event) => !event.data.includes(other.taskId))).toBe(true);
    byTask.close();
    deputy.close();
  });

  it('refuses what a key may not read, and more open streams than the limit', async () => {
    const { intentId } = await newTask();
    expect((await t.call(t.keys.otherAgent, 'GET', `/v1/events?intent=${intentId}`)).status).toBe(403);
    expect((await t.call(t.keys.agent, 'GET', '/v1/events')).status).toBe(403);
    expect((await t.call(t.keys.cfo, 'GET', '/v1/events?assignee=deputy@acme.test')).status).toBe(403);
    // A cursor ahead of the feed (another store's) would skip what comes: refused.
    const ahead = await t.call(t.keys.admin, 'GET', '/v1/events?after=99999999');
    expect(ahead.status).toBe(400);
    expect(ahead.body.error.message).toContain('ahead of this store');
    const { secret } = await t.server.keys.create({ name: 'watcher', scope: 'admin' });
    const open = await Promise.all([1, 2, 3].map(() => openSse(`${t.url}/v1/events?after=now`, secret)));
    expect(open.map((stream) => stream.status)).toEqual([200, 200, 200]);
    const refused = await t.call(secret, 'GET', '/v1/events?after=now', undefined, {
      accept: 'text/event-stream',
    });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('TOO_MANY_STREAMS');
    for (const stream of open) stream.close();
    await Promise.all(open.map((stream) => stream.closed));
    await expect
      .poll(async () => {
        const again = await openSse(`${t.url}/v1/events?after=now`, secret);
        again.close();
        return again.status;
      })
      .toBe(200);
  });
});

describe('a key revoked while it streams or waits', () => {
  it('ends its SSE stream before the next event, and its long-poll and result wait get 401', async () => {
    const { secret, key } = await t.server.keys.create({ name: 'soon revoked', scope: 'admin' });
    const stream = await openSse(`${t.url}/v1/events?after=now`, secret);
    expect(stream.status).toBe(200);
    const { taskId } = await newTask();
    await stream.waitFor(2);
    const waiting = t.call(secret, 'GET', '/v1/events?after=now&wait=5');
    const result = t.call(secret, 'GET', `/v1/tasks/${taskId}/result?wait=5`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seen = stream.events.length;
    await t.call(t.keys.admin, 'POST', `/v1/keys/${key.id}/revoke`);
    // What happens after the revocation reaches none of them.
    await newTask();
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${taskId}/decide`, { outcome: 'approved' });
    await stream.closed;
    expect(stream.events.length).toBe(seen);
    expect((await waiting).status).toBe(401);
    expect((await result).status).toBe(401);
  });
});

describe('long-poll at /v1/events?after=…&wait=', () => {
  it('answers at once when there are events, waits for the next one otherwise, and reads on with the cursor', async () => {
    const { intentId, taskId } = await newTask();
    const first = await t.call(t.keys.agent, 'GET', `/v1/events?intent=${intentId}`);
    expect(first.body.entries.map((entry: { event: { type: string } }) => entry.event.type)).toEqual([
      'intent-submitted',
      'task-created',
    ]);
    const waiting = t.call(
      t.keys.agent,
      'GET',
      `/v1/events?intent=${intentId}&after=${encodeURIComponent(first.body.cursor)}&wait=20`,
    );
    await t.call(t.keys.cfo, 'POST', `/v1/tasks/${taskId}/decide`, { outcome: 'approved' });
    const next = await waiting;
    expect(next.body.entries.map((entry: { event: { type: string } }) => entry.event.type)).toEqual([
      'task-decided',
    ]);
    const empty = await t.call(
      t.keys.agent,
      'GET',
      `/v1/events?intent=${intentId}&after=${encodeURIComponent(next.body.cursor)}`,
    );
    expect(empty.body).toEqual({ entries: [], cursor: next.body.cursor });
  });
});
