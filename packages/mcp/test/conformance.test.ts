// The @modelcontextprotocol/conformance server scenarios that apply to Holdpoint's MCP server, run
// by the suite's own CLI against the HTTP fixture (what `holdpoint serve` mounts at /mcp). Which
// scenarios apply and why the others do not: the package README, "Conformance".
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

function runScenario(scenario: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'server', '--url', url, '--scenario', scenario], {
      cwd: results,
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

describe('MCP conformance (server scenarios that apply)', () => {
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
