// The @modelcontextprotocol/conformance server scenarios that apply to Holdpoint's MCP server, run
// by the suite's own CLI against the HTTP fixture (what `holdpoint serve` mounts at /mcp). Which
// scenarios apply and why the others do not: the package README, "Conformance".
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, stopHttpServers, tempStore } from './helpers.js';

const applicableScenarios = [
  'server-initialize',
  'ping',
  'tools-list',
  'dns-rebinding-protection',
  'server-sse-multiple-streams',
];

const cli = join(
  createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json'),
  '..',
  'dist',
  'index.js',
);
const { store, cleanup } = tempStore();
const results = mkdtempSync(join(tmpdir(), 'holdpoint-conformance-'));
let url: string;

beforeAll(async () => {
  const server = await startHttpServer(store);
  // The DNS-rebinding scenario needs a localhost URL.
  url = `http://localhost:${server.url.port}/mcp`;
});

afterAll(async () => {
  await stopHttpServers();
  cleanup();
  rmSync(results, { recursive: true, force: true });
});

const execute = promisify(execFile);

/** Run one scenario with the suite's CLI; its report, also when it exits non-zero. */
async function runScenario(scenario: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execute(
      process.execPath,
      [cli, 'server', '--url', url, '--scenario', scenario],
      {
        cwd: results,
      },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('MCP conformance (server scenarios that apply)', { timeout: 60_000 }, () => {
  for (const scenario of applicableScenarios) {
    it(scenario, async () => {
      const { code, output } = await runScenario(scenario);
      const summary = /Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/.exec(output);
      expect(summary, output).not.toBeNull();
      const [, passed, total, failed, warnings] = summary as RegExpExecArray;
      expect({ failed, warnings, code }, output).toEqual({ failed: '0', warnings: '0', code: 0 });
      expect(Number(passed)).toBe(Number(total));
      expect(Number(total)).toBeGreaterThan(0);
    });
  }
});
