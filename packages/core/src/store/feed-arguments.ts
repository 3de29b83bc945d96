import { ValidationError } from '../errors/validation-error.js';
import { checkKey, checkValue } from './store-arguments.js';
import type {
  EventAppend,
  EventClaim,
  EventWrites,
  FeedReadOptions,
  FeedRecord,
  IndexEntry,
  StoreBackend,
} from './store-backend.js';

// Argument checks and normalisation shared by the four stores' feed, list-index and counter calls
// (`appendEvent`, `readFeed`, `indexRange({ after })`, `readCounters`).

/** The keyset start of an `indexRange`, checked. */
export function checkAfter(after: IndexEntry | undefined): IndexEntry | undefined {
  if (after === undefined) return undefined;
  if (typeof after?.member !== 'string' || !Number.isFinite(after.score)) {
    throw new ValidationError({
      field: 'indexRange.after',
      message: `indexRange.after needs a string member and a finite score; got ${JSON.stringify(after)}.`,
    });
  }
  return after;
}

/** An event's feed record, checked. */
export function checkFeedRecord(feed: FeedRecord): FeedRecord {
  if (typeof feed !== 'object' || feed === null || !Number.isSafeInteger(feed.seq) || feed.seq < 1) {
    throw new ValidationError({
      field: 'appendEvent.feed',
      message: 'appendEvent needs a feed record { intentId, seq ≥ 1, taskId?, assignees }.',
    });
  }
  checkKey(feed.intentId, 'feed intent id');
  if (feed.taskId !== undefined) checkKey(feed.taskId, 'feed task id');
  if (!Array.isArray(feed.assignees)) {
    throw new ValidationError({
      field: 'appendEvent.feed.assignees',
      message: 'feed.assignees must be an array.',
    });
  }
  for (const assignee of feed.assignees) checkKey(assignee, 'feed assignee');
  return { ...feed, assignees: [...new Set(feed.assignees)] };
}

/** The writes of one event after normalisation: no duplicates, sorted (so SQL row locks are taken in one order). */
export interface NormalizedWrites {
  indexAdd: Array<{ index: string; member: string; score: number }>;
  indexRemove: Array<{ index: string; member: string }>;
  counters: Array<{ counter: string; delta: number }>;
  records: Array<{ key: string; value: string }>;
  /** Leases to drop while they hold `value`, in key order. */
  releaseClaims: Array<{ key: string; value: string }>;
  /** The message to publish with the event, if any. */
  message: string | undefined;
}

/**
 * Check and normalise an event's writes: the last add of an entry wins, an entry both added and
 * removed is added, deltas of one counter are summed (zero sums dropped), everything sorted.
 */
export function normalizeWrites(writes: EventWrites | undefined): NormalizedWrites {
  const adds = new Map<string, { index: string; member: string; score: number }>();
  const removes = new Map<string, { index: string; member: string }>();
  const counters = new Map<string, number>();
  const records = new Map<string, string>();
  for (const entry of writes?.records ?? []) {
    checkKey(entry?.key, 'record key');
    records.set(entry.key, checkValue(entry.value, 'record value'));
  }
  const releases = new Map<string, string>();
  for (const entry of writes?.releaseClaims ?? []) {
    checkKey(entry?.key, 'claim key');
    releases.set(entry.key, checkValue(entry.value, 'claim value'));
  }
  for (const entry of writes?.indexAdd ?? []) {
    checkKey(entry?.index, 'index name');
    checkKey(entry.member, 'index member');
    if (!Number.isFinite(entry.score)) {
      throw new ValidationError({
        field: 'appendEvent.writes',
        message: 'Index scores must be finite numbers.',
      });
    }
    adds.set(`${entry.index}\u0000${entry.member}`, {
      index: entry.index,
      member: entry.member,
      score: entry.score,
    });
  }
  for (const entry of writes?.indexRemove ?? []) {
    checkKey(entry?.index, 'index name');
    checkKey(entry.member, 'index member');
    const id = `${entry.index}\u0000${entry.member}`;
    if (!adds.has(id)) removes.set(id, { index: entry.index, member: entry.member });
  }
  for (const entry of writes?.counters ?? []) {
    checkKey(entry?.counter, 'counter name');
    if (!Number.isSafeInteger(entry.delta)) {
      throw new ValidationError({
        field: 'appendEvent.writes',
        message: 'Counter deltas must be whole numbers.',
      });
    }
    counters.set(entry.counter, (counters.get(entry.counter) ?? 0) + entry.delta);
  }
  const byId = <T>(map: Map<string, T>): T[] =>
    [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, value]) => value);
  return {
    indexAdd: byId(adds),
    indexRemove: byId(removes),
    counters: [...counters]
      .filter(([, delta]) => delta !== 0)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([counter, delta]) => ({ counter, delta })),
    // In key order, like the rest: concurrent transactions lock rows in one order.
    records: [...records].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, value })),
    releaseClaims: [...releases].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, value })),
    message: writes?.message === undefined ? undefined : checkValue(writes.message, 'message'),
  };
}

