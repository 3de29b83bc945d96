// The inbox over real HTTP on a SQLite file: sign-in links, sessions, CSRF, who sees what.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession, hiddenField } from './browser-session.js';
import { startServer, type TestServer } from './helpers.js';

let t: TestServer;

async function link(email: string, next?: string, ttl?: string): Promise<string> {
  const reply = await t.call(t.keys.admin, 'POST', '/v1/sign-in-links', {
    email,
    createUser: true,
    ...(next ? { next } : {}),
    ...(ttl ? { ttl } : {}),
  });
  expect(reply.status).toBe(201);
  return reply.body.url as string;
}

async function approvalFor(
  assignee: string,
  title = 'Pay invoice 42',
): Promise<{ id: string; versionDigest: string }> {
  const reply = await t.call(t.keys.agent, 'POST', '/v1/tasks', {
    task: 'approval',
    title,
    assignee,
    context: { invoice: 42, amount: '1200 EUR' },
  });
  expect(reply.status).toBe(201);
  return reply.body;
}

beforeAll(async () => {
  t = await startServer({ inbox: true });
});
afterAll(async () => {
  await t?.close();
});

describe('sign-in links', () => {
  it('a GET on a link only shows a confirm page; the POST signs in once', async () => {
    const url = await link('cfo@acme.test', '/');
    const scanner = new BrowserSession(t.url);
    const prefetch = await scanner.get(new URL(url).pathname);
    expect(prefetch.status).toBe(200);
    expect(prefetch.text).toContain('Sign in as cfo@acme.test?');
    expect(scanner.cookies.has('hp_session')).toBe(false);
    // The scanner's GET used nothing up: the person can still sign in with it.
    const person = new BrowserSession(t.url);
    expect(await person.signIn(url)).toBe('/');
    expect(person.cookies.has('hp_session')).toBe(true);
    const again = await new BrowserSession(t.url).get(new URL(url).pathname);
    expect(again.status).toBe(410);
    expect(again.text).toContain('used already');
  });

  it('a link posted twice at once signs in once', async () => {
    const url = await link('cfo@acme.test');
    const path = new URL(url).pathname;
    const [one, two] = [new BrowserSession(t.url), new BrowserSession(t.url)];
    const pages = await Promise.all([one.get(path), two.get(path)]);
    const results = await Promise.all([
      one.post(path, { form: hiddenField(pages[0].text, 'form') }),
      two.post(path, { form: hiddenField(pages[1].text, 'form') }),
    ]);
    expect(results.map((result) => result.status).sort()).toEqual([303, 410]);
  });

  it('an unknown or mistyped link is refused', async () => {
    const page = await new BrowserSession(t.url).get(`/sign-in/${'x'.repeat(43)}`);
    expect(page.status).toBe(410);
    expect(page.text).toContain('not valid');
  });

  it('a confirm without the form cookie is refused', async () => {
    const url = await link('cfo@acme.test');
    const page = await new BrowserSession(t.url).get(new URL(url).pathname);
    const forged = await new BrowserSession(t.url).post(new URL(url).pathname, {
      form: hiddenField(page.text, 'form'),
    });
    expect(forged.status).toBe(403);
  });

  it('refuses links to other origins as the place to go after signing in', async () => {
    const url = await link('cfo@acme.test', '//evil.test/steal');
    expect(await new BrowserSession(t.url).signIn(url)).toBe('/');
  });

  it('needs an admin key to make links or list users', async () => {
    const byPerson = await t.call(t.keys.cfo, 'POST', '/v1/sign-in-links', { email: 'cfo@acme.test' });
    expect(byPerson.status).toBe(403);
    const unknown = await t.call(t.keys.admin, 'POST', '/v1/sign-in-links', { email: 'nobody@acme.test' });
    expect(unknown.status).toBe(404);
    const users = await t.call(t.keys.admin, 'GET', '/v1/users');
    expect(users.body.users.map((user: { id: string }) => user.id)).toContain('cfo@acme.test');
  });
});

