import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createHoldpoint, type HumanTask } from '@holdpoint/core';
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CallToolResult, CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';
import type { TaskView } from '../src/index.js';

const tsx = import.meta.resolve('tsx');
export const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A SQLite file of its own, removed by `cleanup`. */
export function tempStore(): { store: string; cleanup: () => void } {
  const directory = mkdtempSync(join(tmpdir(), 'holdpoint-mcp-'));
  return {
    store: `sqlite://${join(directory, 'holdpoint.db')}`,
    cleanup: () => rmSync(directory, { recursive: true, force: true }),
  };
}

/** The human's side: another engine on the same store, deciding as an inbox would. */
export async function humanEngine(store: string) {
  return createHoldpoint({ store, timers: false, pollInterval: '100ms' });
}

export type Human = Awaited<ReturnType<typeof humanEngine>>;

/** The pending task of `assignee` once it exists (the agent's call creates it). */
export async function pendingTaskOf(human: Human, assignee: string, title?: string): Promise<HumanTask> {
  let found: HumanTask | undefined;
  await expect
    .poll(
      async () => {
        const page: unknown = await human.listTasks({ assignee, status: 'pending' });
        const tasks = Array.isArray(page) ? (page as HumanTask[]) : (page as { tasks: HumanTask[] }).tasks;
        found = tasks.find((task) => title === undefined || task.title === title);
        return found !== undefined;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toBe(true);
  return found as HumanTask;
}

/** Spawn the stdio server (what `holdpoint mcp` runs) and connect a real SDK client to it. */
export async function connectStdio(
  store: string,
  options: Record<string, unknown> = {},
  clientOptions: ClientOptions = {},
): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', tsx, fixture('stdio-server.ts'), store, JSON.stringify(options)],
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const client = new Client({ name: 'holdpoint-test', version: '1.0.0' }, clientOptions);
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

const running = new Set<() => Promise<void>>();

/** Stop every HTTP fixture this test file started and did not stop (also after a failure). */
export async function stopHttpServers(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

/** Start the HTTP fixture (what `holdpoint serve` mounts at /mcp) in its own process. */
export async function startHttpServer(
  store: string,
  options: Record<string, unknown> = {},
  port = 0,
): Promise<{ url: URL; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', tsx, fixture('http-server.ts'), store, JSON.stringify(options), String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const listening = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the HTTP server exited with ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  const stop = async () => {
    running.delete(stop);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  running.add(stop);
  return { url: new URL(`http://127.0.0.1:${listening}/mcp`), child, stop };
}

/** A real SDK client over Streamable HTTP, with a bearer key when given. */
export async function connectHttp(
  url: URL,
  token?: string,
  clientOptions: ClientOptions = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(url, {
    ...(token ? { requestInit: { headers: { Authorization: `Bearer ${token}` } } } : {}),
  });
  const client = new Client({ name: 'holdpoint-test', version: '1.0.0' }, clientOptions);
  await client.connect(transport);
  return { client, transport };
}

/** The structured content of a successful tool result (and its text agrees). */
export function viewOf(result: unknown): TaskView {
  const call = result as CallToolResult;
  expect(call.isError, JSON.stringify(call.content)).toBeFalsy();
  const view = call.structuredContent as TaskView;
  const text = call.content[0];
  expect(text?.type).toBe('text');
  expect(text?.type === 'text' && text.text).toContain(view.taskId);
  return view;
}

/** The text of a tool error. */
export function errorText(result: unknown): string {
  const call = result as CallToolResult;
  expect(call.isError).toBe(true);
  const text = call.content[0];
  return text?.type === 'text' ? text.text : '';
}

/**
 * Call `wait_for_human` and return its structured result. With `onprogress` the call carries a
 * progress token and resets its timeout on progress, as a client waiting for a person would.
 */
export async function callWait(
  client: Client,
  args: Record<string, unknown>,
  onprogress?: (progress: Progress) => void,
): Promise<TaskView> {
  const result = await client.callTool(
    { name: 'wait_for_human', arguments: args },
    CallToolResultSchema,
    onprogress ? { onprogress, resetTimeoutOnProgress: true } : undefined,
  );
  return viewOf(result);
}