/** The claim of an event: key and value as a claim's. */
export function checkEventClaim(key: string, value: string): void {
  checkKey(key, 'claim key');
  checkValue(value, 'claim value');
}

/** An `appendEvents` call, checked: its events and claims, and its writes normalized. */
export interface CheckedAppend {
  events: EventAppend[];
  claims: EventClaim[];
  writes: NormalizedWrites;
}

/**
 * The arguments of an `appendEvents` call (the four stores' `appendEvent` is one event of it),
 * checked: at least one event, no key twice, writes normalized.
 */
export function checkEventAppends(
  events: readonly EventAppend[],
  writes: EventWrites | undefined,
  claims: readonly EventClaim[] = [],
): CheckedAppend {
  if (!Array.isArray(events) || events.length === 0 || !Array.isArray(claims)) {
    throw new ValidationError({
      field: 'appendEvents.events',
      message:
        'appendEvents needs a non-empty array of events { key, value, feed } (and claims, if given, an array).',
    });
  }
  const checked = events.map((event) => {
    checkEventClaim(event?.key, event?.value);
    return { key: event.key, value: event.value, feed: checkFeedRecord(event.feed) };
  });
  const claimed = claims.map((claim) => {
    checkEventClaim(claim?.key, claim?.value);
    return { key: claim.key, value: claim.value };
  });
  const keys = new Set<string>();
  for (const { key } of [...checked, ...claimed]) {
    if (keys.has(key)) {
      throw new ValidationError({
        field: 'appendEvents.events',
        message: `appendEvents names the key ${JSON.stringify(key)} twice; each event and claim needs its own key.`,
      });
    }
    keys.add(key);
  }
  return { events: checked, claims: claimed, writes: normalizeWrites(writes) };
}

/** Feed read options, checked: a whole limit, filters that are keys. */
export function checkFeedOptions(options: FeedReadOptions): FeedReadOptions {
  if (
    typeof options !== 'object' ||
    options === null ||
    !Number.isSafeInteger(options.limit) ||
    options.limit < 0
  ) {
    throw new ValidationError({
      field: 'readFeed.limit',
      message: 'readFeed needs a whole, non-negative limit.',
    });
  }
  if (options.intentId !== undefined) checkKey(options.intentId, 'feed intent id');
  if (options.taskId !== undefined) checkKey(options.taskId, 'feed task id');
  if (options.assignee !== undefined) checkKey(options.assignee, 'feed assignee');
  return options;
}

/** The refusal of a feed position this store did not give out. */
export function badPosition(store: StoreBackend['kind'], position: unknown): ValidationError {
  return new ValidationError({
    field: 'events.since',
    message: `${typeof position === 'string' ? `'${position.slice(0, 80)}'` : `(a ${typeof position})`} is not a cursor of this ${store} store's event feed: pass the cursor of a page events() returned, or leave since out to read from the start.`,
  });
}

/** A position that is one whole number (memory, SQLite, Redis): the number, 0 for the start. */
export function integerPosition(store: StoreBackend['kind'], position: string | undefined): number {
  if (position === undefined) return 0;
  if (typeof position !== 'string' || !/^(0|[1-9]\d{0,14})$/.test(position))
    throw badPosition(store, position);
  return Number(position);
}

/**
 * The order of two feed positions of one store, which the store checked: integers (SQLite, Redis,
 * memory) or `<xid>.<position>` (PostgreSQL), compared part by part as numbers.
 */
export function comparePositions(a: string, b: string): number {
  const left = a.split('.').map(BigInt);
  const right = b.split('.').map(BigInt);
  for (let at = 0; at < Math.max(left.length, right.length); at++) {
    const x = left[at] ?? 0n;
    const y = right[at] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
