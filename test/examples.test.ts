import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
// Resolved here, because the example runs in a scratch folder where `tsx` is not installed.
const tsx = import.meta.resolve('tsx');

function runExample(
  file: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, join(root, file)], {
      cwd: mkdtempSync(join(tmpdir(), 'holdpoint-example-')),
      env: { ...process.env, CI: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

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
