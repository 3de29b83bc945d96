import { EventEmitter } from 'node:events';
import Keyv from 'keyv';
import { checkAfter, checkEventAppends, checkFeedOptions, integerPosition } from './feed-arguments.js';
import { ListenerSet } from './listener-set.js';
import {
  checkEntries,
  checkKey,
  checkKeys,
  checkTtl,
  checkValue,
  rangeBounds,
  storeClosedError,
} from './store-arguments.js';
import type {
  EventAppend,
  EventClaim,
  EventWrites,
  FeedEntryRef,
  FeedReadOptions,
  FeedRecord,
  IndexEntry,
  IndexRangeOptions,
  StoreBackend,
} from './store-backend.js';

/** A claim held in memory; `expires` (ms since the epoch, by `Date.now()`) is absent for a permanent claim. */
interface MemoryClaim {
  value: string;
  expires: number | undefined;
}

/** Everything backends on one memory store share. */
interface MemoryState {
  records: Map<unknown, unknown>;
  claims: Map<string, MemoryClaim>;
  /** Names of the claims that are leases, and when they were last swept for lapsed ones. */
  leases: Set<string>;
  lastSweep: number;
  indexes: Map<string, SortedIndex>;
  /** One event per prefix; each backend listens on its own prefix. */
  messages: EventEmitter;
  /** The event feed of each prefix. */
  feeds: Map<string, MemoryFeed>;
  /** Counters, by prefixed name. */
  counters: Map<string, number>;
  /** Records written with events (`appendEvent` / `readRecords`), not Keyv's. */
  eventRecords: Map<string, string>;
}

/**
 * One prefix's event feed: entries in an array (position = index + 1, so positions are assigned in
 * the order entries are written, which in one process is the order they become readable), and the
 * positions of each intent, task and assignee for the filters.
 */
interface MemoryFeed {
  entries: Array<{ intentId: string; seq: number; taskId?: string; assignees: readonly string[] }>;
  byIntent: Map<string, number[]>;
  byTask: Map<string, number[]>;
  byAssignee: Map<string, number[]>;
}

/** `memory://NAME` stores, kept for the life of the process so that a restarted engine finds its data. */
const namedStates = new Map<string, MemoryState>();
/** Stores found through a Keyv's Map, so two Keyv instances over one Map share claims too. */
const statesByMap = new WeakMap<Map<unknown, unknown>, MemoryState>();

function newState(records: Map<unknown, unknown> = new Map()): MemoryState {
  const messages = new EventEmitter();
  messages.setMaxListeners(0);
  const state: MemoryState = {
    records,
    claims: new Map(),
    leases: new Set(),
    lastSweep: 0,
    indexes: new Map(),
    messages,
    feeds: new Map(),
    counters: new Map(),
    eventRecords: new Map(),
  };
  statesByMap.set(records, state);
  return state;
}

/**
 * A store in this process's memory: for tests, examples and single-process tools. `memory://` is
 * private to the backend; `memory://NAME` is shared by every backend opened with that name in this
 * process (two engines in one test) and lives as long as the process. Claims and leases use
 * `Date.now()`, so fake timers move them. Nothing survives a restart of the process.
 */
export class MemoryStore implements StoreBackend {
  readonly kind = 'memory';
  readonly keyv: Keyv;
  readonly #state: MemoryState;
  readonly #prefix: string;
  readonly #listeners = new ListenerSet();
  readonly #deliver = (message: string) => this.#listeners.emit(message);
  #closed = false;

  private constructor(state: MemoryState, keyv: Keyv, prefix: string) {
    this.#state = state;
    this.keyv = keyv;
    this.#prefix = prefix;
    this.#state.messages.on(prefix, this.#deliver);
  }

  /** Open a private store (no name) or the process-wide store called `name`. */
  static open(options: { name?: string; prefix: string }): MemoryStore {
    let state: MemoryState;
    if (options.name === undefined) {
      state = newState();
    } else {
      state = namedStates.get(options.name) ?? newState();
      namedStates.set(options.name, state);
    }
    const keyv = new Keyv({ store: state.records, namespace: options.prefix, throwOnErrors: true });
    // Errors are thrown to the caller (throwOnErrors); the listener keeps an emitted one from going unheard.
    keyv.on('error', () => {});
    return new MemoryStore(state, keyv, options.prefix);
  }

  /** A backend for a Keyv whose store is a Map; backends over the same Map share claims and indexes. */
  static fromKeyv(keyv: Keyv, prefix: string): MemoryStore {
    const records = keyv.store as Map<unknown, unknown>;
    return new MemoryStore(statesByMap.get(records) ?? newState(records), keyv, prefix);
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    // The same rules as the other stores, so what works in memory works on PostgreSQL too.
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    this.#open('claim');
    const name = this.#key(key);
    const now = Date.now();
    this.#sweep(now);
    const held = this.#state.claims.get(name);
    if (held !== undefined && (held.expires === undefined || held.expires > now)) return false;
    this.#state.claims.set(name, { value, expires: ttl === undefined ? undefined : now + ttl });
    if (ttl === undefined) this.#state.leases.delete(name);
    else this.#state.leases.add(name);
    return true;
  }

