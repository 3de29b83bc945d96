import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
// Resolved here, because the example runs in a scratch folder where `tsx` is not installed.
const tsx = import.meta.resolve('tsx');
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-example-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function runExample(file: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, join(root, file)], {
      cwd: directory,
      env: { ...process.env, CI: '1' },
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
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('examples/ai-sdk-refund', () => {
  it('the support agent refunds, finance escalates to a delegate who lowers one refund, the audit verifies', async () => {
    // The default store: a SQLite file under .holdpoint/ in the working directory.
    const { code, output } = await runExample('examples/ai-sdk-refund/index.ts');
    expect(output).toContain('escalates to dan@acme.test');
    expect(output).toContain('(amount: 250 → 180)');
    expect(output).toContain('Sorry, I could not refund: Over the $500 goodwill limit');
    expect(output).toContain('verified: true');
    expect(output).toContain('refund desk: all checks passed');
    expect(code).toBe(0);
  });
});
