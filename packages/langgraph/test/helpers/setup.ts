import {
  createHoldpoint,
  type Holdpoint,
  type HumanTask,
  type ListTasksOptions,
  type Notification,
  type StoreBackend,
} from '@holdpoint/core';
import { afterAll, afterEach } from 'vitest';
import { HoldpointSaver, type Resumer, type ResumerOptions, startResumer } from '../../src/index.js';
import { type StoreSource, storeSources } from './stores.js';

/** An engine, a saver and (when started) a resumer on one fresh store, closed after the test. */
export interface GateSetup {
  store: StoreBackend;
  hp: Holdpoint;
  saver: HoldpointSaver;
  /** Every notification the engine handed to its delivery hook. */
  notifications: Notification[];
  /** A resumer on the setup's engine (or on `holdpoint`, when given). */
  resumer(
    options: Omit<ResumerOptions, 'holdpoint'> & Partial<Pick<ResumerOptions, 'holdpoint'>>,
  ): Promise<Resumer>;
}

const sqlite = storeSources(['sqlite'])[0] as StoreSource | undefined;
const toClose: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});
afterAll(async () => {
  await sqlite?.cleanup();
});

/** A setup on a new SQLite file (the default store kind). */
export async function gateSetup(): Promise<GateSetup> {
  if (sqlite === undefined) throw new Error('these tests run on SQLite: add sqlite to HOLDPOINT_TEST_STORES');
  const store = await sqlite.open();
  const notifications: Notification[] = [];
  const hp = await createHoldpoint({
    store,
    pollInterval: '50ms',
    notify: (notification) => {
      notifications.push(notification);
    },
  });
  toClose.push(async () => {
    await hp.close();
    await store.close();
  });
  return {
    store,
    hp,
    saver: new HoldpointSaver(store),
    notifications,
    resumer: async (options) => {
      const resumer = await startResumer({ holdpoint: hp, pollInterval: '50ms', ...options });
      toClose.push(() => resumer.close());
      return resumer;
    },
  };
}

/** The first page of tasks `listTasks` returns (`{ tasks, cursor }`), as a list. */
export async function taskList(hp: Holdpoint, options?: ListTasksOptions): Promise<HumanTask[]> {
  return (await hp.listTasks(options)).tasks;
}
