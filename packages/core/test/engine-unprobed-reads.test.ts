import { eventually } from '@holdpoint/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore, type StoreBackend } from '../src/index.js';
import { layout } from '../src/store/layout.js';
import { auditEvents, backgroundErrors, engineFor, errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';
import { watchReads, wrapStore } from './helpers/wrap-store.js';

// An engine that changes an intent it has not cached (a decision taken on another engine than the
// one that asked, a timer fired by a timer engine) reads the intent's records and nothing else: one
// round trip, no look for events after them. Engines write the records in each event's transaction,
// so only an engine from before the records can have recorded events past them; the change's claim
// on the next seq is then lost, and the chain re-read. These tests show the one read, and an intent
// changed past its records by such an engine: nothing is decided twice or fired on a stale state.

const ann = 'ann@acme.test';

describe.each(storeCases)('a change from the records alone on $name', (storeCase) => {
  const stores: StoreBackend[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  async function open(spec: string) {
    const store = await createStore(spec);
    stores.push(store);
    return store;
  }

  /**
   * An engine that writes no records, and leaves the timers of the tasks it ends in the due index,
   * as engines before the records did.
   */
  async function engineBeforeRecords(spec: string) {
    const store = await open(spec);
    const old = await engineFor('unused', {
      timers: false,
      store: wrapStore(store, {
        appendEvent: (key, value, feed, writes) =>
          store.appendEvent(key, value, feed, {
            ...writes,
            records: [],
            indexRemove: (writes?.indexRemove ?? []).filter((entry) => entry.index !== layout.dueIndex),
          }),
      }),
    });
    return { store, old };
  }

  it('reads the records once, and no event, to decide a task asked on another engine', async () => {
    const spec = storeCase.spec();
    const asking = await engineFor(spec, { timers: false });
    const task = await asking.requestHuman({ assignee: ann, title: 'Refund' });
    const { watched, calls } = watchReads(await open(spec));
    const deciding = await engineFor('unused', { store: watched, timers: false });
    calls.length = 0;
    expect(await deciding.decide(task.id, { outcome: 'approved', actor: ann })).toMatchObject({
      status: 'decided',
    });
    expect(calls).toEqual(['readRecords']);
    expect(backgroundErrors).toEqual([]);
  });

  it('reads the records once, and no event, to fire a deadline of a task asked on another engine', async () => {
    const spec = storeCase.spec();
    const asking = await engineFor(spec, { timers: false });
    const task = await asking.requestHuman({ assignee: ann, timeout: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const { watched, calls } = watchReads(await open(spec));
    const firing = await engineFor('unused', { store: watched });
    await eventually(async () => expect((await asking.getTask(task.id)).status).toBe('timed_out'));
    expect(calls.filter((call) => call === 'readClaims')).toEqual([]);
    expect(backgroundErrors).toEqual([]);
    await firing.close();
  });

  it('fires only what is due, refuses and finds new tasks when an engine before the records changed the intent past them', async () => {
    const spec = storeCase.spec();
    const asking = await engineFor(spec, { timers: false });
    const intent = await asking.submit({ type: 'agent-session' });
    const decidedPastRecords = await asking.requestHuman({ intentId: intent.id, assignee: ann });
    const timedPastRecords = await asking.requestHuman({
      intentId: intent.id,
      assignee: ann,
      timeout: 1_500,
    });
    // From here on the records are behind the chain.
    const { store, old } = await engineBeforeRecords(spec);
    await old.decide(decidedPastRecords.id, { outcome: 'approved', actor: ann });
    await old.decide(timedPastRecords.id, { outcome: 'approved', actor: ann });
    const unrecorded = await old.requestHuman({ intentId: intent.id, assignee: ann, title: 'New' });

    // A cold engine: its first read of the intent is its records, which still say pending. The
    // deadline of the task decided past them falls due: the timer fires from the records, loses the
    // claim, re-reads the chain, and records nothing; the timer goes.
    const cold = await engineFor(spec);
    await eventually(async () => {
      expect(await store.indexRange(layout.dueIndex, { limit: 10 })).toEqual([]);
    });
    // Decisions on engines that have not read the intent: one whose records say pending (the claim
    // is lost, the chain re-read, the decision refused), one the records do not know (not found in
    // them, so looked for in the chain, and decided). Each engine has read nothing before.
    const refusing = await engineFor(spec, { timers: false });
    expect(
      await errorOf(refusing.decide(decidedPastRecords.id, { outcome: 'rejected', actor: ann })),
    ).toMatchObject({ code: 'ALREADY_DECIDED' });
    const deciding = await engineFor(spec, { timers: false });
    expect(await deciding.decide(unrecorded.id, { outcome: 'approved', actor: ann })).toMatchObject({
      status: 'decided',
    });
    const events = await auditEvents(cold, intent.id);
    expect(events.filter((event) => event.type === 'task-timed-out')).toEqual([]);
    // One decision each: the refused one is not recorded.
    expect(events.filter((event) => event.type === 'task-decided').map((event) => event.taskId)).toEqual([
      decidedPastRecords.id,
      timedPastRecords.id,
      unrecorded.id,
    ]);
    expect(await cold.audit.verify(await cold.audit.export(intent.id))).toMatchObject({ ok: true });
    expect(backgroundErrors).toEqual([]);
  });

  it('fires the deadline of a task its records do not know once the chain, read anew, shows it', async () => {
    const spec = storeCase.spec();
    const asking = await engineFor(spec, { timers: false });
    const intent = await asking.submit({ type: 'agent-session' });
    await asking.requestHuman({ intentId: intent.id, assignee: ann });
    const { old } = await engineBeforeRecords(spec);
    const unrecorded = await old.requestHuman({ intentId: intent.id, assignee: ann, timeout: 300 });
    // A cold timer engine: the intent's records hold no such task. Dropping the timer would take a
    // minute's grace; it is fired as soon as it falls due.
    // (Watched from another engine: a read on the timer engine would cache the chain's state.)
    const firing = await engineFor(spec);
    await eventually(async () => expect((await asking.getTask(unrecorded.id)).status).toBe('timed_out'), {
      timeout: 10_000,
    });
    const events = await auditEvents(firing, intent.id);
    expect(events.filter((event) => event.type === 'task-timed-out').map((event) => event.taskId)).toEqual([
      unrecorded.id,
    ]);
    expect(backgroundErrors).toEqual([]);
  });
});
