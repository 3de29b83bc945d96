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