  async readClaims(keys: readonly string[]): Promise<(string | undefined)[]> {
    checkKeys(keys, 'claim key');
    this.#open('readClaims');
    const now = Date.now();
    return keys.map((key) => {
      const held = this.#state.claims.get(this.#key(key));
      return held !== undefined && (held.expires === undefined || held.expires > now)
        ? held.value
        : undefined;
    });
  }

  async releaseClaim(key: string, value: string): Promise<void> {
    checkKey(key, 'claim key');
    checkValue(value, 'claim value');
    this.#open('releaseClaim');
    this.#release(key, value);
  }

  #release(key: string, value: string): void {
    const name = this.#key(key);
    if (this.#state.claims.get(name)?.value === value) {
      this.#state.claims.delete(name);
      this.#state.leases.delete(name);
    }
  }

  /** Drop lapsed leases once a minute, as the SQL stores do: a long-lived process keeps only live ones. */
  #sweep(now: number): void {
    const state = this.#state;
    if (now - state.lastSweep < 60_000) return;
    state.lastSweep = now;
    for (const name of state.leases) {
      const expires = state.claims.get(name)?.expires;
      if (expires === undefined || expires <= now) {
        state.leases.delete(name);
        if (expires !== undefined) state.claims.delete(name);
      }
    }
  }

  async indexAdd(index: string, entries: readonly IndexEntry[]): Promise<void> {
    checkKey(index, 'index name');
    const checked = checkEntries(entries);
    this.#open('indexAdd');
    const name = this.#key(index);
    let sorted = this.#state.indexes.get(name);
    if (sorted === undefined) {
      sorted = new SortedIndex();
      this.#state.indexes.set(name, sorted);
    }
    for (const entry of checked) sorted.set(entry.member, entry.score);
  }

  async indexRemove(index: string, members: readonly string[]): Promise<void> {
    checkKey(index, 'index name');
    checkKeys(members, 'index member');
    this.#open('indexRemove');
    const sorted = this.#state.indexes.get(this.#key(index));
    if (sorted === undefined) return;
    for (const member of members) sorted.delete(member);
  }

  async indexRange(index: string, options: IndexRangeOptions): Promise<IndexEntry[]> {
    checkKey(index, 'index name');
    const { min, max, limit } = rangeBounds(options);
    const after = checkAfter(options.after);
    this.#open('indexRange');
    return this.#state.indexes.get(this.#key(index))?.range(min, max, limit, after) ?? [];
  }

  // -------------------------------------------------------------------------------------------
  // Feed, list indexes and counters (appendEvent and what reads it)

  async appendEvent(key: string, value: string, feed: FeedRecord, writes?: EventWrites): Promise<boolean> {
    return this.appendEvents([{ key, value, feed }], writes);
  }

  async appendEvents(events: readonly EventAppend[], writes?: EventWrites, claims?: readonly EventClaim[]) {
    const checked = checkEventAppends(events, writes, claims);
    const normalized = checked.writes;
    this.#open('appendEvent');
    // All of it in one synchronous step: nothing else runs in between, as in a transaction.
    const taken = [...checked.events, ...checked.claims];
    for (const { key } of taken) {
      const held = this.#state.claims.get(this.#key(key));
      if (held !== undefined && (held.expires === undefined || held.expires > Date.now())) return false;
    }
    for (const { key, value } of taken) this.#state.claims.set(this.#key(key), { value, expires: undefined });
    const memoryFeed = this.#feed();
    for (const { feed: record } of checked.events) {
      memoryFeed.entries.push(record);
      const position = memoryFeed.entries.length;
      const note = (map: Map<string, number[]>, id: string) => {
        const positions = map.get(id);
        if (positions === undefined) map.set(id, [position]);
        else positions.push(position);
      };
      note(memoryFeed.byIntent, record.intentId);
      if (record.taskId !== undefined) note(memoryFeed.byTask, record.taskId);
      for (const assignee of record.assignees) note(memoryFeed.byAssignee, assignee);
    }
    for (const entry of normalized.indexAdd) this.#sortedIndex(entry.index).set(entry.member, entry.score);
    for (const entry of normalized.indexRemove)
      this.#state.indexes.get(this.#key(entry.index))?.delete(entry.member);
    for (const { counter, delta } of normalized.counters) {
      const counterName = this.#key(counter);
      this.#state.counters.set(counterName, (this.#state.counters.get(counterName) ?? 0) + delta);
    }
    for (const { key: recordKey, value: recordValue } of normalized.records)
      this.#state.eventRecords.set(this.#key(recordKey), recordValue);
    for (const { key, value } of normalized.releaseClaims) this.#release(key, value);
    const message = normalized.message;
    if (message !== undefined) queueMicrotask(() => this.#state.messages.emit(this.#prefix, message));
    return true;
  }

  async readFeed(options: FeedReadOptions): Promise<FeedEntryRef[]> {
    const { limit, intentId, taskId, assignee } = checkFeedOptions(options);
    const after = integerPosition('memory', options.after);
    this.#open('readFeed');
    const memoryFeed = this.#feed();
    // The most selective filter's positions, the others checked per entry.
    const positions =
      taskId !== undefined
        ? (memoryFeed.byTask.get(taskId) ?? [])
        : intentId !== undefined
          ? (memoryFeed.byIntent.get(intentId) ?? [])
          : assignee !== undefined
            ? (memoryFeed.byAssignee.get(assignee) ?? [])
            : undefined;
    const result: FeedEntryRef[] = [];
    const take = (position: number): boolean => {
      const entry = memoryFeed.entries[position - 1];
      if (entry === undefined) return false;
      if (intentId !== undefined && entry.intentId !== intentId) return true;
      if (assignee !== undefined && !entry.assignees.includes(assignee)) return true;
      result.push({ position: String(position), intentId: entry.intentId, seq: entry.seq });
      return result.length < limit;
    };
    if (limit === 0) return result;
    if (positions === undefined) {
      for (let position = after + 1; position <= memoryFeed.entries.length; position++)
        if (!take(position)) break;
    } else {
      for (let at = upperBound(positions, after); at < positions.length; at++)
        if (!take(positions[at] as number)) break;
    }
    return result;
  }

  async feedHead(): Promise<string> {
    this.#open('feedHead');
    return String(this.#feed().entries.length);
  }

  async readCounters(counters: readonly string[]): Promise<number[]> {
    checkKeys(counters, 'counter name');
    this.#open('readCounters');
    return counters.map((counter) => this.#state.counters.get(this.#key(counter)) ?? 0);
  }

  async readRecords(keys: readonly string[]): Promise<(string | undefined)[]> {
    checkKeys(keys, 'record key');
    this.#open('readRecords');
    return keys.map((key) => this.#state.eventRecords.get(this.#key(key)));
  }

  #feed(): MemoryFeed {
    let feed = this.#state.feeds.get(this.#prefix);
    if (feed === undefined) {
      feed = { entries: [], byIntent: new Map(), byTask: new Map(), byAssignee: new Map() };
      this.#state.feeds.set(this.#prefix, feed);
    }
    return feed;
  }

  #sortedIndex(index: string): SortedIndex {
    const name = this.#key(index);
    let sorted = this.#state.indexes.get(name);
    if (sorted === undefined) {
      sorted = new SortedIndex();
      this.#state.indexes.set(name, sorted);
    }
    return sorted;
  }

  async publish(message: string): Promise<void> {
    checkValue(message, 'message');
    this.#open('publish');
    // Delivered after the current call stack, like the other backends' network round trip, so a
    // publisher never runs its subscribers inside its own call.
    queueMicrotask(() => this.#state.messages.emit(this.#prefix, message));
  }

  subscribe(listener: (message: string) => void): () => void {
    return this.#listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#state.messages.off(this.#prefix, this.#deliver);
    this.#listeners.clear();
  }

  #key(key: string): string {
    return `${this.#prefix}:${key}`;
  }

  #open(operation: string): void {
    if (this.#closed) throw storeClosedError('memory', operation);
  }
}

/**
 * A sorted index: entries in an array ordered by (score, member), found by binary search, and a Map
 * from member to score. Reads are O(log n + k); a write is O(log n) to find its place plus the
 * array shift, which for the index sizes of one process is cheaper than a tree.
 */
export class SortedIndex {
  readonly #scores = new Map<string, number>();
  readonly #entries: IndexEntry[] = [];

  get size(): number {
    return this.#entries.length;
  }

  set(member: string, score: number): void {
    const previous = this.#scores.get(member);
    if (previous === score) return;
    if (previous !== undefined) this.#entries.splice(this.#lowerBound(previous, member), 1);
    this.#entries.splice(this.#lowerBound(score, member), 0, { member, score });
    this.#scores.set(member, score);
  }

  delete(member: string): void {
    const score = this.#scores.get(member);
    if (score === undefined) return;
    this.#entries.splice(this.#lowerBound(score, member), 1);
    this.#scores.delete(member);
  }

  /** Entries with min ≤ score ≤ max (and after `after`), lowest first (ties by member), at most `limit`. */
  range(min: number, max: number, limit: number, after?: IndexEntry): IndexEntry[] {
    const result: IndexEntry[] = [];
    // '' sorts before every member, so this finds the first entry whose score is at least min.
    let start = this.#lowerBound(min, '');
    if (after !== undefined) {
      let next = this.#lowerBound(after.score, after.member);
      const found = this.#entries[next];
      if (found !== undefined && found.score === after.score && found.member === after.member) next++;
      start = Math.max(start, next);
    }
    for (let at = start; at < this.#entries.length && result.length < limit; at++) {
      const entry = this.#entries[at] as IndexEntry;
      if (entry.score > max) break;
      result.push({ member: entry.member, score: entry.score });
    }
    return result;
  }

  /** The position of the first entry not less than (score, member). */
  #lowerBound(score: number, member: string): number {
    let low = 0;
    let high = this.#entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const entry = this.#entries[middle] as IndexEntry;
      if (entry.score < score || (entry.score === score && entry.member < member)) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** The first index of `sorted` (ascending) whose value is greater than `value`. */
function upperBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}
