import { eventually } from '@holdpoint/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { engineFor } from './helpers/engine.js';
import { wrapStore } from './helpers/wrap-store.js';

const opened: StoreBackend[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

describe('start-up with overdue timers', () => {
  it('returns from createHoldpoint before the backlog has fired, and fires it in the background', async () => {
    const spec = `memory://startup-${Math.random()}`;
    const seeder = await engineFor(spec, { timers: false });
    const tasks = await Promise.all(
      Array.from({ length: 5 }, () => seeder.requestHuman({ assignee: 'ann@acme.test', timeout: 1 })),
    );
    await eventually(async () =>
      expect(Date.now()).toBeGreaterThan(Date.parse(tasks[0]?.deadlineAt as string)),
    );
    // A timer fires by recording its event: held at a gate, the backlog cannot fire until it opens.
    const store = await createStore(spec);
    opened.push(store);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const gated = wrapStore(store, {
      appendEvent: async (key, value, feed, writes) => {
        await gate;
        return store.appendEvent(key, value, feed, writes);
      },
    });
    const hp = await engineFor('unused', { store: gated });
    // Returned with the whole backlog still due.
    for (const task of tasks) expect((await hp.getTask(task.id)).status).toBe('pending');
    open();
    await eventually(async () => {
      for (const task of tasks) expect((await hp.getTask(task.id)).status).toBe('timed_out');
    });
  });
});
