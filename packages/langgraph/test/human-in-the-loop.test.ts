import { createAgent, FakeToolCallingModel, HumanMessage, humanInTheLoopMiddleware, tool } from 'langchain';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { humanInTheLoop } from '../src/index.js';
import { gateSetup, taskList } from './helpers/setup.js';

const indexOf = (task: { metadata?: Record<string, unknown> }) =>
  Number((task.metadata?.langgraph as { index?: number } | undefined)?.index);

describe('an agent with humanInTheLoopMiddleware, served by the resumer', () => {
  it('turns each reviewed tool call into a task, checks edits against the tool schema, and resumes with the decisions', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const sent: Array<{ to: string; subject: string }> = [];
    const sendEmail = tool(
      async (input: { to: string; subject: string }) => {
        sent.push(input);
        return `sent to ${input.to}`;
      },
      {
        name: 'send_email',
        description: 'Send an email',
        schema: z.object({ to: z.string().min(3), subject: z.string().min(1) }),
      },
    );
    const deleted: string[] = [];
    const deleteFile = tool(
      async ({ path }: { path: string }) => {
        deleted.push(path);
        return `deleted ${path}`;
      },
      {
        name: 'delete_file',
        description: 'Delete a file',
        schema: z.object({ path: z.string() }),
      },
    );
    const model = new FakeToolCallingModel({
      toolCalls: [
        [
          { name: 'send_email', args: { to: 'board@acme.test', subject: 'Q3' }, id: 'call_email' },
          { name: 'delete_file', args: { path: '/reports/q2.pdf' }, id: 'call_delete' },
        ],
        [],
      ],
    });
    const agent = createAgent({
      model,
      tools: [sendEmail, deleteFile],
      middleware: [
        humanInTheLoopMiddleware({
          interruptOn: {
            send_email: { allowedDecisions: ['approve', 'edit', 'reject'] },
            delete_file: { allowedDecisions: ['approve', 'reject'] },
          },
        }),
      ],
      checkpointer: saver,
    });
    const config = { configurable: { thread_id: 'agent-1' } };

    const paused = (await agent.invoke({ messages: [new HumanMessage('send the report')] }, config)) as {
      __interrupt__?: unknown[];
    };
    expect(paused.__interrupt__).toHaveLength(1);
    const service = await resumer({
      graph: agent,
      interrupts: [
        humanInTheLoop({ assignee: 'ops@acme.test', tools: [sendEmail, deleteFile], timeout: '1h' }),
      ],
    });
    await service.check('agent-1');
    const tasks = (await taskList(hp, { assignee: 'ops@acme.test' })).sort((a, b) => indexOf(a) - indexOf(b));
    expect(tasks.map((task) => [task.title, task.allowedOutcomes, task.context])).toEqual([
      [
        'Approve send_email',
        ['approved', 'edited', 'rejected', 'responded'],
        { tool: 'send_email', args: { to: 'board@acme.test', subject: 'Q3' } },
      ],
      [
        'Approve delete_file',
        ['approved', 'rejected', 'responded'],
        { tool: 'delete_file', args: { path: '/reports/q2.pdf' } },
      ],
    ]);
    const [emailTask, deleteTask] = tasks as [(typeof tasks)[0], (typeof tasks)[0]];
    // Looking again asks no second time.
    await service.check('agent-1');
    expect(await taskList(hp)).toHaveLength(2);

    await expect(
      hp.decide(emailTask.id, {
        outcome: 'edited',
        data: { subject: 'Q3' },
        actor: 'ops@acme.test',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
    await hp.decide(emailTask.id, {
      outcome: 'edited',
      data: { to: 'cfo@acme.test', subject: 'Q3 (draft)' },
      actor: 'ops@acme.test',
    });
    // One of two answered: the agent still waits.
    await service.check('agent-1');
    expect(sent).toEqual([]);
    await hp.decide(deleteTask.id, { outcome: 'approved', actor: 'ops@acme.test' });

    await expect.poll(() => sent).toEqual([{ to: 'cfo@acme.test', subject: 'Q3 (draft)' }]);
    await expect.poll(() => deleted).toEqual(['/reports/q2.pdf']);
    const messages = (await agent.graph.getState(config)).values.messages as Array<{
      getType(): string;
      content: unknown;
      tool_call_id?: string;
    }>;
    expect(
      messages
        .filter((message) => message.getType() === 'tool')
        .map((message) => [message.tool_call_id, message.content]),
    ).toEqual(
      expect.arrayContaining([
        ['call_email', 'sent to cfo@acme.test'],
        ['call_delete', 'deleted /reports/q2.pdf'],
      ]),
    );
  });

  it('answers in place of a tool with the reviewer’s words, and never runs it', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const deleted: string[] = [];
    const deleteFile = tool(
      async ({ path }: { path: string }) => {
        deleted.push(path);
        return `deleted ${path}`;
      },
      { name: 'delete_file', description: 'Delete a file', schema: z.object({ path: z.string() }) },
    );
    const agent = createAgent({
      model: new FakeToolCallingModel({
        toolCalls: [[{ name: 'delete_file', args: { path: '/reports/q2.pdf' }, id: 'call_delete' }], []],
      }),
      tools: [deleteFile],
      middleware: [humanInTheLoopMiddleware({ interruptOn: { delete_file: true } })],
      checkpointer: saver,
    });
    const config = { configurable: { thread_id: 'agent-2' } };
    await agent.invoke({ messages: [new HumanMessage('clean up')] }, config);
    await resumer({ graph: agent, interrupts: [humanInTheLoop({ assignee: 'ops@acme.test' })] });
    const task = await expect
      .poll(async () => (await taskList(hp, { assignee: 'ops@acme.test' }))[0])
      .toBeDefined()
      .then(async () => (await taskList(hp, { assignee: 'ops@acme.test' }))[0]);
    await hp.decide(task?.id as string, {
      outcome: 'responded',
      comment: 'Keep Q2; archive it instead.',
      actor: 'ops@acme.test',
    });
    await expect
      .poll(async () =>
        (
          (await agent.graph.getState(config)).values.messages as Array<{
            getType(): string;
            content: unknown;
          }>
        )
          .filter((message) => message.getType() === 'tool')
          .map((message) => message.content),
      )
      .toEqual(['Keep Q2; archive it instead.']);
    expect(deleted).toEqual([]);
  });
});
