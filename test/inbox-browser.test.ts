// The inbox in a real headless Chromium (Debian's, driven by playwright-core), against `holdpoint
// serve --admin admin@localhost --demo` — what `npm start` runs — in a fresh folder: sign in by the
// printed link, approve the demo task with the keyboard alone, see the timeline and the waiting
// agent continue; a form task's validation; a stranger's 403; a forged post; a phone-sized screen.
// HOLDPOINT_SCREENSHOTS=1 writes the screenshots of docs/inbox.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Waits are for what is asserted, with room for a loaded machine.
const patience = { timeout: 20_000 };

const chromiumPath = '/usr/bin/chromium';
const root = fileURLToPath(new URL('..', import.meta.url));
const screenshots = process.env.HOLDPOINT_SCREENSHOTS === '1' ? join(root, 'docs', 'images') : undefined;
const folder = mkdtempSync(join(tmpdir(), 'holdpoint-browser-'));

interface Info {
  url: string;
  firstAdminKey: string;
  signInLink: { url: string };
}
let serve: ChildProcess;
let info: Info;
const printed: string[] = [];
let context: BrowserContext;
let page: Page;

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(info.url + path, {
    method,
    headers: { authorization: `Bearer ${info.firstAdminKey}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown>;
}

/** Press Tab until the focused element matches (a JS expression over `element`), as a keyboard user does. */
async function tabTo(target: Page, test: string, most = 40): Promise<void> {
  for (let count = 0; count < most; count++) {
    await target.keyboard.press('Tab');
    if (await target.evaluate(`((element) => ${test})(document.activeElement)`)) return;
  }
  throw new Error(`Tab never reached ${test}`);
}

/** The first printed line that matches, as soon as it is printed. */
function printedLine(match: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const line = printed.find(match);
      if (line === undefined) return false;
      resolve(line);
      return true;
    };
    if (check()) return;
    const onData = () => {
      if (check()) serve.stdout?.off('data', onData);
    };
    serve.stdout?.on('data', onData);
    serve.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
}

async function shot(name: string, target: Page | ReturnType<Page['locator']> = page) {
  if (screenshots) await target.screenshot({ path: join(screenshots, name) });
}

beforeAll(async () => {
  if (!existsSync(chromiumPath))
    throw new Error(`${chromiumPath} is missing: run bash scripts/browser.sh (.ci/run does)`);
  if (screenshots) mkdirSync(screenshots, { recursive: true });
  const cwd = mkdtempSync(join(folder, 'fresh-clone-'));
  serve = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      join(root, 'packages/cli/src/bin.ts'),
      'serve',
      '--json',
      '--port',
      '0',
      // What `npm start` runs.
      ...(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start as string)
        .split(' serve ')[1]!
        .split(' '),
    ],
    {
      cwd,
      env: { ...process.env, HOLDPOINT_STORE: '', HOLDPOINT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  serve.stdout?.on('data', (chunk: Buffer) => printed.push(...chunk.toString().split('\n').filter(Boolean)));
  info = JSON.parse(await printedLine((line) => line.startsWith('{"url"'))) as Info;
  await printedLine((line) => line.includes('"demo":"waiting"'));
  context = await chromium.launchPersistentContext(join(folder, 'profile'), {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1100, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 90_000);

afterAll(async () => {
  await context?.close();
  serve?.kill('SIGTERM');
  rmSync(folder, { recursive: true, force: true });
});

describe('the inbox in Chromium', () => {
  it('signs in by the printed link, and approves the demo task with the keyboard alone; the agent continues', async () => {
    await page.goto(info.signInLink.url);
    await expect.poll(() => page.textContent('h1'), patience).toContain('Sign in as admin@localhost?');
    // The confirm button has the focus: Enter signs in.
    await page.keyboard.press('Enter');
    await page.waitForURL(`${info.url}/`);
    await expect.poll(() => page.textContent('main'), patience).toContain('Publish the weekly status report');
    await shot('inbox.png');
    await tabTo(page, "element.classList.contains('title')");
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/tasks\//);
    expect(await page.textContent('#context')).toContain('Checkout conversion');
    expect(await page.textContent('#version')).toMatch(/^sha256:[0-9a-f]{64}$/);
    await tabTo(page, "element.id === 'comment'");
    await page.keyboard.type('Looks right — publish it');
    await tabTo(page, "element.tagName === 'BUTTON' && element.value === 'approved'");
    await page.keyboard.press('Enter');
    await page.waitForURL(/decided=1/);
    expect(await page.textContent('main')).toContain('Your decision is recorded.');
    expect(await page.textContent('#timeline')).toContain('decided');
    expect(await page.textContent('#timeline')).toContain('Looks right — publish it');
    expect(await page.textContent('#audit-result')).toContain('the server’s trusted key');
    await shot('task.png');
    await shot('timeline.png', page.locator('#timeline'));
    await expect
      .poll(() => printed.find((line) => line.includes('"demo":"continued"')), { timeout: 20_000 })
      .toContain('approved by admin@localhost');
  });

  it('shows a new task in the open inbox without a reload (live updates)', async () => {
    await page.goto(`${info.url}/`);
    await page.waitForLoadState('networkidle').catch(() => {});
    await api('POST', '/v1/tasks', {
      task: 'approval',
      title: 'Live: rotate the API keys',
      assignee: 'admin@localhost',
    });
    await expect
      .poll(() => page.textContent('main'), { timeout: 15_000 })
      .toContain('Live: rotate the API keys');
  });

  it('submits a form task through the rendered form, with the schema’s validation message for bad data', async () => {
    const task = await api('POST', '/v1/tasks', {
      task: 'form',
      title: 'Purchase order details',
      assignee: 'admin@localhost',
      schema: {
        type: 'object',
        properties: {
          reference: { type: 'string', pattern: '^PO-[0-9]+$', title: 'PO reference' },
          boxes: { type: 'integer', minimum: 1, title: 'Boxes' },
        },
        required: ['reference', 'boxes'],
      },
    });
    await page.goto(`${info.url}/tasks/${task.id}`);
    await page.fill('#field-reference', 'nope');
    await page.fill('#field-boxes', '2');
    await page.click('button[value="submitted"]');
    await expect.poll(() => page.textContent('[role="alert"]'), patience).toContain('reference');
    expect(await page.inputValue('#field-reference')).toBe('nope');
    await page.fill('#field-reference', 'PO-1234');
    await page.click('button[value="submitted"]');
    await page.waitForURL(/decided=1/);
    expect((await api('GET', `/v1/tasks/${task.id}`)).decision).toMatchObject({
      data: { reference: 'PO-1234', boxes: 2 },
    });
  });

  it('refuses a forged post without the CSRF token', async () => {
    const task = await api('POST', '/v1/tasks', {
      task: 'approval',
      title: 'Forged?',
      assignee: 'admin@localhost',
    });
    await page.goto(`${info.url}/`);
    const status = await page.evaluate(
      (id) =>
        fetch(`/tasks/${id}/decide`, {
          method: 'POST',
          body: new URLSearchParams({ outcome: 'approved' }),
        }).then((response) => response.status),
      task.id as string,
    );
    expect(status).toBe(403);
    expect((await api('GET', `/v1/tasks/${task.id}`)).status).toBe('pending');
  });

  it('shows the overview, and works on a phone-sized screen', async () => {
    await page.goto(`${info.url}/overview`);
    expect(await page.textContent('main')).toContain('How long decisions take');
    expect(await page.locator('svg.chart').count()).toBe(1);
    await shot('overview.png');
    await page.setViewportSize({ width: 375, height: 740 });
    const task = await api('POST', '/v1/tasks', {
      task: 'approval',
      title: 'On the phone',
      assignee: 'admin@localhost',
      context: { note: 'x'.repeat(400) },
    });
    await page.goto(`${info.url}/tasks/${task.id}`);
    await expect
      .poll(() => page.evaluate('document.documentElement.scrollWidth'), patience)
      .toBeLessThanOrEqual(375);
    const approve = page.locator('button[value="approved"]');
    await approve.scrollIntoViewIfNeeded();
    // Full-width buttons on a small screen.
    await expect.poll(async () => (await approve.boundingBox())?.width ?? 0, patience).toBeGreaterThan(300);
    await shot('phone.png');
    await page.setViewportSize({ width: 1100, height: 800 });
  });

  it('shows a 403 page to someone the task is not assigned to', async () => {
    const task = await api('POST', '/v1/tasks', {
      task: 'approval',
      title: 'Admins only',
      assignee: 'admin@localhost',
    });
    const link = await api('POST', '/v1/sign-in-links', { email: 'intern@acme.test', createUser: true });
    // Sign out, then in as the intern: the same browser, another person.
    await page.goto(`${info.url}/`);
    await page.click('text=Sign out');
    const intern = page;
    await intern.goto(link.url as string);
    await intern.click('#confirm');
    await intern.waitForURL(`${info.url}/`);
    const response = await intern.goto(`${info.url}/tasks/${task.id}`);
    expect(response?.status()).toBe(403);
    expect(await intern.textContent('h1')).toBe('Not your task');
  });
});
