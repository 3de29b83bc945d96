// Assignee and actor ids that are email addresses are one person whatever their case: mail and the
// inbox take `Dana@Acme.test` as `dana@acme.test`, so the engine keeps them in lower case. Other ids
// are kept and compared exactly as given.
import { describe, expect, it } from 'vitest';
import type { Holdpoint } from '../src/index.js';
import { auditEvents, engineFor, errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';

const ids = (page: { tasks: Array<{ id: string }> }) => page.tasks.map((task) => task.id);

describe.each(storeCases)('identifiers on $name', (storeCase) => {
  async function engine(): Promise<Holdpoint> {
    return engineFor(await storeCase.spec());
  }

  it('keeps a task for Dana@Acme.test as dana@acme.test’s: listed, counted, in her feed and decided by her', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'Dana@Acme.test', title: 'Pay invoice 42' });
    expect(task.assignees).toEqual(['dana@acme.test']);
    expect(task.originalAssignees).toEqual(['dana@acme.test']);
    expect(ids(await hp.listTasks({ assignee: 'dana@acme.test' }))).toEqual([task.id]);
    expect(ids(await hp.listTasks({ assignee: 'dana@acme.test', status: 'pending' }))).toEqual([task.id]);
    expect(await hp.taskCounts({ assignee: 'dana@acme.test' })).toMatchObject({ pending: 1, total: 1 });
    const feed = await hp.events({ assignee: 'dana@acme.test' });
    expect(feed.events.map((event) => event.taskId)).toContain(task.id);
    const decided = await hp.decide(task.id, { outcome: 'approved', actor: 'dana@acme.test' });
    expect(decided.decision).toMatchObject({ outcome: 'approved', actor: { id: 'dana@acme.test' } });
    expect(await hp.taskCounts({ assignee: 'dana@acme.test' })).toMatchObject({ pending: 0, decided: 1 });
  });

  it('and the other way: a task for dana@acme.test is listed, counted, noted and decided as Dana@Acme.test', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'dana@acme.test' });
    expect(ids(await hp.listTasks({ assignee: 'Dana@Acme.test' }))).toEqual([task.id]);
    expect(
      ids(await hp.listTasks({ assignee: 'DANA@acme.test', status: 'pending', overdue: false })),
    ).toEqual([task.id]);
    expect(ids(await hp.listTasks({ assignee: 'Dana@Acme.test', intentId: task.intentId }))).toEqual([
      task.id,
    ]);
    expect((await hp.taskCounts({ assignee: 'Dana@Acme.test' })).pending).toBe(1);
    expect((await hp.events({ assignee: 'Dana@Acme.test' })).events.map((event) => event.taskId)).toContain(
      task.id,
    );
    await hp.noteTask(task.id, { actor: 'Dana@Acme.test', note: 'declined', via: 'mcp' });
    const decided = await hp.decide(task.id, {
      outcome: 'rejected',
      actor: { id: 'Dana@Acme.test', name: 'Dana' },
    });
    expect(decided.decision?.actor).toEqual({ id: 'dana@acme.test', name: 'Dana' });
    const actors = (await auditEvents(hp, task.intentId))
      .filter((event) => event.type === 'task-noted' || event.type === 'task-decided')
      .map((event) => (event.actor as { id: string }).id);
    expect(actors).toEqual(['dana@acme.test', 'dana@acme.test']);
  });

  it('takes approvers, escalation delegates and canceling actors in lower case: one person votes once', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({
      assignees: ['Dana@Acme.test', 'dana@acme.test', 'Erik@Acme.test'],
      quorum: 2,
      timeout: '1h',
      escalateTo: ['CFO@Acme.test', { assignee: 'Deputy@Acme.test', timeout: '2h' }],
    });
    expect(task.assignees).toEqual(['dana@acme.test', 'erik@acme.test']);
    expect(task.escalateTo.map((step) => step.assignee)).toEqual(['cfo@acme.test', 'deputy@acme.test']);
    await hp.decide(task.id, { outcome: 'approved', actor: 'DANA@ACME.TEST' });
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'dana@acme.test' }))).code).toBe(
      'ALREADY_DECIDED',
    );
    const other = await hp.requestHuman({ assignee: 'erik@acme.test' });
    await hp.cancelTask(other.id, { actor: 'Ops@Acme.test', reason: 'superseded' });
    const canceled = (await auditEvents(hp, other.intentId)).find((event) => event.type === 'task-canceled');
    expect(canceled?.actor).toEqual({ id: 'ops@acme.test' });
  });

  it('lowers only email addresses: an id that is not one keeps its case and is compared exactly', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignees: ['Billing-Agent', 'Dana@Acme.test'] });
    expect(task.assignees).toEqual(['Billing-Agent', 'dana@acme.test']);
    expect(ids(await hp.listTasks({ assignee: 'Billing-Agent' }))).toEqual([task.id]);
    expect(ids(await hp.listTasks({ assignee: 'billing-agent' }))).toEqual([]);
    expect((await hp.taskCounts({ assignee: 'billing-agent' })).total).toBe(0);
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'billing-agent' }))).code).toBe(
      'NOT_ASSIGNED',
    );
    const decided = await hp.decide(task.id, { outcome: 'approved', actor: 'Billing-Agent' });
    expect(decided.decision?.actor).toEqual({ id: 'Billing-Agent' });
  });

  it('returns the same task to a retry that spells the assignee in another case', async () => {
    const hp = await engine();
    const key = `retry-${Date.now()}`;
    const first = await hp.requestHuman({ assignee: 'Dana@Acme.test', idempotencyKey: key });
    const again = await hp.requestHuman({ assignee: 'dana@acme.test', idempotencyKey: key });
    expect(again.id).toBe(first.id);
  });
});
