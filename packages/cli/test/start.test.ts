// `npm start` is `holdpoint serve --admin admin@localhost --demo`: the printed link opens the inbox
// with the demo agent's task; approving it there lets the waiting agent continue. Also the people
// and channel commands of the real binary.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../src/main.js';
import { serveProcess, stopProcess } from './serve-process.js';

const folder = mkdtempSync(join(tmpdir(), 'holdpoint-start-'));
const quiet = {
  HOLDPOINT_URL: '',
  HOLDPOINT_KEY: '',
  HOLDPOINT_STORE: '',
  HOLDPOINT_AUDIT_KEY: '',
  HOLDPOINT_AUDIT_KEY_FILE: '',
};

afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** The arguments `npm start` gives `holdpoint` (root package.json). */
const startArgs = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  }
).scripts.start
  .split(' serve ')[1]
  ?.split(' ') as string[];

/** A browser's cookies over fetch: enough to sign in and post forms. */
function browser(base: string) {
  const cookies = new Map<string, string>();
  const request = async (method: string, path: string, form?: Record<string, string>) => {
    const response = await fetch(base + path, {
      method,
      redirect: 'manual',
      headers: {
        cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const header of response.headers.getSetCookie()) {
      const [name = '', ...value] = (header.split(';')[0] ?? '').split('=');
      cookies.set(name, value.join('='));
    }
    return {
      status: response.status,
      text: await response.text(),
      location: response.headers.get('location'),
    };
  };
  return { request, cookies };
}
const field = (page: string, name: string) =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1] ?? '';

describe('npm start', () => {
  it('prints a one-time link that opens the inbox with the demo task; approving it lets the demo agent continue', async () => {
    const cwd = mkdtempSync(join(folder, 'fresh-'));
    // Every line after the first, from the first byte on (the demo may print in the same chunk).
    const { child, info, lines: printed } = await serveProcess(startArgs, { cwd, env: quiet });
    try {
      expect(info.inbox).toBe(`${info.url}/`);
      const link = info.signInLink?.url as string;
      expect(link).toMatch(/\/sign-in\/[A-Za-z0-9_-]{43}$/);
      await expect
        .poll(() => printed.some((line) => line.includes('"demo":"waiting"')), { timeout: 20_000 })
        .toBe(true);
      const person = browser(info.url);
      const path = new URL(link).pathname;
      const confirm = await person.request('GET', path);
      expect((await person.request('POST', path, { form: field(confirm.text, 'form') })).status).toBe(303);
      const inbox = await person.request('GET', '/');
      expect(inbox.text).toContain('Publish the weekly status report');
      const taskPath = /href="(\/tasks\/[^"]+)"/.exec(inbox.text)?.[1] as string;
      const page = await person.request('GET', taskPath);
      const decided = await person.request('POST', `${taskPath}/decide`, {
        csrf: field(page.text, 'csrf'),
        versionDigest: field(page.text, 'versionDigest'),
        outcome: 'approved',
        comment: 'Ship it',
      });
      expect(decided.status).toBe(303);
      await expect
        .poll(() => printed.find((line) => line.includes('"demo":"continued"')), { timeout: 20_000 })
        .toContain('approved by admin@localhost');
    } finally {
      await stopProcess(child);
    }
    // A second start: the demo has been answered, it asks nothing again.
    const again = await serveProcess(startArgs, { cwd, env: quiet });
    try {
      const response = await fetch(`${again.info.url}/v1/tasks?status=pending`, {
        headers: { authorization: 'Bearer nope' },
      });
      expect(response.status).toBe(401);
      expect(again.info.firstAdminKey).toBeUndefined();
    } finally {
      await stopProcess(again.child);
    }
    // Everything it printed in its whole life (stdout is complete once closed): no demo line.
    const stdout = again.child.stdout;
    if (stdout && !stdout.closed) await new Promise((resolve) => stdout.once('close', resolve));
    expect(again.lines.some((line) => line.includes('"demo"'))).toBe(false);
  }, 60_000);
});

describe('people and channel commands', () => {
  // In this process (the same code as the binary; the binary itself is run above and in cli.test.ts).
  async function holdpoint(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await run(args, {
      stdout: (text) => {
        stdout += `${text}\n`;
      },
      stderr: (text) => {
        stderr += `${text}\n`;
      },
      env: quiet,
    });
    return { code, stdout, stderr };
  }
  const store = ['--store', `sqlite://${join(folder, 'commands.db')}`];

  it('adds users, makes links, subscribes webhooks and lists dead letters on the store', async () => {
    expect(
      (
        await holdpoint(['users', 'add', 'CFO@acme.test', '--name', 'Cleo', '--admin', ...store])
      ).stdout.trim(),
    ).toBe('cfo@acme.test (admin)');
    const listed = await holdpoint(['users', 'list', '--json', ...store]);
    expect(JSON.parse(listed.stdout).users).toMatchObject([
      { id: 'cfo@acme.test', name: 'Cleo', admin: true },
    ]);
    const noUrl = await holdpoint(['users', 'link', 'cfo@acme.test', ...store]);
    expect(noUrl.code).toBe(2);
    const linked = await holdpoint([
      'users',
      'link',
      'cfo@acme.test',
      '--public-url',
      'https://hp.acme.test',
      ...store,
    ]);
    expect(linked.stdout.trim()).toMatch(/^https:\/\/hp\.acme\.test\/sign-in\/[A-Za-z0-9_-]{43}$/);
    const added = await holdpoint([
      'webhooks',
      'add',
      'http://127.0.0.1:9/hook',
      '--events',
      'task-created',
      ...store,
    ]);
    expect(added.stdout.trim()).toMatch(/^whsec_/);
    const hooks = JSON.parse((await holdpoint(['webhooks', 'list', '--json', ...store])).stdout).webhooks;
    expect(hooks).toMatchObject([{ url: 'http://127.0.0.1:9/hook', events: ['task-created'] }]);
    expect(JSON.stringify(hooks)).not.toContain('whsec_');
    expect(JSON.parse((await holdpoint(['dead-letters', 'list', '--json', ...store])).stdout)).toEqual({
      deadLetters: [],
    });
    expect((await holdpoint(['dead-letters', 'replay', 'dlv_nope', ...store])).code).toBe(3);
  }, 60_000);
});
