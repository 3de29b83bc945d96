// The client configurations in packages/mcp/README.md work as written: each snippet (Claude Desktop,
// Claude Code, Cursor, VS Code) is read from the README, its stdio command is run — the published
// `npx -y @holdpoint/cli` replaced by this repository's `holdpoint` binary — or its HTTP URL and
// headers are used against a running `holdpoint serve`, and a real SDK client calls the tools.
// Not run: the `mcp-remote` bridge mentioned for Claude Desktop (a package of its own).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHoldpoint } from '@holdpoint/core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdpointCommand, serveProcess, stopProcess } from '../packages/cli/test/serve-process.js';

const readme = readFileSync(new URL('../packages/mcp/README.md', import.meta.url), 'utf8');
const cliPackage = JSON.parse(
  readFileSync(new URL('../packages/cli/package.json', import.meta.url), 'utf8'),
) as {
  name: string;
  bin: Record<string, string>;
};
const home = mkdtempSync(join(tmpdir(), 'holdpoint-client-configs-'));
const quiet = {
  HOLDPOINT_URL: '',
  HOLDPOINT_KEY: '',
  HOLDPOINT_STORE: '',
  HOLDPOINT_AUDIT_KEY: '',
  HOLDPOINT_AUDIT_KEY_FILE: '',
};

/** A server entry as the clients' configurations write it. */
type Entry =
  | { kind: 'stdio'; command: string; args: string[] }
  | { kind: 'http'; url: string; headers: Record<string, string> };

/** The first fenced block after a client's bold heading in the README. */
function snippetOf(client: string): { language: string; text: string } {
  const start = readme.indexOf(`**${client}**`);
  expect(start, `the README configures ${client}`).toBeGreaterThanOrEqual(0);
  const match = /```(\w+)\n([\s\S]*?)```/.exec(readme.slice(start));
  expect(match, `a code block follows **${client}**`).not.toBeNull();
  return { language: match?.[1] as string, text: match?.[2] as string };
}

/** Entries of a JSON configuration: `mcpServers` (Claude Desktop, Cursor) or `servers` (VS Code). */
function jsonEntries(text: string): Record<string, Entry> {
  const config = JSON.parse(text) as Record<string, Record<string, Record<string, unknown>>>;
  const servers = config.mcpServers ?? config.servers ?? {};
  return Object.fromEntries(
    Object.entries(servers).map(([name, server]) => [
      name,
      typeof server.url === 'string'
        ? { kind: 'http', url: server.url, headers: (server.headers ?? {}) as Record<string, string> }
        : { kind: 'stdio', command: server.command as string, args: server.args as string[] },
    ]),
  );
}

/** Words of a shell line: spaces separate, double quotes group. */
function shellWords(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? (match[2] as string));
}

/** Entries of `claude mcp add` lines: `name -- command args…` or `--transport http name url --header "K: V"`. */
function claudeCodeEntries(text: string): Record<string, Entry> {
  const entries: Record<string, Entry> = {};
  for (const line of text.split('\n').filter((line) => line.startsWith('claude mcp add'))) {
    const words = shellWords(line).slice(3);
    const dashes = words.indexOf('--');
    if (dashes >= 0) {
      const [command, ...args] = words.slice(dashes + 1);
      entries[`${words[0]} (stdio)`] = { kind: 'stdio', command: command as string, args };
      continue;
    }
    expect(words.slice(0, 2)).toEqual(['--transport', 'http']);
    const headers: Record<string, string> = {};
    for (let index = 4; index < words.length; index += 2) {
      expect(words[index]).toBe('--header');
      const [key, ...value] = (words[index + 1] as string).split(':');
      headers[(key as string).trim()] = value.join(':').trim();
    }
    entries[`${words[2]} (http)`] = { kind: 'http', url: words[3] as string, headers };
  }
  return entries;
}

const configs: Record<string, Record<string, Entry>> = {
  'Claude Desktop': jsonEntries(snippetOf('Claude Desktop').text),
  'Claude Code': claudeCodeEntries(snippetOf('Claude Code').text),
  Cursor: jsonEntries(snippetOf('Cursor').text),
  'VS Code': jsonEntries(snippetOf('VS Code').text),
};

/** The client's variables, as the client would fill them in. */
function substitute(value: string, variables: { folder: string; key: string }): string {
  return value
    .replaceAll('${workspaceFolder}', variables.folder)
    .replaceAll('/Users/alice', variables.folder)
    .replaceAll('${env:HOLDPOINT_API_KEY}', variables.key)
    .replaceAll('${input:holdpoint-key}', variables.key)
    .replaceAll('$HOLDPOINT_API_KEY', variables.key);
}

