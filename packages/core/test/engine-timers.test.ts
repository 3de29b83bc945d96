import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createStore,
  type Holdpoint,
  type HumanTask,
  type Notification,
  type RequestHumanOptions,
} from '../src/index.js';
import { layout, timerId } from '../src/store/layout.js';
import { auditEvents, backgroundErrors, errorOf, engineFor as openEngine } from './helpers/engine.js';
import { advance, eventuallyAtFakeTime as eventually, fakeClock } from './helpers/fake-clock.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore } from './helpers/wrap-store.js';

const hour = 3_600_000;

describe.each(storeCases)('durable timers on $name (fake clock)', (storeCase) => {
  beforeEach(() => fakeClock());
  afterEach(() => {
    vi.useRealTimers();
  });

  // The safety-net poll would wake every few seconds of fake time; these tests are about the timers.
  const engineFor = (spec: string, options: Parameters<typeof openEngine>[1] = {}) =>
    openEngine(spec, { pollInterval: '24h', ...options });

  async function typesOf(hp: Holdpoint, intentId: string): Promise<string[]> {
    return (await auditEvents(hp, intentId)).map((event) => event.type as string);
  }

  it("times out with onTimeout 'fail': the task is timed out, the intent TIMED_OUT, by policy", async () => {
    const hp = await engineFor(await storeCase.spec());
    const waiting = hp.waitForHuman({ assignee: 'ann@acme.test', timeout: '48h', idempotencyKey: 'fail-1' });
    const task = await eventuallyTask(hp, 'ann@acme.test');
    await advance(47 * hour);
    expect((await hp.getTask(task.id)).status).toBe('pending');
    await advance(1 * hour + 1);
    // The round that fires the deadline may be armed after the clock moved: run due timers until then.
    await eventually(async () => expect((await hp.getTask(task.id)).status).toBe('timed_out'));
    await expect(waiting).resolves.toMatchObject({ status: 'timed_out', decidedBy: 'policy', actor: null });
    expect((await hp.getIntent(task.intentId)).status).toBe('TIMED_OUT');
    const events = await auditEvents(hp, task.intentId);
    expect(events.at(-1)).toMatchObject({ type: 'task-timed-out', actor: null });
    expect(backgroundErrors).toEqual([]);
  });

  it('fires a reminder and a deadline each in one store write besides its lease: the event takes the timer out', async () => {
    const spec = await storeCase.spec();
    const store = await createStore(spec);
    const writes: string[] = [];
    const counted = wrapStore(store, {
      appendEvent: (key, value, feed, eventWrites) => {
        writes.push('appendEvent');
        return store.appendEvent(key, value, feed, eventWrites);
      },
      indexAdd: (index, entries) => {
        writes.push('indexAdd');
        return store.indexAdd(index, entries);
      },
      indexRemove: (index, members) => {
        writes.push('indexRemove');
        return store.indexRemove(index, members);
      },
    });
    try {
      const hp = await engineFor('unused', { store: counted });
      const task = await hp.requestHuman({
        assignee: 'ann@acme.test',
        timeout: '2h',
        remind: { after: '1h' },
      });
      const due = () => store.indexRange(layout.dueIndex, { limit: 10 });
      expect((await due()).map((entry) => entry.member).sort()).toEqual(
        [
          timerId({ taskId: task.id, kind: 'deadline', count: 0 }),
          timerId({ taskId: task.id, kind: 'remind', count: 1 }),
        ].sort(),
      );
      writes.length = 0;
      await advance(hour + 1);
      await eventually(async () => expect(await typesOf(hp, task.intentId)).toContain('task-reminded'));
      // The reminder's event removed its timer (one reminder: no next one): nothing written around it.
      await eventually(async () =>
        expect((await due()).map((entry) => entry.member)).toEqual([
          timerId({ taskId: task.id, kind: 'deadline', count: 0 }),
        ]),
      );
      expect(writes).toEqual(['appendEvent']);
      writes.length = 0;
      await advance(hour);
      await eventually(async () => expect((await hp.getTask(task.id)).status).toBe('timed_out'));
      await eventually(async () => expect(await due()).toEqual([]));
      expect(writes).toEqual(['appendEvent']);
      await hp.close();
    } finally {
      await store.close();
    }
  });

  it.each([
    ['reject', 'rejected'],
    ['approve', 'approved'],
  ] as const)("decides by policy with onTimeout '%s', never blaming a human", async (policy, outcome) => {
    const hp = await engineFor(await storeCase.spec());
    const waiting = hp.waitForHuman({
      assignee: 'ann@acme.test',
      timeout: '1h',
      onTimeout: policy,
      idempotencyKey: policy,
    });
    const task = await eventuallyTask(hp, 'ann@acme.test');
    await advance(hour + 1);
    await eventually(async () => expect((await hp.getTask(task.id)).status).toBe('decided'));
    await expect(waiting).resolves.toMatchObject({
      status: 'decided',
      outcome,
      decidedBy: 'policy',
      actor: null,
    });
    expect((await hp.getTask(task.id)).decision).toMatchObject({ outcome, decidedBy: 'policy', actor: null });
    expect((await hp.getIntent(task.intentId)).status).toBe('IN_PROGRESS');
  });

  it('sends reminders after, then every, at most max — each once', async () => {
    const delivered: Notification[] = [];
    const hp = await engineFor(await storeCase.spec(), {
      notify: (notification) => void delivered.push(notification),
    });
    const task = await hp.requestHuman({
      assignee: 'ann@acme.test',
      timeout: '10h',
      remind: { after: '2h', every: '3h', max: 2 },
    });
    const reminders = () =>
      delivered
        .filter((notification) => notification.type === 'task-reminded')
        .map((notification) => notification.event.data.reminder);
    await advance(2 * hour - 1);
    expect(delivered.map((notification) => notification.type)).toEqual(['task-created']);
    await advance(1);
    await eventually(() => expect(reminders()).toEqual([1]));
    await advance(3 * hour);
    await eventually(() => expect(reminders()).toEqual([1, 2]));
    await advance(4 * hour);
    expect((await typesOf(hp, task.intentId)).filter((type) => type === 'task-reminded')).toHaveLength(2);
    expect(reminders()).toEqual([1, 2]);
    expect((await hp.getTask(task.id)).remindersSent).toBe(2);
  });

  it('escalates step by step, each with its own timeout, then applies onTimeout', async () => {
    const delivered: Notification[] = [];
    const hp = await engineFor(await storeCase.spec(), {
      notify: (notification) => void delivered.push(notification),
    });
    const request: RequestHumanOptions = {
      assignee: 'cfo@acme.test',
      timeout: '1h',
      escalateTo: [{ assignee: 'deputy@acme.test', timeout: '2h' }, 'ceo@acme.test'],
      onTimeout: 'reject',
      idempotencyKey: 'escalate-1',
    };
    const task = await hp.requestHuman(request);
    const waiting = hp.waitForHuman(request);
    await advance(hour);
    await eventually(async () => expect((await hp.getTask(task.id)).escalationLevel).toBe(1));
    expect((await hp.getTask(task.id)).assignees).toEqual(['cfo@acme.test', 'deputy@acme.test']);
    expect(
      (await hp.listTasks({ assignee: 'deputy@acme.test', status: 'pending' })).tasks.map((t) => t.id),
    ).toEqual([task.id]);
    await advance(2 * hour - 1);
    expect((await hp.getTask(task.id)).escalationLevel).toBe(1);
    await advance(1);
    await eventually(async () => expect((await hp.getTask(task.id)).escalationLevel).toBe(2));
    await advance(hour);
    await eventually(async () => expect((await hp.getTask(task.id)).status).toBe('decided'));
    await expect(waiting).resolves.toMatchObject({ outcome: 'rejected', decidedBy: 'policy' });
    // A waiter on the engine that recorded the decision resumes after the hook was called for it.
    expect(delivered.map((notification) => notification.type)).toEqual([
      'task-created',
      'task-escalated',
      'task-escalated',
      'task-decided',
    ]);
    expect((await hp.getTask(task.id)).decision).toMatchObject({ outcome: 'rejected', decidedBy: 'policy' });
  });

  it('lets the delegate and the original assignee decide after escalation, only the delegate with reassign', async () => {
    const hp = await engineFor(await storeCase.spec());
    const shared = await hp.requestHuman({
      assignee: 'cfo@acme.test',
      timeout: '1h',
      escalateTo: ['deputy@acme.test'],
    });
    const reassigned = await hp.requestHuman({
      assignee: 'cfo@acme.test',
      timeout: '1h',
      escalateTo: ['deputy@acme.test'],
      reassign: true,
    });
    await advance(hour);
    await eventually(async () => expect((await hp.getTask(reassigned.id)).escalationLevel).toBe(1));
    await eventually(async () => expect((await hp.getTask(shared.id)).escalationLevel).toBe(1));
    await hp.decide(shared.id, { outcome: 'approved', actor: 'cfo@acme.test' });
    expect(
      (await errorOf(hp.decide(reassigned.id, { outcome: 'approved', actor: 'cfo@acme.test' }))).code,
    ).toBe('NOT_ASSIGNED');
    const decided = await hp.decide(reassigned.id, { outcome: 'approved', actor: 'deputy@acme.test' });
    expect(decided.decision?.actor).toEqual({ id: 'deputy@acme.test' });
  });

  it('drops undelivered notifications after a day when no engine has a delivery hook', async () => {
    const spec = await storeCase.spec();
    const hp = await engineFor(spec);
    const store = await createStore(spec);
    try {
      const outbox = () => store.indexRange(layout.outboxIndex, { limit: 10 });
      const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
      await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
      expect(await outbox()).toHaveLength(2);
      await advance(23 * hour);
      expect(await outbox()).toHaveLength(2);
      await advance(2 * hour);
      await eventually(async () => expect(await outbox()).toHaveLength(0));
    } finally {
      await store.close();
    }
  });

  it('fires timers that fell due while no engine ran, once, at start-up', async () => {
    const spec = await storeCase.spec();
    const first = await engineFor(spec, { timers: false });
    const task = await first.requestHuman({
      assignee: 'cfo@acme.test',
      timeout: '1h',
      remind: { after: '30m' },
      escalateTo: [{ assignee: 'deputy@acme.test', timeout: '24h' }],
    });
    await first.close();
    await advance(3 * hour);
    const second = await engineFor(spec);
    const third = await engineFor(spec);
    await eventually(async () => expect((await second.getTask(task.id)).escalationLevel).toBe(1));
    await eventually(async () => expect((await second.getTask(task.id)).remindersSent).toBe(1));
    await advance(hour);
    const types = await typesOf(third, task.intentId);
    expect(types.filter((type) => type === 'task-reminded')).toHaveLength(1);
    expect(types.filter((type) => type === 'task-escalated')).toHaveLength(1);
    expect((await third.getTask(task.id)).status).toBe('pending');
  });
});

function eventuallyTask(hp: Holdpoint, assignee: string): Promise<HumanTask> {
  return eventually(async () => {
    const [found] = (await hp.listTasks({ assignee })).tasks;
    expect(found).toBeDefined();
    return found as HumanTask;
  });
}
