// The inbox's overview with more tasks than one page of a list: its counts come from the engine's
// counters and indexes, so they are exact however many tasks there are.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession } from './browser-session.js';
import { startServer, type TestServer } from './helpers.js';

let t: TestServer;

async function signedIn(email: string, admin = false): Promise<BrowserSession> {
  await t.call(t.keys.admin, 'POST', '/v1/users', { email, ...(admin ? { admin: true } : {}) });
  const reply = await t.call(t.keys.admin, 'POST', '/v1/sign-in-links', { email });
  expect(reply.status).toBe(201);
  const session = new BrowserSession(t.url);
  await session.signIn(reply.body.url as string);
  return session;
}

/** The overview's row of one assignee: its pending, overdue and escalated cells. */
function rowOf(page: string, assignee: string): string[] | undefined {
  const row = page.match(new RegExp(`<tr><td>${assignee.replace(/[.]/g, '\\.')}</td>(.*?)</tr>`));
  return row
    ? [...(row[1] as string).matchAll(/<td class="num">([^<]*)<\/td>/g)].map((cell) => cell[1] as string)
    : undefined;
}

beforeAll(async () => {
  // No timers: tasks past their deadline stay pending, so they are overdue.
  t = await startServer({ inbox: true, engine: { timers: false } });
});
afterAll(async () => {
  await t?.close();
});

describe('the overview', () => {
  it('counts every pending task and overdue task of each assignee, beyond the newest 1,000', async () => {
    const hp = t.holdpoint;
    // The oldest tasks: an assignee none of the newest 1,000 pending tasks names.
    for (let i = 0; i < 2; i++)
      await hp.requestHuman({ task: 'approval', assignee: 'few@acme.test', title: `Few ${i}` });
    const due = [];
    for (let i = 0; i < 3; i++)
      due.push(
        await hp.requestHuman({
          task: 'approval',
          assignee: 'many@acme.test',
          title: `Due ${i}`,
          timeout: '1s',
        }),
      );
    const decided = await hp.requestHuman({ task: 'approval', assignee: 'many@acme.test', title: 'Decided' });
    await hp.decide(decided.id, { outcome: 'approved', actor: 'many@acme.test' });
    const batch = 16;
    for (let i = 0; i < 1_008; i += batch)
      await Promise.all(
        Array.from({ length: Math.min(batch, 1_008 - i) }, (_, j) =>
          hp.requestHuman({ task: 'approval', assignee: 'many@acme.test', title: `Many ${i + j}` }),
        ),
      );
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(
      (await hp.listTasks({ assignee: 'many@acme.test', overdue: true })).tasks.map((task) => task.id),
    ).toEqual(due.map((task) => task.id));

    const admin = await signedIn('boss@acme.test', true);
    await t.call(t.keys.admin, 'POST', '/v1/users', { email: 'few@acme.test' });
    const page = (await admin.get('/overview')).text;
    expect(page).toContain('<strong>1,013</strong> pending · <strong>1</strong> decided');
    // Escalations are counted among the newest 100 pending tasks: "0+" says more were not read.
    expect(rowOf(page, 'many@acme.test')).toEqual(['1,011', '3', '0+']);
    expect(rowOf(page, 'few@acme.test')).toEqual(['2', '0', '0']);
    // Those without pending tasks have no row.
    expect(rowOf(page, 'boss@acme.test')).toBeUndefined();

    const many = await signedIn('many@acme.test');
    const own = (await many.get('/overview')).text;
    expect(own).toContain('Overview (your tasks)');
    expect(own).toContain('<strong>1,011</strong> pending · <strong>1</strong> decided');
    expect(rowOf(own, 'many@acme.test')).toEqual(['1,011', '3', '0+']);
    expect(rowOf(own, 'few@acme.test')).toBeUndefined();
  }, 60_000);
});
