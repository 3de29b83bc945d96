import type { DatabaseSync } from 'node:sqlite';
import { createStore, KeyvNodeSqlite, type StoreBackend } from '@holdpoint/core';
import Keyv from 'keyv';

/**
 * An experiment, not a proposal as it stands: the engine's SQLite store with every group of writes
 * the engine starts together (its `Promise.all` of index writes and wake-ups) committed as one
 * transaction instead of one each. `node:sqlite` runs each call to completion when it is made, so
 * the calls of a group all run in one synchronous stretch: the first opens a transaction and a
 * microtask queued then commits it once the stretch is over. It measures what batching the
 * write-ahead and after-append writes in the store interface would gain.
 *
 * What it skips: a failed COMMIT here would fail after the calls reported success, which a real
 * batch call must not do. The bench only checks the result afterwards.
 */
export async function openBatchedSqliteBackend(file: string, prefix: string): Promise<StoreBackend> {
  const adapter = new KeyvNodeSqlite({ uri: file });
  const keyv = new Keyv({ store: adapter, namespace: prefix, throwOnErrors: true });
  keyv.on('error', () => {});
  const inner = await createStore(keyv, { prefix });
  const db: DatabaseSync = adapter.db;
  const batched = <T>(write: () => Promise<T>): Promise<T> => {
    if (!db.isTransaction) {
      db.exec('BEGIN IMMEDIATE');
      queueMicrotask(() => {
        if (db.isTransaction) db.exec('COMMIT');
      });
    }
    return write();
  };
  return {
    kind: inner.kind,
    keyv: inner.keyv,
    claim: (key, value, ttlMs) => batched(() => inner.claim(key, value, ttlMs)),
    readClaims: (keys) => inner.readClaims(keys),
    releaseClaim: (key, value) => batched(() => inner.releaseClaim(key, value)),
    indexAdd: (index, entries) => batched(() => inner.indexAdd(index, entries)),
    indexRemove: (index, members) => batched(() => inner.indexRemove(index, members)),
    indexRange: (index, options) => inner.indexRange(index, options),
    appendEvent: (key, value, feed, writes) => batched(() => inner.appendEvent(key, value, feed, writes)),
    ...(inner.appendEvents === undefined
      ? {}
      : {
          appendEvents: (events, writes, claims) =>
            batched(() =>
              (inner.appendEvents as NonNullable<StoreBackend['appendEvents']>)(events, writes, claims),
            ),
        }),
    readFeed: (options) => inner.readFeed(options),
    feedHead: () => inner.feedHead(),
    readCounters: (counters) => inner.readCounters(counters),
    readRecords: (keys) => inner.readRecords(keys),
    publish: (message) => batched(() => inner.publish(message)),
    subscribe: (listener) => inner.subscribe(listener),
    close: async () => {
      await inner.close();
      // The backend leaves a Keyv passed in open; the connection is ours.
      await keyv.disconnect();
    },
  };
}
