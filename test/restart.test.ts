import { createHoldpoint, type Holdpoint } from '@holdpoint/core';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, jsonLines, runFixture, tempSqlite } from './helpers.js';

const children: Array<ReturnType<typeof runFixture>> = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function countTypes(hp: Holdpoint, intentId: string, type: string): Promise<number> {
  const jsonl = await hp.audit.export(intentId);
  return jsonl
    .trim()
    .split('\n')
    .filter((line) => JSON.parse(line).type === type).length;
}

describe('an agent killed with SIGKILL picks up where it stopped', () => {
  it('gets the decision made while it was down, and overdue timers fire exactly once after restart', async () => {
    const store = tempSqlite();
    const first = runFixture('agent', [store]);
    children.push(first);
    const ready = await jsonLines(first).next((line) => 'ready' in line);
    first.kill('SIGKILL');
    expect(await exited(first)).toBe('SIGKILL');
    const tasks = ready.ready as Array<{ id: string; key: string }>;
    expect(tasks).toHaveLength(3);
    const byKey = Object.fromEntries(tasks.map((task) => [task.key, task.id])) as Record<string, string>;

    // While the agent is down, the CFO decides through another engine on the same file, and the
    // reminder and the escalation fall due with no engine running timers.
    const human = await createHoldpoint({ store, timers: false });
    await human.decide(byKey['restart/decide'] as string, {
      outcome: 'approved',
      comment: 'go',
      actor: 'cfo@acme.test',
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const remindTask = await human.getTask(byKey['restart/remind'] as string);
    const escalateTask = await human.getTask(byKey['restart/escalate'] as string);
    expect(remindTask.remindersSent).toBe(0);
    expect(escalateTask.escalationLevel).toBe(0);

    const second = runFixture('agent', [store]);
    children.push(second);
    const output = jsonLines(second);
    const again = await output.next((line) => 'ready' in line);
    expect((again.ready as Array<{ id: string }>).map((task) => task.id).sort()).toEqual(
      Object.values(byKey).sort(),
    );
    const decided = await output.next((line) => 'decided' in line);
    expect(decided.decided).toMatchObject({
      status: 'decided',
      outcome: 'approved',
      comment: 'go',
      actor: { id: 'cfo@acme.test' },
      taskId: byKey['restart/decide'],
    });

    await expect.poll(async () => (await human.getTask(remindTask.id)).remindersSent).toBe(1);
    await expect.poll(async () => (await human.getTask(escalateTask.id)).escalationLevel).toBe(1);
    // Give a duplicate every chance to show up before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    second.kill('SIGKILL');
    expect(await countTypes(human, remindTask.intentId, 'task-reminded')).toBe(1);
    expect(await countTypes(human, escalateTask.intentId, 'task-escalated')).toBe(1);
    expect((await human.getTask(escalateTask.id)).assignees).toEqual(['cfo@acme.test', 'deputy@acme.test']);
    for (const task of tasks) {
      const intentId = (await human.getTask(task.id)).intentId;
      expect(await human.audit.verify(await human.audit.export(intentId))).toMatchObject({ ok: true });
    }
    await human.close();
  });
});
