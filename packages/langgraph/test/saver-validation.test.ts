import type { StoreBackend } from '@holdpoint/core';
import * as vitest from 'vitest';
import { HoldpointSaver } from '../src/index.js';
import { storeSources } from './helpers/stores.js';

// The official suite calls Vitest's describe/it/expect as globals (its own runner turns globals on);
// hand it this file's, then load it.
Object.assign(globalThis, {
  describe: vitest.describe,
  it: vitest.it,
  expect: vitest.expect,
  beforeAll: vitest.beforeAll,
  afterAll: vitest.afterAll,
  beforeEach: vitest.beforeEach,
  afterEach: vitest.afterEach,
});
const { validate } = await import('@langchain/langgraph-checkpoint-validation');

for (const source of storeSources(['sqlite', 'redis', 'postgres'])) {
  const stores = new WeakMap<HoldpointSaver, StoreBackend>();
  validate<HoldpointSaver>({
    checkpointerName: `HoldpointSaver on ${source.name}`,
    beforeAll: () => source.ready(),
    // Every checkpointer gets an empty store of its own (a new prefix on the same file or server).
    createCheckpointer: async () => {
      const store = await source.open();
      const saver = new HoldpointSaver(store);
      stores.set(saver, store);
      return saver;
    },
    destroyCheckpointer: async (saver) => {
      await stores.get(saver)?.close();
    },
    afterAll: () => source.cleanup(),
  });
}
