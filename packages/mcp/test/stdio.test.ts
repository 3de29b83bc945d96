// Over stdio, with the SDK's real Client and a spawned server process (what `holdpoint mcp` runs);
// the human decides through another engine on the same SQLite file.
import { readFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callWait,
  connectStdio,
  errorText,
  type Human,
  humanEngine,
  pendingTaskOf,
  tempStore,
  viewOf,
} from './helpers.js';

const { store, cleanup } = tempStore();
let human: Human;
let client: Client;
let transport: StdioClientTransport;

beforeAll(async () => {
  human = await humanEngine(store);
  ({ client, transport } = await connectStdio(store, {
    progressInterval: '100ms',
    taskPollInterval: '100ms',
    blockWithoutProgress: '1s',
    inboxUrl: 'http://localhost:8787',
  }));
});

afterAll(async () => {
  await client?.close();
  await human?.close();
  cleanup();
});

describe('holdpoint mcp over stdio', () => {
  it('lists the four tools with input and output schemas, annotations and task support', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(client.getServerVersion()).toEqual({ name: 'holdpoint', version });
    expect(client.getServerCapabilities()).toMatchObject({
      tools: {},
      tasks: { cancel: {}, requests: { tools: { call: {} } } },
    });
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
    expect(Object.keys(byName).sort()).toEqual([
      'cancel_human_task',
      'get_human_task',
      'list_human_tasks',
      'wait_for_human',
    ]);
    const wait = byName.wait_for_human!;
    expect(wait.execution?.taskSupport).toBe('optional');
    expect(Object.keys(wait.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining([
        'task',
        'title',
        'description',
        'assignee',
        'assignees',
        'quorum',
        'context',
        'timeout',
        'remind',
        'escalateTo',
        'onTimeout',
        'schema',
        'idempotencyKey',
        'wait',
      ]),
    );
    expect(wait.outputSchema?.properties).toHaveProperty('outcome');
    expect(wait.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      openWorldHint: true,
    });
    expect(byName.get_human_task!.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.list_human_tasks!.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.cancel_human_task!.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
    });
  });

  it('a blocking wait resolves when the human decides, with progress notifications meanwhile', async () => {
    const progress: Progress[] = [];
    const call = callWait(
      client,
      {
        task: 'approval',
        title: 'Deploy v2 to production',
        assignee: 'ops@acme.test',
        context: { version: '2.0.0' },
        timeout: '1h',
        idempotencyKey: 'deploy-v2',
      },
      (params) => progress.push(params),
    );
    const task = await pendingTaskOf(human, 'ops@acme.test', 'Deploy v2 to production');
    await expect.poll(() => progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]?.message).toContain(task.id);
    expect(progress[1]!.progress).toBeGreaterThan(progress[0]!.progress);
    await human.decide(task.id, {
      outcome: 'approved',
      comment: 'Ship it',
      actor: { id: 'ops@acme.test', name: 'Ops' },
      versionDigest: task.versionDigest,
    });
    const view = await call;
    expect(view).toMatchObject({
      status: 'decided',
      taskId: task.id,
      outcome: 'approved',
      comment: 'Ship it',
      actor: { id: 'ops@acme.test', name: 'Ops' },
      decidedBy: 'human',
      url: `http://localhost:8787/tasks/${task.id}`,
    });
    expect(view.decidedAt).toBeTypeOf('string');
    // The same key again: the decision at once, not a second task.
    const again = await callWait(client, {
      title: 'Deploy v2 to production',
      assignee: 'ops@acme.test',
      context: { version: '2.0.0' },
      timeout: '1h',
      idempotencyKey: 'deploy-v2',
    });
    expect(again).toMatchObject({ taskId: task.id, status: 'decided', outcome: 'approved' });
  });

  it('without a progress token the call returns pending before the client times out, and get_human_task reads on', async () => {
    const view = await callWait(client, { title: 'Refund order 77', assignee: 'finance@acme.test' });
    expect(view.status).toBe('pending');
    expect(view.next).toContain('get_human_task');
    await human.decide(view.taskId, {
      outcome: 'rejected',
      comment: 'Not eligible',
      actor: 'finance@acme.test',
    });
    const read = viewOf(
      await client.callTool({ name: 'get_human_task', arguments: { taskId: view.taskId } }),
    );
    expect(read).toMatchObject({ status: 'decided', outcome: 'rejected', comment: 'Not eligible' });
  });

  it('non-blocking: wait:false returns the task id at once; get_human_task reports the decision later', async () => {
    const view = await callWait(client, {
      task: 'clarification',
      title: 'Which region?',
      assignee: 'pm@acme.test',
      wait: false,
    });
    expect(view).toMatchObject({ status: 'pending', type: 'clarification', assignees: ['pm@acme.test'] });
    expect(view.next).toContain(view.taskId);
    const pending = viewOf(
      await client.callTool({ name: 'get_human_task', arguments: { taskId: view.taskId } }),
    );
    expect(pending.status).toBe('pending');
    await human.decide(view.taskId, { outcome: 'provided', comment: 'eu-west-1', actor: 'pm@acme.test' });
    const decided = viewOf(
      await client.callTool({ name: 'get_human_task', arguments: { taskId: view.taskId } }),
    );
    expect(decided).toMatchObject({ status: 'decided', outcome: 'provided', comment: 'eu-west-1' });
    const listed = await client.callTool({
      name: 'list_human_tasks',
      arguments: { assignee: 'pm@acme.test' },
    });
    expect(
      (listed.structuredContent as { tasks: { taskId: string }[] }).tasks.map((task) => task.taskId),
    ).toContain(view.taskId);
  });

  it('runs as an MCP task: created at once, completed when the human decides', async () => {
    const stream = client.experimental.tasks.callToolStream(
      { name: 'wait_for_human', arguments: { title: 'Rotate the API keys', assignee: 'sec@acme.test' } },
      CallToolResultSchema,
    );
    const seen: string[] = [];
    let result: unknown;
    for await (const message of stream) {
      seen.push(message.type);
      if (message.type === 'taskCreated') {
        const task = await human.getTask(message.task.taskId);
        expect(task.status).toBe('pending');
        await human.decide(task.id, { outcome: 'approved', actor: 'sec@acme.test' });
      }
      if (message.type === 'result') result = message.result;
      if (message.type === 'error') throw message.error;
    }
    expect(seen[0]).toBe('taskCreated');
    expect(viewOf(result)).toMatchObject({
      status: 'decided',
      outcome: 'approved',
      actor: { id: 'sec@acme.test' },
    });
  });

  it('cancel_human_task ends a wait with status canceled', async () => {
    const call = callWait(
      client,
      { title: 'Archive the old bucket', assignee: 'it@acme.test' },
      () => undefined,
    );
    const task = await pendingTaskOf(human, 'it@acme.test');
    const canceled = viewOf(
      await client.callTool({
        name: 'cancel_human_task',
        arguments: { taskId: task.id, reason: 'not needed' },
      }),
    );
    expect(canceled.status).toBe('canceled');
    expect((await call).status).toBe('canceled');
    expect(
      errorText(await client.callTool({ name: 'cancel_human_task', arguments: { taskId: task.id } })),
    ).toContain('ALREADY_DECIDED');
  });

  it('list_human_tasks filters by intent, type and deadline, and pages on with a cursor', async () => {
    const list = async (args: Record<string, unknown>) => {
      const result = await client.callTool({ name: 'list_human_tasks', arguments: args });
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      return result.structuredContent as { tasks: Array<{ taskId: string; title: string }>; cursor?: string };
    };
    const ask = (args: Record<string, unknown>) =>
      callWait(client, { assignee: 'lister@acme.test', wait: false, ...args });
    const form = await ask({ task: 'form', title: 'L form', schema: { type: 'object' } });
    const late = await ask({ title: 'L late', timeout: '1h' });
    const others = [];
    for (const index of [1, 2, 3]) others.push(await ask({ title: `L approval ${index}` }));

    const ofIntent = await list({ intentId: form.intentId });
    expect(ofIntent.tasks.map((task) => task.title)).toEqual(['L form']);
    const forms = await list({ assignee: 'lister@acme.test', type: 'form' });
    expect(forms.tasks.map((task) => task.title)).toEqual(['L form']);
    // Not past its deadline: not overdue (overdue ones: list-tasks.test.ts, on an engine without timers).
    expect((await list({ assignee: 'lister@acme.test', overdue: true })).tasks).toEqual([]);
    expect((await list({ assignee: 'lister@acme.test', overdue: false })).tasks).toContainEqual(
      expect.objectContaining({ taskId: late.taskId }),
    );

    const titles: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list({
        assignee: 'lister@acme.test',
        type: 'approval',
        limit: 2,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.tasks.length).toBeLessThanOrEqual(2);
      titles.push(...page.tasks.map((task) => task.title));
      cursor = page.cursor;
    } while (cursor);
    // Newest first, each once, across pages.
    expect(titles).toEqual(['L approval 3', 'L approval 2', 'L approval 1', 'L late']);
    expect(others).toHaveLength(3);
  });

  it('invalid arguments give tool errors that name the argument', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['wait_for_human', { title: 'x' }, /assignee/],
      ['wait_for_human', { assignee: 'a@acme.test', task: 'vote' }, /'task'/],
      ['wait_for_human', { assignee: 'a@acme.test', quorum: 0 }, /'quorum'/],
      ['wait_for_human', { assignees: ['a@acme.test'], quorum: 2 }, /argument 'quorum'/],
      ['wait_for_human', { assignee: 'a@acme.test', timeout: 'soon' }, /argument 'timeout'/],
      ['wait_for_human', { assignee: 'a@acme.test', task: 'form' }, /argument 'schema'/],
      ['wait_for_human', { asignee: 'a@acme.test' }, /unknown argument 'asignee'/],
      ['get_human_task', {}, /'taskId'/],
      ['get_human_task', { taskId: 'tsk_nothing.here' }, /NOT_FOUND/],
      ['list_human_tasks', { limit: 1000 }, /'limit'/],
      ['cancel_human_task', { taskId: 42 }, /'taskId'/],
    ];
    for (const [name, args, expected] of cases) {
      expect(
        errorText(await client.callTool({ name, arguments: args })),
        `${name} ${JSON.stringify(args)}`,
      ).toMatch(expected);
    }
    // The server is still there.
    expect((await client.listTools()).tools).toHaveLength(4);
    expect(transport.pid).toBeTypeOf('number');
  });
});