/** Ask a human without waiting, then read the task back: the tools work on this connection. */
async function exercise(client: Client, title: string): Promise<string> {
  const tools = await client.listTools();
  expect(tools.tools.map((tool) => tool.name)).toContain('wait_for_human');
  const asked = (await client.callTool({
    name: 'wait_for_human',
    arguments: { assignee: 'cfo@acme.test', title, wait: false },
  })) as CallToolResult;
  expect(asked.isError, JSON.stringify(asked.content)).toBeFalsy();
  const { taskId } = asked.structuredContent as { taskId: string };
  const read = (await client.callTool({ name: 'get_human_task', arguments: { taskId } })) as CallToolResult;
  expect(read.structuredContent).toMatchObject({ taskId, title, status: 'pending' });
  return taskId;
}

let server: Awaited<ReturnType<typeof serveProcess>>;
let agentKey: string;

beforeAll(async () => {
  server = await serveProcess(['--store', `sqlite://${join(home, 'shared.db')}`], { cwd: home, env: quiet });
  const made = await fetch(`${server.info.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.info.firstAdminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'assistant', scope: 'agent' }),
  });
  agentKey = ((await made.json()) as { secret: string }).secret;
}, 60_000);

afterAll(async () => {
  if (server) await stopProcess(server.child);
  rmSync(home, { recursive: true, force: true });
});

describe('client configurations in the MCP README', { timeout: 120_000 }, () => {
  it('configures each client with the published command, and HTTP where the client has it', () => {
    expect(Object.keys(cliPackage.bin)).toEqual(['holdpoint']);
    const kinds = Object.fromEntries(
      Object.entries(configs).map(([client, entries]) => [
        client,
        Object.values(entries).map((entry) => entry.kind),
      ]),
    );
    expect(kinds).toEqual({
      'Claude Desktop': ['stdio'],
      'Claude Code': ['stdio', 'http'],
      Cursor: ['stdio', 'http'],
      'VS Code': ['stdio', 'http'],
    });
    for (const entries of Object.values(configs)) {
      for (const entry of Object.values(entries)) {
        if (entry.kind !== 'stdio') continue;
        // `npx -y <package>` runs the package's one binary: the package must be the CLI's.
        expect(entry.command).toBe('npx');
        expect(entry.args.slice(0, 3)).toEqual(['-y', cliPackage.name, 'mcp']);
      }
    }
  });

  for (const [client, entries] of Object.entries(configs)) {
    for (const [name, entry] of Object.entries(entries)) {
      it(`${client}: ${name} starts a working server`, async () => {
        const folder = mkdtempSync(join(home, 'workspace-'));
        const variables = { folder, key: agentKey };
        const title = `${client} ${name}`;
        const mcp = new Client({ name: client, version: '1.0.0' });
        if (entry.kind === 'stdio') {
          // The published `npx -y @holdpoint/cli` is this repository's binary here.
          const args = entry.args.slice(2).map((arg) => substitute(arg, variables));
          const [command, ...rest] = holdpointCommand(args);
          await mcp.connect(
            new StdioClientTransport({
              command: command as string,
              args: rest,
              cwd: folder,
              env: { ...(process.env as Record<string, string>), ...quiet },
              stderr: 'pipe',
            }),
          );
          const taskId = await exercise(mcp, title);
          await mcp.close();
          // The task is in the store the snippet names.
          const storeArg = args[args.indexOf('--store') + 1] as string;
          const store = storeArg.replace('sqlite://./', `sqlite://${folder}/`);
          const hp = await createHoldpoint({ store, timers: false });
          try {
            expect((await hp.getTask(taskId)).title).toBe(title);
          } finally {
            await hp.close();
          }
        } else {
          const url = new URL(entry.url);
          expect(url.pathname).toBe('/mcp');
          // The server's public name stands for the test server's address.
          const served = new URL(url.pathname, server.info.url);
          const headers = Object.fromEntries(
            Object.entries(entry.headers).map(([key, value]) => [key, substitute(value, variables)]),
          );
          expect(headers.Authorization).toBe(`Bearer ${agentKey}`);
          await mcp.connect(new StreamableHTTPClientTransport(served, { requestInit: { headers } }));
          await exercise(mcp, title);
          await mcp.close();
        }
      });
    }
  }
});
