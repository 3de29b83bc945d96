// MCP tasks are kept by the engine: the flow completes after the server process is SIGKILLed
// mid-task and started again, over stdio and over HTTP.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  connectHttp,
  connectStdio,
  humanEngine,
  startHttpServer,
  stopHttpServers,
  tempStore,
  viewOf,
} from './helpers.js';

const { store, cleanup } = tempStore();
const human = await humanEngine(store);

afterAll(async () => {
  await stopHttpServers();
  await human.close();
  cleanup();
});

/** Start a wait as an MCP task and return its id once the server created it. */
async function startTask(client: Client, title: string): Promise<string> {
  // As clients do: the tool list says wait_for_human may run as a task.
  await client.listTools();
  const stream = client.experimental.tasks.callToolStream(
    { name: 'wait_for_human', arguments: { title, assignee: 'cfo@acme.test', idempotencyKey: title } },
    CallToolResultSchema,
  );
  for await (const message of stream) {
    if (message.type === 'taskCreated') return message.task.taskId;
    if (message.type === 'error') throw message.error;
  }
  throw new Error('no task was created');
}

/** After the restart: the task is still working; the human decides; the client reads the result. */
async function finishTask(client: Client, taskId: string): Promise<void> {
  expect((await client.experimental.tasks.getTask(taskId)).status).toBe('working');
  await human.decide(taskId, { outcome: 'approved', comment: 'after the restart', actor: 'cfo@acme.test' });
  await expect
    .poll(async () => (await client.experimental.tasks.getTask(taskId)).status, { timeout: 30_000 })
    .toBe('completed');
  const result = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
  expect(viewOf(result)).toMatchObject({
    taskId,
    status: 'decided',
    outcome: 'approved',
    comment: 'after the restart',
    actor: { id: 'cfo@acme.test' },
  });
}

// Two server processes start per test: on a busy machine that alone can take many seconds.
describe('the tasks flow survives a SIGKILL of the server', { timeout: 120_000 }, () => {
  it('over stdio', async () => {
    const first = await connectStdio(store, { taskPollInterval: '100ms' });
    const taskId = await startTask(first.client, 'Pay invoice 118');
    const killed = new Promise((resolve) => {
      first.transport.onclose = () => resolve(undefined);
    });
    process.kill(first.transport.pid as number, 'SIGKILL');
    await killed;

    const second = await connectStdio(store, { taskPollInterval: '100ms' });
    try {
      await finishTask(second.client, taskId);
    } finally {
      await second.client.close();
    }
  });

  it('over HTTP, bound to the API key that created it', async () => {
    const keys = { 'key-cfo-agent': { id: 'agent-1' }, 'key-other': { id: 'agent-2' } };
    const first = await startHttpServer(store, { keys, taskPollInterval: '100ms' });
    const firstClient = (await connectHttp(first.url, 'key-cfo-agent')).client;
    const taskId = await startTask(firstClient, 'Sign contract 9');
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    await firstClient.close().catch(() => undefined);

    const second = await startHttpServer(store, { keys, taskPollInterval: '100ms' }, Number(first.url.port));
    try {
      const stranger = (await connectHttp(second.url, 'key-other')).client;
      await expect(stranger.experimental.tasks.getTask(taskId)).rejects.toThrow(/not found/i);
      await stranger.close();
      const client = (await connectHttp(second.url, 'key-cfo-agent')).client;
      await finishTask(client, taskId);
      await client.close();
    } finally {
      await second.stop();
    }
  });
});