describe('the inbox', () => {
  it('sends people who are not signed in to the sign-in page', async () => {
    const page = await new BrowserSession(t.url).get('/');
    expect(page.status).toBe(303);
    expect(page.location).toBe('/sign-in?next=%2F');
  });

  it('serves pages with a content security policy and no inline script', async () => {
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const response = await fetch(`${t.url}/`, {
      headers: { cookie: `hp_session=${person.cookies.get('hp_session')}` },
    });
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    const text = await response.text();
    expect(text).not.toMatch(/<script>|<script [^>]*>[^<]/);
  });

  it('lists a person’s pending tasks and lets them approve with a comment', async () => {
    const task = await approvalFor('cfo@acme.test', 'Approve <b>bold</b> payment');
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const list = await person.get('/');
    expect(list.text).toContain('Approve &lt;b&gt;bold&lt;/b&gt; payment');
    const page = await person.get(`/tasks/${task.id}`);
    expect(page.text).toContain(task.versionDigest);
    expect(page.text).toContain('1200 EUR');
    const decided = await person.post(`/tasks/${task.id}/decide`, {
      csrf: hiddenField(page.text, 'csrf'),
      versionDigest: task.versionDigest,
      outcome: 'approved',
      comment: 'Paid on time',
    });
    expect(decided.status).toBe(303);
    const after = await t.holdpoint.getTask(task.id);
    expect(after.decision).toMatchObject({
      outcome: 'approved',
      comment: 'Paid on time',
      actor: { id: 'cfo@acme.test' },
    });
    const shown = await person.get(`/tasks/${task.id}?decided=1`);
    expect(shown.text).toContain('Your decision is recorded.');
    expect(shown.text).toMatch(/decided<\/strong> · cfo@acme\.test/);
    expect(shown.text).toContain('verified');
    expect(shown.text).toContain('the server’s trusted key');
    // The same form posted again (a second tab): refused, and the page says why.
    const again = await person.post(`/tasks/${task.id}/decide`, {
      csrf: hiddenField(page.text, 'csrf'),
      versionDigest: task.versionDigest,
      outcome: 'rejected',
    });
    expect(again.status).toBe(409);
    expect(again.text).toMatch(/id="decide-error">[^<]*already/i);
    expect((await t.holdpoint.getTask(task.id)).decision?.outcome).toBe('approved');
  });

  it('lets an assignee given in capitals (Dana@Acme.test) sign in as dana@acme.test, see the task and decide it', async () => {
    const task = await approvalFor('Dana@Acme.test', 'Capitalised assignee');
    const person = new BrowserSession(t.url);
    await person.signIn(await link('dana@acme.test'));
    expect((await person.get('/')).text).toContain('Capitalised assignee');
    const page = await person.get(`/tasks/${task.id}`);
    expect(page.status).toBe(200);
    const decided = await person.post(`/tasks/${task.id}/decide`, {
      csrf: hiddenField(page.text, 'csrf'),
      versionDigest: task.versionDigest,
      outcome: 'approved',
    });
    expect(decided.status).toBe(303);
    expect((await t.holdpoint.getTask(task.id)).decision).toMatchObject({
      outcome: 'approved',
      actor: { id: 'dana@acme.test' },
    });
  });

  it('refuses a form post without the session’s CSRF token (403), and decides nothing', async () => {
    const task = await approvalFor('cfo@acme.test');
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const forged = await person.post(`/tasks/${task.id}/decide`, { outcome: 'approved' });
    expect(forged.status).toBe(403);
    const wrong = await person.post(`/tasks/${task.id}/decide`, {
      outcome: 'approved',
      csrf: 'x'.repeat(43),
    });
    expect(wrong.status).toBe(403);
    expect((await t.holdpoint.getTask(task.id)).status).toBe('pending');
  });

  it('shows someone else’s task to no one but its people and admins (403), and an unknown one as 404', async () => {
    const task = await approvalFor('cfo@acme.test');
    const stranger = new BrowserSession(t.url);
    await stranger.signIn(await link('intern@acme.test'));
    const page = await stranger.get(`/tasks/${task.id}`);
    expect(page.status).toBe(403);
    expect(page.text).not.toContain('1200 EUR');
    const list = await stranger.get('/');
    expect(list.text).not.toContain(task.id);
    const csrf = hiddenField(list.text, 'csrf');
    const post = await stranger.post(`/tasks/${task.id}/decide`, { csrf, outcome: 'approved' });
    expect(post.status).toBe(403);
    expect((await t.holdpoint.getTask(task.id)).status).toBe('pending');
    expect((await stranger.get('/tasks/tsk_nope')).status).toBe(404);
    expect(
      (await stranger.get(`/intents/${(await t.holdpoint.getTask(task.id)).intentId}/audit`)).status,
    ).toBe(403);
  });

  it('lets an admin see everyone’s tasks and decide on an assignee’s behalf', async () => {
    const task = await approvalFor('deputy@acme.test', 'Deputy-only task');
    await t.call(t.keys.admin, 'POST', '/v1/users', { email: 'boss@acme.test', admin: true });
    const admin = new BrowserSession(t.url);
    await admin.signIn(await link('boss@acme.test'));
    const list = await admin.get('/');
    expect(list.text).toContain('Deputy-only task');
    const page = await admin.get(`/tasks/${task.id}`);
    await admin.post(`/tasks/${task.id}/decide`, {
      csrf: hiddenField(page.text, 'csrf'),
      versionDigest: task.versionDigest,
      outcome: 'rejected',
    });
    const after = await t.holdpoint.getTask(task.id);
    expect(after.decision).toMatchObject({ outcome: 'rejected', actor: { id: 'boss@acme.test' } });
    const overview = await admin.get('/overview');
    expect(overview.text).toContain('How long decisions take');
    expect(overview.text).toContain('<svg class="chart"');
  });

  it('renders a form task from its schema and shows the schema’s validation message', async () => {
    const reply = await t.call(t.keys.agent, 'POST', '/v1/tasks', {
      task: 'form',
      title: 'Shipping details',
      assignee: 'cfo@acme.test',
      schema: {
        type: 'object',
        properties: {
          carrier: { type: 'string', enum: ['DHL', 'UPS'] },
          boxes: { type: 'integer', minimum: 1 },
        },
        required: ['carrier', 'boxes'],
      },
    });
    const task = reply.body;
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const page = await person.get(`/tasks/${task.id}`);
    expect(page.text).toContain('name="field.carrier"');
    expect(page.text).toMatch(/type="number" id="field-boxes"[^>]*min="1"/);
    const csrf = hiddenField(page.text, 'csrf');
    const bad = await person.post(`/tasks/${task.id}/decide`, {
      csrf,
      versionDigest: task.versionDigest,
      outcome: 'submitted',
      'field.carrier': 'DHL',
      'field.boxes': '0',
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/role="alert"[^>]*>[^<]*boxes/);
    expect((await t.holdpoint.getTask(task.id)).status).toBe('pending');
    const good = await person.post(`/tasks/${task.id}/decide`, {
      csrf,
      versionDigest: task.versionDigest,
      outcome: 'submitted',
      'field.carrier': 'UPS',
      'field.boxes': '3',
    });
    expect(good.status).toBe(303);
    expect((await t.holdpoint.getTask(task.id)).decision?.data).toEqual({ carrier: 'UPS', boxes: 3 });
  });

  it('asks for evidence on manual actions and a justification on overrides', async () => {
    const manual = (
      await t.call(t.keys.agent, 'POST', '/v1/tasks', {
        task: 'manual_action',
        title: 'Rotate keys',
        assignee: 'cfo@acme.test',
      })
    ).body;
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const page = await person.get(`/tasks/${manual.id}`);
    expect(page.text).toMatch(/<textarea id="evidence" name="evidence" required>/);
    const csrf = hiddenField(page.text, 'csrf');
    const without = await person.post(`/tasks/${manual.id}/decide`, { csrf, outcome: 'completed' });
    expect(without.status).toBe(400);
    expect(without.text).toContain('evidence is required');
    await person.post(`/tasks/${manual.id}/decide`, {
      csrf,
      outcome: 'completed',
      evidence: 'https://ci.acme.test/run/7',
    });
    expect((await t.holdpoint.getTask(manual.id)).decision?.evidence).toBe('https://ci.acme.test/run/7');

    const override = (
      await t.call(t.keys.agent, 'POST', '/v1/tasks', {
        task: 'override',
        title: 'Skip the check',
        assignee: 'cfo@acme.test',
      })
    ).body;
    const overridePage = await person.get(`/tasks/${override.id}`);
    expect(overridePage.text).toContain('Justification *');
  });

  it('signs out: the cookie stops working', async () => {
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const cookie = person.cookies.get('hp_session');
    const list = await person.get('/');
    await person.post('/sign-out', { csrf: hiddenField(list.text, 'csrf') });
    const after = await fetch(`${t.url}/`, {
      redirect: 'manual',
      headers: { cookie: `hp_session=${cookie}` },
    });
    expect(after.status).toBe(303);
  });

  it('live updates: none of a task that is not theirs, and none after signing out', async () => {
    const person = new BrowserSession(t.url);
    await person.signIn(await link('cfo@acme.test'));
    const cookie = `hp_session=${person.cookies.get('hp_session')}`;
    const others = await approvalFor('deputy@acme.test', 'Deputy-only, watched by someone else');
    const peek = await fetch(`${t.url}/live?task=${others.id}`, { headers: { cookie } });
    expect(peek.status).toBe(403);
    await peek.body?.cancel();
    expect((await fetch(`${t.url}/live?task=tsk_nope`, { headers: { cookie } })).status).toBe(404);

    // A stream open at sign-out ends at the next change instead of telling it.
    const live = await fetch(`${t.url}/live`, { headers: { cookie } });
    expect(live.status).toBe(200);
    const reader = (live.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('event: ready')) text += decoder.decode((await reader.read()).value);
    const list = await person.get('/');
    await person.post('/sign-out', { csrf: hiddenField(list.text, 'csrf') });
    await approvalFor('cfo@acme.test', 'After she signed out');
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).not.toContain('event: change');
  });

  it('tells a person without mail to ask an admin for a link', async () => {
    const page = await new BrowserSession(t.url).get('/sign-in');
    expect(page.text).toContain('holdpoint users link');
  });
});
