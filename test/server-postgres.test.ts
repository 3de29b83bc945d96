// Two `holdpoint serve` processes on one PostgreSQL store, sharing no memory: what happens on one
// reaches the live streams and waiting agents of the other.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dropPostgresSchemas, testPostgresUrl, unreachableReason } from '@holdpoint/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveProcess, stopProcess } from '../packages/cli/test/serve-process.js';
import { openSse } from '../packages/server/test/sse-client.js';

const schema = `hp_server_${process.pid}_${randomBytes(4).toString('hex')}`;
const store = (() => {
  const url = new URL(testPostgresUrl);
  url.searchParams.set('schema', schema);
  return url.toString();
})();

interface Served {
  child: ChildProcess;
  url: string;
  firstAdminKey?: string;
}

/** `holdpoint serve` on the store, once it has printed where it listens. */
async function serve(): Promise<Served> {
  const { child, info } = await serveProcess(['--store', store], {
    env: { HOLDPOINT_AUDIT_KEY: '', HOLDPOINT_AUDIT_KEY_FILE: '' },
  });
  return { child, ...info };
}

let a: Served;
let b: Served;
let admin: string;
let agent: string;

async function call(server: Served, key: string, method: string, path: string, body?: unknown) {
  const response = await fetch(server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: read field by field in assertions
  return { status: response.status, body: (await response.json()) as any };
}

beforeAll(async () => {
  const reason = await unreachableReason('postgres', testPostgresUrl);
  if (reason !== undefined)
    throw new Error(`PostgreSQL is unreachable at ${testPostgresUrl} (${reason}): start it.`);
  a = await serve();
  b = await serve();
  admin = a.firstAdminKey as string;
  expect(b.firstAdminKey).toBeUndefined();
  // Keys live in the store: one made on A works on B.
  agent = (await call(a, admin, 'POST', '/v1/keys', { name: 'agent', scope: 'agent' })).body.secret;
}, 60_000);

afterAll(async () => {
  await Promise.all([a, b].filter(Boolean).map((server) => stopProcess(server.child)));
  await dropPostgresSchemas(testPostgresUrl, [schema]).catch(() => {});
});

describe('two servers on one PostgreSQL store', () => {
  it('a decision posted to one wakes an SSE client and a waiting agent of the other', async () => {
    const task = (await call(a, agent, 'POST', '/v1/tasks', { assignee: 'cfo@acme.test', context: { n: 1 } }))
      .body;
    const stream = await openSse(`${b.url}/v1/events?task=${task.id}`, agent);
    expect(JSON.parse((await stream.waitFor(1))[0]?.data as string).type).toBe('task-created');
    const waiting = call(b, agent, 'GET', `/v1/tasks/${task.id}/result?wait=30`);

    expect(
      (await call(a, admin, 'POST', `/v1/tasks/${task.id}/decide`, { outcome: 'approved' })).status,
    ).toBe(200);

    const [, decided] = await stream.waitFor(2, 20_000);
    expect(JSON.parse(decided?.data as string)).toMatchObject({ type: 'task-decided', taskId: task.id });
    expect((await waiting).body).toMatchObject({ status: 'decided', outcome: 'approved' });
    stream.close();
  });

  it('an SSE client that drops off one server resumes on the other with Last-Event-ID: exactly the missed events', async () => {
    const intent = (await call(a, agent, 'POST', '/v1/intents', { type: 'batch' })).body;
    const url = (server: Served) => `${server.url}/v1/events?intent=${intent.id}`;
    const first = await openSse(url(b), agent);
    await first.waitFor(1);
    const lastSeen = first.events.at(-1)?.id as string;
    first.close();
    await first.closed;

    const tasks = [];
    for (const n of [1, 2]) {
      tasks.push(
        (
          await call(a, agent, 'POST', '/v1/tasks', {
            intentId: intent.id,
            assignee: 'cfo@acme.test',
            context: { n },
          })
        ).body,
      );
    }
    for (const task of tasks)
      await call(b, admin, 'POST', `/v1/tasks/${task.id}/decide`, { outcome: 'rejected' });

    const resumed = await openSse(url(a), agent, { 'last-event-id': lastSeen });
    const replay = (await resumed.waitFor(4)).map((event) => JSON.parse(event.data));
    expect(replay.map((event) => [event.type, event.taskId])).toEqual([
      ['task-created', tasks[0].id],
      ['task-created', tasks[1].id],
      ['task-decided', tasks[0].id],
      ['task-decided', tasks[1].id],
    ]);
    expect(replay.map((event) => event.seq)).toEqual([2, 3, 4, 5]);
    resumed.close();
  });
});
