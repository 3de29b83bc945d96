// Over stdio (a spawned `holdpoint mcp --user alice@acme.test`): a client with an elicitation handler
// answers a gate addressed to its user; accept, decline and cancel are each recorded as they were.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
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
let answer: ElicitResult = { action: 'cancel' };
const asked: unknown[] = [];

beforeAll(async () => {
  human = await humanEngine(store);
  ({ client } = await connectStdio(
    store,
    { user: { id: 'alice@acme.test', name: 'Alice' } },
    { capabilities: { elicitation: { form: {} } } },
  ));
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    asked.push(request.params);
    return answer;
  });
});

afterAll(async () => {
  await client?.close();
  await human?.close();
  cleanup();
});

describe('elicitation over stdio', () => {
  it('accept: recorded as her decision with her comment, bound to the version she saw', async () => {
    answer = { action: 'accept', content: { outcome: 'confirmed', comment: 'Yes, the Friday slot' } };
    const view = await callWait(client, {
      task: 'confirmation',
      title: 'Book the Friday release slot',
      assignee: 'alice@acme.test',
      context: { slot: 'Fri 10:00' },
    });
    expect(view).toMatchObject({
      status: 'decided',
      outcome: 'confirmed',
      comment: 'Yes, the Friday slot',
      actor: { id: 'alice@acme.test', name: 'Alice' },
      elicitation: 'accept',
    });
    expect((await human.getTask(view.taskId)).decision?.versionDigest).toBe(view.versionDigest);
  });

  for (const action of ['decline', 'cancel'] as const) {
    it(`${action}: nothing decided in her name, the task stays open, her note is in the trail`, async () => {
      answer = { action };
      const view = await callWait(client, {
        title: `Rename the repo (${action})`,
        assignee: 'alice@acme.test',
      });
      expect(view).toMatchObject({ status: 'pending', elicitation: action });
      const task = await human.getTask(view.taskId);
      expect(task.status).toBe('pending');
      expect(task.decision).toBeUndefined();
      // The trail says what she did: a note, not a decision.
      const events = (await human.audit.export(task.intentId))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; actor?: { id: string }; data?: unknown });
      expect(events.filter((event) => event.type === 'task-noted')).toEqual([
        expect.objectContaining({
          actor: { id: 'alice@acme.test', name: 'Alice' },
          data: expect.objectContaining({
            note: action === 'decline' ? 'declined' : 'dismissed',
            via: 'mcp',
          }),
        }),
      ]);
      // She can still decide elsewhere, and that decision is the one that counts.
      await human.decide(task.id, { outcome: 'approved', actor: 'alice@acme.test' });
      expect((await human.getTask(task.id)).decision?.outcome).toBe('approved');
    });
  }

  it('accept without a decision (a bare accept, no content): nothing decided, the call says why', async () => {
    answer = { action: 'accept' };
    const result = await client.callTool({
      name: 'wait_for_human',
      arguments: { title: 'Pay the invoice (bare accept)', assignee: 'alice@acme.test' },
    });
    const view = viewOf(result);
    expect(view).toMatchObject({ status: 'pending', elicitation: 'accept' });
    expect(JSON.stringify(result)).toContain(
      'the answer named no decision; choose one of approved, rejected',
    );
    const task = await human.getTask(view.taskId);
    expect(task.status).toBe('pending');
    expect(task.decision).toBeUndefined();
  });

  it('a retry with the same idempotencyKey but another sensitive is refused in the tool’s own words', async () => {
    answer = { action: 'cancel' };
    const args = { title: 'Wire 40k', assignee: 'bob@acme.test', idempotencyKey: 'wire-40k', wait: false };
    expect(
      viewOf(await client.callTool({ name: 'wait_for_human', arguments: { ...args, sensitive: true } })),
    ).toMatchObject({ status: 'pending' });
    const retry = await client.callTool({ name: 'wait_for_human', arguments: args });
    expect(retry.isError).toBe(true);
    expect(errorText(retry)).toMatch(/^IDEMPOTENCY_CONFLICT.*asked with 'sensitive' true/);
    expect(errorText(retry)).not.toContain('metadata');
    // The same arguments again: the same task.
    const again = viewOf(
      await client.callTool({ name: 'wait_for_human', arguments: { ...args, sensitive: true } }),
    );
    expect(again.status).toBe('pending');
  });

  it('a gate for someone else is not asked here: the call waits for them', async () => {
    const before = asked.length;
    const call = callWait(client, { title: 'Bob merges', assignee: 'bob@acme.test' }, () => undefined);
    const task = await pendingTaskOf(human, 'bob@acme.test', 'Bob merges');
    await human.decide(task.id, { outcome: 'approved', actor: 'bob@acme.test' });
    expect(await call).toMatchObject({ status: 'decided', actor: { id: 'bob@acme.test' } });
    expect(asked.length).toBe(before);
  });
});
