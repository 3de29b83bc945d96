// The real `holdpoint` binary, run as a process: on a store directly, and against `holdpoint serve`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdpointStdioTransport, runHoldpoint, serveProcess, stopProcess } from './serve-process.js';

const folder = mkdtempSync(join(tmpdir(), 'holdpoint-cli-'));
const store = `sqlite://${join(folder, 'holdpoint.db')}`;
const auditKeyFile = join(folder, 'audit-key.pem');
const quiet = {
  HOLDPOINT_URL: '',
  HOLDPOINT_KEY: '',
  HOLDPOINT_STORE: '',
  HOLDPOINT_AUDIT_KEY: '',
  HOLDPOINT_AUDIT_KEY_FILE: '',
};

/** Run the binary to its end. */
function holdpoint(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runHoldpoint(args, { cwd: folder, env: quiet });
}

const serve = (args: string[]) => serveProcess(['--store', store, ...args], { cwd: folder, env: quiet });
const stop = stopProcess;

let server: Awaited<ReturnType<typeof serve>>;
let admin: string;
let agent: string;
const remote = () => ['--url', server.info.url, '--key', admin];
// Each test starts the binary several times (up to eleven), and each start loads TypeScript through
// tsx: on two busy cores one start can take seconds. The timeout is a hang guard sized to that work.
const processes = { timeout: 180_000 };

