import { describe, expect, it } from 'vitest';
import { runExample } from './helpers.js';

describe('examples/board-report checks its own story', () => {
  it('legal asks for a change, the old version is refused, the CFO approves after a reminder, the audit verifies', {
    timeout: 120_000,
  }, async () => {
    const { code, output } = await runExample('examples/board-report/index.ts', {
      BOARD_REPORT_HOUR: '100ms',
    });
    expect(output).toContain("refused as it should be: legal's approval of v1 refused on v2: STALE_VERSION");
    expect(output).toMatch(/task-decided review v1 legal@acme\.test \S+ changes_requested/);
    expect(output).toMatch(/task-decided review v2 legal@acme\.test \S+ approved/);
    expect(output).toMatch(/task-reminded approval v2 engine \S+ to cfo@acme\.test/);
    expect(output).toMatch(/task-decided approval v2 cfo@acme\.test \S+ approved/);
    expect(output).toContain('audit verified: true; with one actor changed: false');
    expect(output).toContain('board report story OK');
    expect(code).toBe(0);
  });
});
