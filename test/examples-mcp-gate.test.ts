import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exited, runScript, tempSqlite } from './helpers.js';

const store = tempSqlite('mcp-gate.db');
afterAll(() => rmSync(dirname(store.slice('sqlite://'.length)), { recursive: true, force: true }));

describe('examples/mcp-gate', { timeout: 60_000 }, () => {
  it('the assistant calls wait_for_human over stdio; the DBA approves through a second engine; the answer checks out', async () => {
    process.env.HOLDPOINT_STORE = store;
    const child = runScript(new URL('../examples/mcp-gate/index.ts', import.meta.url), []);
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const code = await exited(child);
    expect(output).toContain(
      'assistant sees tools: wait_for_human, get_human_task, list_human_tasks, cancel_human_task',
    );
    expect(output).toMatch(
      /Decision on "Drop the staging database": approved by DBA on call <dba@acme\.test> \(human\)/,
    );
    expect(output).toContain('assistant: approved by the DBA');
    expect(code, output).toBe(0);
  });
});