beforeAll(async () => {
  const keygen = await holdpoint(['audit', 'keygen', '--out', auditKeyFile]);
  expect(keygen.code).toBe(0);
  server = await serve(['--audit-key-file', auditKeyFile]);
  admin = server.info.firstAdminKey as string;
  const created = await fetch(`${server.info.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'agent', scope: 'agent' }),
  });
  agent = ((await created.json()) as { secret: string }).secret;
}, processes.timeout);

afterAll(async () => {
  if (server) await stop(server.child);
  rmSync(folder, { recursive: true, force: true });
});

/** A pending approval task for `assignee`, asked over HTTP by the agent. */
async function askHuman(assignee: string): Promise<{ id: string; intentId: string; versionDigest: string }> {
  const response = await fetch(`${server.info.url}/v1/tasks`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${agent}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ assignee, title: 'Ship it', context: { version: 7 } }),
  });
  return (await response.json()) as { id: string; intentId: string; versionDigest: string };
}

describe('holdpoint serve', processes, () => {
  it('prints its URL, where the audit key is, and a first admin key only on the first start', async () => {
    expect(server.info).toMatchObject({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      auditKey: { source: `file:${auditKeyFile}`, fingerprint: expect.stringMatching(/^ed25519:/) },
      firstAdminKey: expect.stringMatching(/^hpk_/),
    });
    expect(server.info.auditKey.warning).toBeUndefined();
    // A second server on the same store: no new admin key; without a key file it warns.
    const second = await serve([]);
    expect(second.info.firstAdminKey).toBeUndefined();
    expect(second.info.auditKey).toMatchObject({
      source: 'store',
      warning: expect.stringContaining('re-sign'),
    });
    expect(await stop(second.child)).toBe(0);
  });
});

describe('holdpoint tasks', processes, () => {
  it('lists, shows and decides against a running server, with exit codes scripts can use', async () => {
    const task = await askHuman('cfo@acme.test');
    const listed = await holdpoint(['tasks', 'list', '--status', 'pending', '--json', ...remote()]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).tasks.map((each: { id: string }) => each.id)).toContain(task.id);
    const table = await holdpoint(['tasks', 'list', ...remote()]);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+TYPE/);

    const shown = await holdpoint(['tasks', 'show', task.id, ...remote()]);
    expect(shown.stdout).toContain(task.versionDigest);

    const stranger = await holdpoint([
      'keys',
      'create',
      '--name',
      'eve',
      '--scope',
      'person',
      '--actor',
      'eve@acme.test',
      ...remote(),
    ]);
    const refused = await holdpoint([
      'tasks',
      'decide',
      task.id,
      '--outcome',
      'approved',
      '--url',
      server.info.url,
      '--key',
      stranger.stdout.trim(),
    ]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('NOT_ASSIGNED');

    const cfo = await holdpoint([
      'keys',
      'create',
      '--name',
      'cfo',
      '--scope',
      'person',
      '--actor',
      'cfo@acme.test',
      ...remote(),
    ]);
    const decided = await holdpoint([
      'tasks',
      'decide',
      task.id,
      '--outcome',
      'approved',
      '--comment',
      'fine',
      '--version',
      task.versionDigest,
      '--url',
      server.info.url,
      '--key',
      cfo.stdout.trim(),
    ]);
    expect(decided.code).toBe(0);
    expect(decided.stdout).toContain('recorded as cfo@acme.test');
    const again = await holdpoint([
      'tasks',
      'decide',
      task.id,
      '--outcome',
      'rejected',
      '--json',
      ...remote(),
    ]);
    expect(again.code).toBe(4);
    expect(JSON.parse(again.stderr).error.code).toBe('ALREADY_DECIDED');

    const codes = await Promise.all([
      holdpoint(['tasks', 'show', 'tsk_missing.x', ...remote()]),
      holdpoint(['tasks', 'list', '--url', server.info.url, '--key', 'hpk_wrong']),
      holdpoint(['tasks', 'list', '--limit', 'many', ...remote()]),
    ]);
    expect(codes.map((result) => result.code)).toEqual([3, 5, 2]);
  });

  it('works on the store directly, deciding as the local admin', async () => {
    const task = await askHuman('ops@acme.test');
    const decided = await holdpoint([
      'tasks',
      'decide',
      task.id,
      '--outcome',
      'rejected',
      '--json',
      '--store',
      store,
    ]);
    expect(decided.code).toBe(0);
    expect(JSON.parse(decided.stdout).decision.actor.id).toMatch(/^local:/);
  });

  it('users link for someone not yet a user names the flag that adds them', async () => {
    const refused = await holdpoint(['users', 'link', 'newcomer@acme.test', ...remote()]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(
      'No user has email newcomer@acme.test: add them first (holdpoint users add newcomer@acme.test), or pass --create.',
    );
    const made = await holdpoint(['users', 'link', 'newcomer@acme.test', '--create', ...remote()]);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('/sign-in/');
  });

  it('says when the server cannot be reached', async () => {
    const unreachable = await holdpoint(['tasks', 'list', '--url', 'http://127.0.0.1:9', '--key', admin]);
    expect(unreachable.code).toBe(6);
  });
});

describe('holdpoint audit', processes, () => {
  it('exports a trail and verifies it against the trusted key; a changed one fails with exit code 7', async () => {
    const task = await askHuman('cfo@acme.test');
    await holdpoint(['tasks', 'decide', task.id, '--outcome', 'approved', ...remote()]);
    const file = join(folder, 'trail.jsonl');
    expect((await holdpoint(['audit', 'export', task.intentId, '--out', file, ...remote()])).code).toBe(0);

    const verified = await holdpoint(['audit', 'verify', file, ...remote()]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/result:\s+verified/);
    expect(verified.stdout).toContain('the trusted key');
    expect(verified.stdout).toContain(server.info.auditKey.fingerprint);

    const key = await holdpoint(['audit', 'key', '--json', ...remote()]);
    const publicKeyFile = join(folder, 'public.pem');
    writeFileSync(publicKeyFile, JSON.parse(key.stdout).publicKey);
    const offline = await holdpoint(['audit', 'verify', file, '--public-key', publicKeyFile, '--json']);
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ ok: true, trusted: true });

    const tampered = join(folder, 'tampered.jsonl');
    writeFileSync(
      tampered,
      readFileSync(file, 'utf8').replace('"outcome":"approved"', '"outcome":"rejected"'),
    );
    const failed = await holdpoint(['audit', 'verify', tampered, ...remote()]);
    expect(failed.code).toBe(7);
    expect(failed.stdout).toContain('NOT VERIFIED');
  });

  /** Exit code 2 and one line on stderr that names the file and what is wrong: no stack trace. */
  function expectFileError(result: { code: number; stderr: string }, message: string): void {
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`holdpoint: ${message}\n`);
    expect(result.stderr).not.toContain('    at ');
  }

  it('audit verify: a missing trail, a directory or a missing public key is an input error', async () => {
    const trail = join(folder, 'any-trail.jsonl');
    writeFileSync(trail, '{}\n');
    const missing = join(folder, 'no-such-trail.jsonl');
    const missingKey = join(folder, 'no-such-key.pem');
    const [noTrail, directory, noKey] = await Promise.all([
      holdpoint(['audit', 'verify', missing, ...remote()]),
      holdpoint(['audit', 'verify', folder, ...remote()]),
      holdpoint(['audit', 'verify', trail, '--public-key', missingKey]),
    ]);
    expectFileError(noTrail, `cannot read ${missing}: no such file`);
    expectFileError(directory, `cannot read ${folder}: it is a directory`);
    expectFileError(noKey, `cannot read ${missingKey}: no such file`);
  });

  it('audit export --out: a directory or a missing directory is an input error', async () => {
    const task = await askHuman('cfo@acme.test');
    const nowhere = join(folder, 'no-such-dir', 'trail.jsonl');
    const [directory, noDirectory] = await Promise.all([
      holdpoint(['audit', 'export', task.intentId, '--out', folder, ...remote()]),
      holdpoint(['audit', 'export', task.intentId, '--out', nowhere, ...remote()]),
    ]);
    expectFileError(directory, `cannot write ${folder}: it is a directory`);
    expectFileError(noDirectory, `cannot write ${nowhere}: no such directory`);
  });

  it('audit keygen --out in a missing directory, and a directory as --audit-key-file, are input errors', async () => {
    const nowhere = join(folder, 'no-such-dir', 'audit-key.pem');
    const [keygen, keyFile] = await Promise.all([
      holdpoint(['audit', 'keygen', '--out', nowhere]),
      holdpoint(['tasks', 'list', '--store', store, '--audit-key-file', folder]),
    ]);
    expectFileError(keygen, `cannot write ${nowhere}: no such directory`);
    expectFileError(keyFile, `cannot read ${folder}: it is a directory`);
  });
});

describe('holdpoint keys and help', processes, () => {
  it('creates, lists and revokes keys on the store directly', async () => {
    const created = await holdpoint([
      'keys',
      'create',
      '--name',
      'ci',
      '--scope',
      'agent',
      '--json',
      '--store',
      store,
    ]);
    expect(created.code).toBe(0);
    const { key, secret } = JSON.parse(created.stdout);
    expect(secret).toMatch(/^hpk_/);
    const listed = await holdpoint(['keys', 'list', '--json', '--store', store]);
    expect(JSON.parse(listed.stdout).keys.map((each: { id: string }) => each.id)).toContain(key.id);
    expect(listed.stdout).not.toContain(secret);
    expect((await holdpoint(['keys', 'revoke', key.id, '--store', store])).code).toBe(0);
    const revoked = await fetch(`${server.info.url}/v1/me`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(revoked.status).toBe(401);
    expect(
      (await holdpoint(['keys', 'create', '--name', 'p', '--scope', 'person', '--store', store])).code,
    ).toBe(2);
  });

  it('has help for each command and refuses unknown commands and flags with exit code 2', async () => {
    const [help, decideHelp, ...wrong] = await Promise.all([
      holdpoint(['--help']),
      holdpoint(['tasks', 'decide', '--help']),
      holdpoint(['tasks', 'frobnicate']),
      holdpoint(['tasks', 'list', '--frobnicate']),
      holdpoint(['tasks', 'decide']),
    ]);
    expect(help?.code).toBe(0);
    for (const name of ['serve', 'tasks list', 'tasks decide', 'audit verify', 'keys revoke'])
      expect(help?.stdout).toContain(name);
    expect(decideHelp?.stdout).toContain('--outcome <outcome>');
    expect(decideHelp?.stdout).toContain('Exit codes');
    expect(wrong.map((result) => result.code)).toEqual([2, 2, 2]);
  });
});

describe('MCP, composed by the CLI', processes, () => {
  it('serve mounts MCP at /mcp with the same API keys: an agent key asks a human there', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.info.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${agent}` } },
    });
    const client = new Client({ name: 'cli-test', version: '1.0.0' });
    await client.connect(transport);
    const tools = await client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toContain('wait_for_human');
    const asked = await client.callTool({
      name: 'wait_for_human',
      arguments: { assignee: 'cfo@acme.test', title: 'Over MCP', wait: false },
    });
    const { taskId } = asked.structuredContent as { taskId: string };
    const task = await fetch(`${server.info.url}/v1/tasks/${taskId}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(((await task.json()) as { title: string }).title).toBe('Over MCP');
    await client.close();

    const refused = await fetch(`${server.info.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }),
    });
    expect(refused.status).toBe(401);
  });

  it('holdpoint mcp serves the tools over stdio on the store', async () => {
    const transport = holdpointStdioTransport(['mcp', '--store', store], { cwd: folder, env: quiet });
    const client = new Client({ name: 'cli-test', version: '1.0.0' });
    await client.connect(transport);
    const listed = await client.callTool({
      name: 'list_human_tasks',
      arguments: { assignee: 'cfo@acme.test' },
    });
    const { tasks } = listed.structuredContent as { tasks: Array<{ title: string }> };
    expect(tasks.map((task) => task.title)).toContain('Over MCP');
    await client.close();
  });
});
