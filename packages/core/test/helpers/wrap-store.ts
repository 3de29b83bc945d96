import type { StoreBackend } from '../../src/store/store-backend.js';

/**
 * A backend passing every call to `store`, except those in `overrides` (for tests that watch or break
 * one call). A test that overrides `appendEvent` but not `appendEvents` gets a backend without
 * `appendEvents`, so that every event goes through its `appendEvent` (the engine then records an
 * implicit intent's first events one at a time, as on a backend that cannot batch them).
 */
export function wrapStore(store: StoreBackend, overrides: Partial<StoreBackend> = {}): StoreBackend {
  const appendEvents =
    store.appendEvents === undefined || ('appendEvent' in overrides && !('appendEvents' in overrides))
      ? {}
      : {
          appendEvents: ((events, writes, claims) =>
            store.appendEvents?.(events, writes, claims)) as NonNullable<StoreBackend['appendEvents']>,
        };
  return {
    ...appendEvents,
    kind: store.kind,
    keyv: store.keyv,
    claim: (key, value, ttl) => store.claim(key, value, ttl),
    readClaims: (keys) => store.readClaims(keys),
    releaseClaim: (key, value) => store.releaseClaim(key, value),
    indexAdd: (index, entries) => store.indexAdd(index, entries),
    indexRemove: (index, members) => store.indexRemove(index, members),
    indexRange: (index, options) => store.indexRange(index, options),
    appendEvent: (key, value, feed, writes) => store.appendEvent(key, value, feed, writes),
    readFeed: (options) => store.readFeed(options),
    feedHead: () => store.feedHead(),
    readCounters: (counters) => store.readCounters(counters),
    readRecords: (keys) => store.readRecords(keys),
    publish: (message) => store.publish(message),
    subscribe: (listener) => store.subscribe(listener),
    close: () => store.close(),
    ...overrides,
  };
}

/**
 * A backend passing every call to `store`, noting each read of claims and records in `calls` (for
 * tests that a path reads nothing, or reads anew).
 */
export function watchReads(store: StoreBackend): { watched: StoreBackend; calls: string[] } {
  const calls: string[] = [];
  const watched = wrapStore(store, {
    readClaims: (keys) => {
      calls.push('readClaims');
      return store.readClaims(keys);
    },
    readRecords: (names) => {
      calls.push('readRecords');
      return store.readRecords(names);
    },
  });
  return { watched, calls };
}
