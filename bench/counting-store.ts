import { performance } from 'node:perf_hooks';
import type { IndexEntry, IndexRangeOptions, StoreBackend } from '@holdpoint/core';
import type Keyv from 'keyv';

/** The store operations a lifecycle can cost, each one round trip to the store. */
export const operationNames = [
  'claim',
  'appendEvent',
  'appendEvents',
  'readClaims',
  'releaseClaim',
  'indexAdd',
  'indexRemove',
  'indexRange',
  'readFeed',
  'feedHead',
  'readCounters',
  'readRecords',
  'publish',
  'keyv.get',
  'keyv.getMany',
  'keyv.set',
  'keyv.delete',
] as const;

/** One of {@link operationNames}. */
export type OperationName = (typeof operationNames)[number];

/** Which operations change the store (a durable write) and which only read it. */
export const writeOperations: ReadonlySet<OperationName> = new Set([
  'claim',
  'appendEvent',
  'appendEvents',
  'releaseClaim',
  'indexAdd',
  'indexRemove',
  'publish',
  'keyv.set',
  'keyv.delete',
]);

/** Calls per operation, counted as they start. */
export type OperationCounts = Record<OperationName, number>;

/** A fresh set of counters, all zero. */
export function emptyCounts(): OperationCounts {
  return Object.fromEntries(operationNames.map((name) => [name, 0])) as OperationCounts;
}

/** `after - before`, per operation. */
export function countsBetween(before: OperationCounts, after: OperationCounts): OperationCounts {
  return Object.fromEntries(
    operationNames.map((name) => [name, after[name] - before[name]]),
  ) as OperationCounts;
}

/** Reads and writes of a set of counts. */
export function splitCounts(counts: OperationCounts): { reads: number; writes: number } {
  let reads = 0;
  let writes = 0;
  for (const name of operationNames) {
    if (writeOperations.has(name)) writes += counts[name];
    else reads += counts[name];
  }
  return { reads, writes };
}

/**
 * Told of each store call once it has been made: its name, its size (bytes written, or keys
 * read), the promise of its result (to observe when it settles; the caller still gets the same
 * promise), how long the call ran before it returned that promise, in ms — `node:sqlite` and the
 * memory store do all their work in that time, a network client only encodes and sends — and when
 * it started (`performance.now()`).
 */
export type StoreObserver = (
  name: OperationName,
  size: number,
  result: Promise<unknown>,
  syncMs: number,
  startedAt: number,
) => void;

/** Time spent in store calls, per operation, in ms. */
export interface OperationTimes {
  /** Until the call returned its promise. */
  sync: OperationCounts;
  /** Until its promise settled: the round trip, and any wait for the connection. */
  settled: OperationCounts;
}

/** An observer that adds each call to `counts`, and its times to `times`. */
export function counting(counts: OperationCounts, times: OperationTimes): StoreObserver {
  return (name, _size, result, syncMs, startedAt) => {
    counts[name]++;
    times.sync[name] += syncMs;
    const settle = () => {
      times.settled[name] += performance.now() - startedAt;
    };
    result.then(settle, settle);
  };
}

/** Make the call, timing its synchronous part, and tell `observe`. */
function timed<T>(
  observe: StoreObserver,
  name: OperationName,
  size: number,
  make: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const result = make();
  observe(name, size, result, performance.now() - started, started);
  return result;
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length;
  return JSON.stringify(value ?? null).length;
}

/**
 * Observe the calls a Keyv receives, without changing what they do. The Keyv's own methods run
 * with the Keyv itself as `this` (not the proxy), so its private state is untouched.
 */
export function observedKeyv(keyv: Keyv, observe: StoreObserver): Keyv {
  const sizes: Record<string, [OperationName, (parameters: unknown[]) => number]> = {
    get: ['keyv.get', () => 1],
    getMany: ['keyv.getMany', (parameters) => (parameters[0] as unknown[]).length],
    set: ['keyv.set', (parameters) => sizeOf(parameters[0]) + sizeOf(parameters[1])],
    delete: ['keyv.delete', (parameters) => sizeOf(parameters[0])],
  };
  return new Proxy(keyv, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const observed = typeof property === 'string' ? sizes[property] : undefined;
      if (observed === undefined) return value.bind(target);
      const [name, size] = observed;
      return (...parameters: unknown[]) =>
        timed(observe, name, size(parameters), () => value.apply(target, parameters) as Promise<unknown>);
    },
  });
}

/**
 * A {@link StoreBackend} that tells `observe` of every call and passes it to `inner`. Given to
 * `createHoldpoint` as `store`, it lets the bench see how many round trips the engine makes.
 * `close()` closes `inner`: the engine does not close a backend it was handed.
 */
export function observedStore(inner: StoreBackend, observe: StoreObserver): StoreBackend {
  const call = <T>(name: OperationName, size: number, make: () => Promise<T>): Promise<T> =>
    timed(observe, name, size, make);
  const entriesSize = (entries: readonly IndexEntry[]) =>
    entries.reduce((total, entry) => total + entry.member.length + 8, 0);
  const membersSize = (members: readonly string[]) =>
    members.reduce((total, member) => total + member.length, 0);
  return {
    kind: inner.kind,
    keyv: observedKeyv(inner.keyv, observe),
    claim: (key: string, value: string, ttlMs?: number) =>
      call('claim', key.length + value.length, () => inner.claim(key, value, ttlMs)),
    readClaims: (keys: readonly string[]) => call('readClaims', keys.length, () => inner.readClaims(keys)),
    releaseClaim: (key: string, value: string) =>
      call('releaseClaim', key.length + value.length, () => inner.releaseClaim(key, value)),
    indexAdd: (index: string, entries: readonly IndexEntry[]) =>
      call('indexAdd', index.length + entriesSize(entries), () => inner.indexAdd(index, entries)),
    indexRemove: (index: string, members: readonly string[]) =>
      call('indexRemove', index.length + membersSize(members), () => inner.indexRemove(index, members)),
    indexRange: (index: string, options: IndexRangeOptions) =>
      call('indexRange', options.limit, () => inner.indexRange(index, options)),
    appendEvent: (key, value, feed, writes) =>
      call('appendEvent', key.length + value.length, () => inner.appendEvent(key, value, feed, writes)),
    // Only where the store has it (a baseline commit's core may not): the engine uses it when present.
    ...(inner.appendEvents === undefined
      ? {}
      : {
          appendEvents: (events, writes, claims) =>
            call(
              'appendEvents',
              events.reduce((total, event) => total + event.key.length + event.value.length, 0),
              () => (inner.appendEvents as NonNullable<StoreBackend['appendEvents']>)(events, writes, claims),
            ),
        }),
    readFeed: (options) => call('readFeed', options.limit, () => inner.readFeed(options)),
    feedHead: () => call('feedHead', 0, () => inner.feedHead()),
    readCounters: (counters) => call('readCounters', counters.length, () => inner.readCounters(counters)),
    readRecords: (keys) => call('readRecords', keys.length, () => inner.readRecords(keys)),
    publish: (message: string) => call('publish', message.length, () => inner.publish(message)),
    subscribe: (listener: (message: string) => void) => inner.subscribe(listener),
    // The store's clock, as the engine uses it (read at start and once a minute: not counted).
    ...(inner.readClock === undefined
      ? {}
      : { readClock: () => (inner.readClock as () => Promise<number>)() }),
    ...(inner.useClock === undefined ? {} : { useClock: (now: () => number) => inner.useClock?.(now) }),
    close: () => inner.close(),
  };
}
