import type { StoreBackend } from '@holdpoint/core';
import { emptyCheckpoint, INTERRUPT } from '@langchain/langgraph-checkpoint';
import { afterAll, describe, expect, it } from 'vitest';
import { HoldpointSaver } from '../src/index.js';
import { storeSources } from './helpers/stores.js';

/**
 * The store, with its Keyv's `setMany` held once `hold()` is called (until `release()`), and the
 * index names given to `indexAdd` recorded.
 */
function holdingWrites(store: StoreBackend) {
  let holding = false;
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reached!: () => void;
  const writeReached = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const indexed: string[] = [];
  const bind = (target: object, property: string | symbol) => {
    const value = Reflect.get(target, property, target);
    return typeof value === 'function' ? value.bind(target) : value;
  };
  const keyv = new Proxy(store.keyv, {
    get(target, property) {
      if (property !== 'setMany' || !holding) return bind(target, property);
      return async (...args: Parameters<typeof target.setMany>) => {
        reached();
        await released;
        return target.setMany(...args);
      };
    },
  });
  const wrapped = new Proxy(store, {
    get(target, property) {
      if (property === 'keyv') return keyv;
      if (property === 'indexAdd') {
        return (index: string, entries: Parameters<StoreBackend['indexAdd']>[1]) => {
          indexed.push(index);
          return target.indexAdd(index, entries);
        };
      }
      return bind(target, property);
    },
  });
  return {
    store: wrapped,
    indexed,
    hold: () => {
      holding = true;
    },
    writeReached,
    release,
  };
}

for (const source of storeSources()) {
  describe(`the interrupted threads of a HoldpointSaver on ${source.name}`, () => {
    afterAll(() => source.cleanup());

    // A resumer that found the thread listed before its interrupt could be read would see nothing
    // waiting and drop the entry: a decision taken while no resumer listened was then never found.
    it('lists a thread only once its interrupt can be read', async () => {
      await source.ready();
      const base = await source.open();
      try {
        const writer = holdingWrites(base);
        const saver = new HoldpointSaver(writer.store);
        const reader = new HoldpointSaver(base);
        const config = await saver.put(
          { configurable: { thread_id: 'report', checkpoint_ns: '' } },
          emptyCheckpoint(),
          { source: 'loop', step: 0, parents: {} },
          {},
        );
        const before = writer.indexed.length;
        writer.hold();
        const writing = saver.putWrites(
          config,
          [[INTERRUPT, [{ id: 'gate-1', value: 'approve?' }]]],
          'node-1',
        );
        await writer.writeReached;
        // The interrupt's write is in flight: the thread is not listed yet, nor about to be.
        expect(writer.indexed.slice(before)).toEqual([]);
        const listed = async () => {
          const entries = [];
          for await (const entry of reader.interruptedThreads()) entries.push(entry);
          return entries;
        };
        expect(await listed()).toEqual([]);
        writer.release();
        await writing;
        expect((await listed()).map(({ threadId, checkpointId }) => ({ threadId, checkpointId }))).toEqual([
          { threadId: 'report', checkpointId: config.configurable?.checkpoint_id },
        ]);
        const tuple = await reader.getTuple({ configurable: { thread_id: 'report' } });
        expect(tuple?.pendingWrites?.map(([taskId, channel]) => [taskId, channel])).toEqual([
          ['node-1', INTERRUPT],
        ]);
      } finally {
        await base.close();
      }
    });
  });
}
