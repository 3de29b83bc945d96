import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStore, type StoreBackend } from '../src/index.js';
import { auditEvents, backgroundErrors, engineFor, errorOf } from './helpers/engine.js';
import { advance, eventuallyAtFakeTime as eventually, fakeClock } from './helpers/fake-clock.js';
import { storeCases } from './helpers/stores.js';
import { watchReads } from './helpers/wrap-store.js';

// A change is built from the engine's cached state of the intent without reading the store first:
// when this engine recorded the intent's last event the claim on the next one wins, and when it did
// not the claim is lost and the chain re-read. A refusal, though, is only given on a state read anew
// — the cached one may not know that another engine made the actor an assignee.

const hour = 3_600_000;

describe.each(storeCases)('changes built from the cached state on $name', (storeCase) => {
  const stores: StoreBackend[] = [];
  beforeEach(() => fakeClock());
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  async function readsCounted(spec: string) {
    const store = await createStore(spec);
    stores.push(store);
    return watchReads(store);
  }

  it('decides a task asked on this engine without reading the store', async () => {
    const { watched, calls } = await readsCounted(await storeCase.spec());
    const hp = await engineFor('unused', { store: watched, timers: false, pollInterval: '24h' });
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', title: 'Refund 1' });
    calls.length = 0;
    const decided = await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    expect(decided).toMatchObject({ status: 'decided', decision: { outcome: 'approved' } });
    expect(calls).toEqual([]);
    // A second decision is refused as before — on the state read anew.
    const second = await errorOf(hp.decide(task.id, { outcome: 'rejected', actor: 'ann@acme.test' }));
    expect(second).toMatchObject({ code: 'ALREADY_DECIDED' });
    expect(calls.length).toBeGreaterThan(0);
    expect(backgroundErrors).toEqual([]);
  });

  it('lets the delegate decide on an engine whose cached state predates the escalation another engine made', async () => {
    const spec = await storeCase.spec();
    const { watched, calls } = await readsCounted(spec);
    // This engine asks and caches the task with ann its only assignee; it fires no timers.
    const asking = await engineFor('unused', { store: watched, timers: false, pollInterval: '24h' });
    const task = await asking.requestHuman({
      assignee: 'ann@acme.test',
      title: 'Refund 2',
      timeout: '1h',
      escalateTo: [{ assignee: 'deputy@acme.test', timeout: '24h' }],
    });
    // Another engine on the store fires the escalation after an hour.
    const firing = await engineFor(spec, { pollInterval: '24h' });
    await advance(hour);
    await eventually(async () => expect((await firing.getTask(task.id)).escalationLevel).toBe(1));
    calls.length = 0;
    // The cached state says deputy is no assignee; the current one says otherwise, and is asked.
    const decided = await asking.decide(task.id, { outcome: 'approved', actor: 'deputy@acme.test' });
    expect(decided).toMatchObject({ status: 'decided', decision: { actor: { id: 'deputy@acme.test' } } });
    expect(calls.length).toBeGreaterThan(0);
    // Someone never assigned is still refused, on the current state.
    const other = await asking.requestHuman({ assignee: 'ann@acme.test', title: 'Refund 3' });
    const refused = await errorOf(asking.decide(other.id, { outcome: 'approved', actor: 'eve@acme.test' }));
    expect(refused).toMatchObject({ code: 'NOT_ASSIGNED' });
    expect(backgroundErrors).toEqual([]);
  });

  it('records a change once when another engine extended the chain since this one cached it', async () => {
    const spec = await storeCase.spec();
    const asking = await engineFor(spec, { timers: false, pollInterval: '24h' });
    const other = await engineFor(spec, { timers: false, pollInterval: '24h' });
    const task = await asking.requestHuman({ assignee: 'ann@acme.test', title: 'Refund 4' });
    // The other engine notes the task: the chain moves on past what `asking` cached.
    await other.noteTask(task.id, { actor: 'ann@acme.test', note: 'viewed' });
    const decided = await asking.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    expect(decided.status).toBe('decided');
    const types = await auditEvents(other, task.intentId);
    expect(types.map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
      'task-noted',
      'task-decided',
    ]);
    expect(types.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
    expect(backgroundErrors).toEqual([]);
  });
});
