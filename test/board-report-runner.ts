// Runs examples/board-report as a process, for the tests that check its story.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
// Resolved here: the example runs in a scratch folder where `tsx` is not installed.
const tsx = import.meta.resolve('tsx');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Run the board-report example in a scratch folder (its SQLite file lands there) with one hour lasting 100 ms. */
export function runBoardReport(
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'holdpoint-board-report-'));
  dirs.push(cwd);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, join(root, 'examples/board-report/index.ts')], {
      cwd,
      env: { ...process.env, BOARD_REPORT_HOUR: '100ms', ...env },
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
