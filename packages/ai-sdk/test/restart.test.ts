import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHoldpoint } from '@holdpoint/core';
import { afterAll, describe, expect, it } from 'vitest';

const agent = fileURLToPath(new URL('./fixtures/refund-agent.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-ai-sdk-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Run the agent in a new process; its last output line, parsed. */
function runAgent(phase: 'start' | 'resume', files: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, agent, phase, ...files], {
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
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`agent ${phase} exited with ${code}:\n${output}`));
      else resolve(JSON.parse(output.trim().split('\n').at(-1) ?? '{}'));
    });
  });
}

function runsIn(file: string): unknown[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

// Three agent processes, each loading TypeScript through tsx: the timeout is a hang guard sized to
// that work on two busy cores.
describe('deferred approval across processes (SQLite file)', { timeout: 120_000 }, () => {
  it('a new process continues the conversation from the stored decision, with the approved change', async () => {
    const db = join(directory, 'holdpoint.db');
    const files = [db, join(directory, 'conversation.json'), join(directory, 'runs.jsonl')];
    const runs = files[2] as string;

    const started = await runAgent('start', files);
    const [pending] = started.pending as Array<{ approvalId: string; taskId: string }>;
    expect(pending).toBeDefined();
    expect(runsIn(runs)).toEqual([]);

    // Before anyone decides, a new process has nothing to continue with, and runs nothing.
    expect(await runAgent('resume', files)).toEqual({ pending: 1 });
    expect(runsIn(runs)).toEqual([]);

    // Finance decides from another process on the same file, lowering the amount.
    const hp = await createHoldpoint({ store: `sqlite://${db}`, timers: false });
    try {
      const task = await hp.getTask(pending!.taskId);
      expect(task.idempotencyKey).toBe(`ai-sdk/approval/${pending!.approvalId}`);
      await hp.decide(task.id, {
        outcome: 'approved',
        data: { orderId: 'A-1', amount: 180, reason: 'charged twice' },
        comment: 'Shipping is not refundable.',
        actor: 'finance@acme.test',
        versionDigest: task.versionDigest,
      });
    } finally {
      await hp.close();
    }

    const resumed = await runAgent('resume', files);
    expect(resumed.text).toContain(
      'finance@acme.test approved this call with changed arguments (amount: 250 → 180)',
    );
    expect(resumed.text).toContain('"output":{"refunded":180,"orderId":"A-1"}');
    expect(runsIn(runs)).toEqual([{ orderId: 'A-1', amount: 180, reason: 'charged twice' }]);
  });
});
