import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runExample } from './helpers.js';

describe('examples are runnable stories that check themselves', () => {
  it('quickstart: the agent waits, a second process decides, the audit trail verifies', async () => {
    // The default store: a SQLite file under .holdpoint/ in the working directory.
    const { code, output } = await runExample('examples/quickstart/index.ts', {});
    expect(output).toContain('no terminal: a second process decides as the CFO');
    expect(output).toMatch(/decision: approved by cfo@acme\.test \(human\)/);
    expect(output).toContain('audit verified: true');
    expect(code).toBe(0);
  });
});

describe('the README quick start', () => {
  const root = new URL('..', import.meta.url);
  it('is exactly npm start and npm test; start serves the inbox with the demo, the old story is npm run quickstart', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const section = readme.slice(readme.indexOf('## Quick start'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const commands = block
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter((line) => line !== '');
    expect(commands).toEqual(['npm start', 'npm test']);
    const { scripts } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      scripts: Record<string, string>;
    };
    // packages/cli/test/start.test.ts and test/inbox-browser.test.ts run exactly these arguments.
    expect(scripts.start).toBe(
      'node scripts/dev.mjs run packages/cli/src/bin.ts serve --admin admin@localhost --demo',
    );
    expect(scripts.quickstart).toBe('node scripts/dev.mjs run examples/quickstart/index.ts');
    expect(readme).toContain('npm run quickstart');
  });
});
