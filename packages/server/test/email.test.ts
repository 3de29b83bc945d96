// Email against a real SMTP server the test starts (`smtp-server`): the mail arrives with a sign-in
// link to the task; the link signs in once; a prefetching GET decides nothing; an expired link is refused.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession, hiddenField } from './browser-session.js';
import { startServer, type TestServer } from './helpers.js';

// Waits are for what is asserted, with room for a loaded machine.
const patience = { timeout: 20_000 };

interface Message {
  from: string;
  to: string[];
  raw: string;
}

let smtp: SMTPServer;
let smtpPort: number;
const inbox: Message[] = [];
let t: TestServer;

/** A mail's text with quoted-printable soft breaks undone, as a mail client shows it. */
function textOf(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
}
function linkIn(message: Message): string {
  const match = /http:\/\/127\.0\.0\.1:\d+\/sign-in\/[A-Za-z0-9_-]{43}/.exec(textOf(message.raw));
  if (!match) throw new Error(`no sign-in link in the mail:\n${message.raw}`);
  return match[0];
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
      });
      stream.on('end', () => {
        inbox.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((recipient) => recipient.address),
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  t = await startServer({
    inbox: true,
    channels: {
      publicUrl: 'http://127.0.0.1:1',
      pollMs: 50,
      mail: { smtpUrl: `smtp://127.0.0.1:${smtpPort}`, from: 'Holdpoint <holdpoint@acme.test>' },
    },
  });
});

afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

/** The link in mail starts with the public URL; the test's server listens elsewhere. */
function local(link: string): string {
  return link.replace('http://127.0.0.1:1', t.url);
}

describe('email', () => {
  it('mails the assignee with a link that signs in once and opens the task; the decision lands', async () => {
    await t.server.startChannels();
    const reply = await t.call(t.keys.agent, 'POST', '/v1/tasks', {
      task: 'approval',
      title: 'Wire 9,800 EUR to Acme GmbH',
      assignee: 'treasurer@acme.test',
      context: { iban: 'DE89 3704 0044 0532 0130 00' },
    });
    const task = reply.body;
    await expect
      .poll(() => inbox.filter((message) => message.to.includes('treasurer@acme.test')).length, patience)
      .toBe(1);
    const mail = inbox.find((message) => message.to.includes('treasurer@acme.test')) as Message;
    expect(mail.from).toBe('holdpoint@acme.test');
    expect(textOf(mail.raw)).toContain('Wire 9,800 EUR to Acme GmbH');
    expect(mail.raw).toMatch(/Message-ID: <dlv_[0-9a-f]{32}@holdpoint>/i);
    const link = local(linkIn(mail));

    // A mail scanner fetches the link: nothing happens, the link still works.
    const scanner = new BrowserSession(t.url);
    const prefetched = await scanner.get(new URL(link).pathname);
    expect(prefetched.status).toBe(200);
    expect((await t.holdpoint.getTask(task.id)).status).toBe('pending');

    const person = new BrowserSession(t.url);
    const next = await person.signIn(link);
    expect(next).toBe(`/tasks/${task.id}`);
    const page = await person.get(next as string);
    expect(page.text).toContain('DE89 3704 0044 0532 0130 00');
    await person.post(`/tasks/${task.id}/decide`, {
      csrf: hiddenField(page.text, 'csrf'),
      versionDigest: task.versionDigest,
      outcome: 'approved',
    });
    expect((await t.holdpoint.getTask(task.id)).decision).toMatchObject({
      outcome: 'approved',
      actor: { id: 'treasurer@acme.test' },
    });
    // The link cannot be used twice.
    const again = await new BrowserSession(t.url).get(new URL(link).pathname);
    expect(again.status).toBe(410);
    expect(again.text).toContain('used already');
    // The timeline shows the mail.
    expect((await person.get(`/tasks/${task.id}`)).text).toContain('email to treasurer@acme.test');
  });

  it('refuses an expired link', async () => {
    await t.server.people.users.upsert({ email: 'late@acme.test' });
    const { token } = await t.server.people.links.create('late@acme.test', {
      ttlMs: 60_000,
      createdBy: 'test',
    });
    // Expire it in the store, as time passing would.
    const { createHash } = await import('node:crypto');
    const key = `server:sign-in-link:${createHash('sha256').update(token).digest('hex')}`;
    const record = (await t.store.keyv.get(key)) as { expiresAt: string };
    await t.store.keyv.set(key, { ...record, expiresAt: new Date(Date.now() - 1000).toISOString() });
    const page = await new BrowserSession(t.url).get(`/sign-in/${token}`);
    expect(page.status).toBe(410);
    expect(page.text).toContain('expired');
    const session = new BrowserSession(t.url);
    await expect(session.signIn(`${t.url}/sign-in/${token}`)).rejects.toThrow(/410/);
  });

  it('mails a sign-in link on request, to known people only, and limits requests', async () => {
    await t.server.people.users.upsert({ email: 'known@acme.test' });
    const ask = async (email: string) => {
      const session = new BrowserSession(t.url);
      const form = await session.get('/sign-in');
      return session.post('/sign-in', { form: hiddenField(form.text, 'form'), email, next: '/' });
    };
    expect((await ask('known@acme.test')).text).toContain('Check your mail');
    expect((await ask('stranger@acme.test')).text).toContain('Check your mail');
    await expect
      .poll(() => inbox.filter((message) => message.to.includes('known@acme.test')).length, patience)
      .toBe(1);
    expect(inbox.some((message) => message.to.includes('stranger@acme.test'))).toBe(false);
    const link = local(linkIn(inbox.find((message) => message.to.includes('known@acme.test')) as Message));
    expect(await new BrowserSession(t.url).signIn(link)).toBe('/');
    const statuses: number[] = [];
    for (let round = 0; round < 6; round++) statuses.push((await ask('known@acme.test')).status);
    expect(statuses).toContain(429);
  });
});
