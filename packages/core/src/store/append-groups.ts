import type { CheckedAppend, NormalizedWrites } from './feed-arguments.js';

/**
 * Appends recorded by one statement: their events, claims and writes side by side, and one message
 * per append that had one. A backend that runs one statement per append pays its fixed cost (the
 * round trip, the plan's start, the commit) for each; a group pays it once.
 */
export interface MergedAppend {
  events: CheckedAppend['events'];
  claims: CheckedAppend['claims'];
  writes: Omit<NormalizedWrites, 'message'>;
  messages: string[];
}

/** The rows an append writes that no other append of its group may write (counters are summed). */
function rowsOf(append: CheckedAppend): string[] {
  const { events, claims, writes } = append;
  return [
    ...events.map((event) => `k\u0000${event.key}`),
    ...claims.map((claim) => `k\u0000${claim.key}`),
    ...writes.releaseClaims.map((claim) => `k\u0000${claim.key}`),
    ...writes.records.map((record) => `r\u0000${record.key}`),
    ...writes.indexAdd.map((entry) => `i\u0000${entry.index}\u0000${entry.member}`),
    ...writes.indexRemove.map((entry) => `i\u0000${entry.index}\u0000${entry.member}`),
  ];
}

/**
 * Take from the front of `queue` (in place) up to `max` appends that write no row in common, to be
 * recorded together. An append that shares a row with one taken stays queued, in its place, and so
 * does any later one that shares a row with it: appends of one row keep their order.
 */
export function takeGroup<T extends { append: CheckedAppend }>(queue: T[], max: number): T[] {
  const taken: T[] = [];
  const left: T[] = [];
  const rows = new Set<string>();
  const blocked = new Set<string>();
  let at = 0;
  // Once the group is full the rest stays as it is: a long queue is not looked through per group.
  for (; at < queue.length && taken.length < max; at++) {
    const item = queue[at] as T;
    const own = rowsOf(item.append);
    if (!own.some((row) => rows.has(row) || blocked.has(row))) {
      for (const row of own) rows.add(row);
      taken.push(item);
    } else {
      for (const row of own) blocked.add(row);
      left.push(item);
    }
  }
  queue.splice(0, at, ...left);
  return taken;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One append of several whose rows are distinct ({@link takeGroup}): rows in the order each
 * append's own are in (by key, so concurrent statements lock shared rows in one order), counters
 * summed per name.
 */
export function mergeAppends(appends: readonly CheckedAppend[]): MergedAppend {
  const counters = new Map<string, number>();
  for (const { writes } of appends) {
    for (const { counter, delta } of writes.counters)
      counters.set(counter, (counters.get(counter) ?? 0) + delta);
  }
  const entryId = (entry: { index: string; member: string }) => `${entry.index}\u0000${entry.member}`;
  return {
    events: appends.flatMap((append) => append.events),
    claims: appends.flatMap((append) => append.claims),
    writes: {
      indexAdd: appends
        .flatMap((append) => append.writes.indexAdd)
        .sort((a, b) => byText(entryId(a), entryId(b))),
      indexRemove: appends
        .flatMap((append) => append.writes.indexRemove)
        .sort((a, b) => byText(entryId(a), entryId(b))),
      counters: [...counters]
        .filter(([, delta]) => delta !== 0)
        .sort(([a], [b]) => byText(a, b))
        .map(([counter, delta]) => ({ counter, delta })),
      records: appends.flatMap((append) => append.writes.records).sort((a, b) => byText(a.key, b.key)),
      releaseClaims: appends
        .flatMap((append) => append.writes.releaseClaims)
        .sort((a, b) => byText(a.key, b.key)),
    },
    messages: appends.flatMap((append) =>
      append.writes.message === undefined ? [] : [append.writes.message],
    ),
  };
}
