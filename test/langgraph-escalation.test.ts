import { describe, expect, it } from 'vitest';
import { runExample } from './helpers.js';

describe('a LangGraph gate whose approver does not answer', () => {
  it('escalates to the delegate, who is reminded and approves; the graph goes on and the audit names the delegate', {
    timeout: 120_000,
  }, async () => {
    const { code, output } = await runExample('examples/board-report/index.ts', {
      BOARD_REPORT_HOUR: '100ms',
      BOARD_REPORT_SCENARIO: 'escalation',
    });
    // The CFO is reminded twice, then the delegate joins; the next reminder goes to both.
    expect(output).toMatch(/task-reminded approval v1 engine \S+ to cfo@acme\.test\n/);
    expect(output).toMatch(/task-escalated approval v1 engine \S+ to cfo@acme\.test, deputy-cfo@acme\.test/);
    expect(output).toMatch(/task-reminded approval v1 engine \S+ to cfo@acme\.test, deputy-cfo@acme\.test/);
    expect(output).toMatch(/task-decided approval v1 deputy-cfo@acme\.test \S+ approved/);
    expect(output).toContain('distributed v1 to the board (approved by deputy-cfo@acme.test)');
    expect(output).toContain('audit verified: true');
    expect(output).toContain('board report story OK');
    expect(code).toBe(0);
  });
});
