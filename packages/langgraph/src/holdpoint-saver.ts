import type { IndexEntry, StoreBackend } from '@holdpoint/core';
import type { RunnableConfig } from '@langchain/core/runnables';
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  compareWritesSortKeys,
  copyCheckpoint,
  getCheckpointId,
  INTERRUPT,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
} from '@langchain/langgraph-checkpoint';
import { checkpointScore, nextUp } from './checkpoint-order.js';

/** Options of {@link HoldpointSaver}. */
export interface HoldpointSaverOptions {
  /** How checkpoints and writes are turned into bytes. @default LangGraph's JsonPlusSerializer */
  serde?: SerializerProtocol;
}

/** A thread whose latest checkpoint recorded an interrupt (see {@link HoldpointSaver.interruptedThreads}). */
export interface InterruptedThread {
  threadId: string;
  /** The checkpoint whose pending writes hold the interrupt. */
  checkpointId: string;
  /** When the interrupt was recorded (ms since the epoch). */
  at: number;
}

/** A value as the serializer made it: its type, and the text (JSON) or base64 of its bytes. */
type Serialized = [type: string, data: string, encoding?: 'base64'];

interface StoredCheckpoint {
  /** The checkpoint without its channel values: those are blobs, one per channel and version. */
  checkpoint: Serialized;
  metadata: Serialized;
  parentId: string | null;
}

interface StoredWrite {
  taskId: string;
  channel: string;
  value: Serialized;
  taskPath: string;
}

const pageSize = 200;
/** Index entries read to find the newest checkpoint: more only when they all share one score. */
const latestPage = 4;
/** Members that share one score are read in one go; more than this in one group is refused, not cut. */
const groupLimit = 100_000;
const threadsIndex = 'langgraph:threads';
const interruptedIndex = 'langgraph:interrupted';

const keys = {
  checkpoint: (thread: string, ns: string, id: string) => `langgraph:cp:${JSON.stringify([thread, ns, id])}`,
  write: (thread: string, ns: string, id: string, member: string) =>
    `langgraph:w:${JSON.stringify([thread, ns, id])}${member}`,
  /** Index of a thread's checkpoints in one namespace, newest first. */
  checkpoints: (thread: string, ns: string) => `langgraph:cps:${JSON.stringify([thread, ns])}`,
  /** The list of the writes pending on one checkpoint (their members). */
  writes: (thread: string, ns: string, id: string) => `langgraph:ws:${JSON.stringify([thread, ns, id])}`,
  /** A channel's value at one version (stored once, shared by the checkpoints at that version). */
  blob: (thread: string, ns: string, member: string) =>
    `langgraph:blob:${JSON.stringify([thread, ns])}${member}`,
  /** Index of a thread's checkpoint namespaces other than the root (`''`), which every thread has. */
  namespaces: (thread: string) => `langgraph:nss:${JSON.stringify(thread)}`,
};

const textDecoder = new TextDecoder('utf-8', { fatal: true });

function missingThread(operation: string): Error {
  return new Error(
    `Failed to ${operation}: the RunnableConfig has no "thread_id" in its "configurable". With a checkpointer, ` +
      'give every run a thread: graph.invoke(input, { configurable: { thread_id: "my-thread" } })',
  );
}

/**
 * A LangGraph checkpoint saver on Holdpoint's store: the same SQLite file, Redis or PostgreSQL that
 * the engine runs on, so one store holds the graph's state and its gates. It uses only the store's
 * Keyv (records) and sorted indexes (order), so it works on every backend `createStore` opens.
 *
 * - Checkpoints are records `langgraph:cp:…`, ordered per thread and namespace by a sorted index
 *   (newest first, the order of their ids, as every LangGraph saver); their channel values are
 *   records of their own, one per channel and version.
 * - Pending writes are one record per task and write index, listed by a record per checkpoint
 *   written with them; a regular write is kept once (a retried task sends it again), special writes
 *   (errors, interrupts, resumes) are replaced.
 * - Threads whose latest checkpoint recorded an interrupt are listed in an index of their own, so a
 *   resumer finds waiting threads without reading every thread ({@link interruptedThreads}).
 *
 * @example
 * const store = await createStore('sqlite://./.holdpoint/holdpoint.db');
 * const hp = await createHoldpoint({ store });
 * const graph = builder.compile({ checkpointer: new HoldpointSaver(store) });
 */
export class HoldpointSaver extends BaseCheckpointSaver {
  /** The store this saver writes to (not closed by the saver: it is the caller's). */
  readonly store: StoreBackend;
  /** Thread and namespace pairs this saver has already put in the thread indexes. */
  readonly #registered = new Set<string>();
  /** Work on one checkpoint's list of writes, one at a time (the tail of each key's queue). */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(store: StoreBackend, options: HoldpointSaverOptions = {}) {
    super(options.serde);
    if (typeof store !== 'object' || store === null || typeof store.indexRange !== 'function') {
      throw new TypeError(
        'HoldpointSaver needs a StoreBackend: const store = await createStore(url); new HoldpointSaver(store)',
      );
    }
    this.store = store;
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const thread = config.configurable?.thread_id as string | undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? '';
    if (thread === undefined) return undefined;
    let id: string | undefined = getCheckpointId(config) || undefined;
    if (id === undefined) {
      id = await this.#latestId(thread, ns);
      if (id === undefined) return undefined;
    }
    // The pending writes are read beside the record, and their values beside the channel values.
    const writes = this.#readWrites(thread, ns, id);
    // Awaited below; this only keeps a failure of the record's read from leaving it unhandled.
    writes.catch(() => undefined);
    const stored = await this.store.keyv.get<StoredCheckpoint>(keys.checkpoint(thread, ns, id));
    if (stored === undefined) {
      await writes;
      return undefined;
    }
    return this.#tuple(thread, ns, id, stored, writes);
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let limit = options.limit;
    const thread = config.configurable?.thread_id as string | undefined;
    const ns = config.configurable?.checkpoint_ns as string | undefined;
    const onlyId = config.configurable?.checkpoint_id as string | undefined;
    const beforeId = before?.configurable?.checkpoint_id as string | undefined;
    const threads = thread === undefined ? this.#allThreads() : oneOf([thread]);
    for await (const threadId of threads) {
      const namespaces = ns === undefined ? await this.#namespaces(threadId) : [ns];
      for (const namespace of namespaces) {
        for await (const page of this.#newestFirst(threadId, namespace, beforeId)) {
          const ids = page.filter((id) => !onlyId || id === onlyId);
          if (ids.length === 0) continue;
          const records = await this.store.keyv.getMany<StoredCheckpoint>(
            ids.map((id) => keys.checkpoint(threadId, namespace, id)),
          );
          for (const [index, id] of ids.entries()) {
            const stored = records[index];
            if (stored === undefined || stored === null) continue;
            const metadata = (await this.#load(stored.metadata)) as Record<string, unknown>;
            if (filter && !Object.entries(filter).every(([key, value]) => metadata[key] === value)) continue;
            if (limit !== undefined) {
              if (limit <= 0) return;
              limit -= 1;
            }
            yield this.#tuple(
              threadId,
              namespace,
              id,
              stored,
              this.#readWrites(threadId, namespace, id),
              metadata,
            );
          }
        }
      }
    }
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const thread = config.configurable?.thread_id as string | undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? '';
    if (thread === undefined) throw missingThread('put checkpoint');
    // Channel values are stored once per channel and version: only those `newVersions` names changed
    // since the parent, as LangGraph's PostgreSQL and Redis savers do.
    const { channel_values: values, ...rest } = copyCheckpoint(checkpoint);
    const changed = Object.entries(newVersions).filter(([channel]) => channel in values);
    const blobMember = (channel: string, version: unknown) => JSON.stringify([channel, version]);
    const [serializedCheckpoint, serializedMetadata, blobs] = await Promise.all([
      this.#dump({ ...rest, channel_values: {} }),
      this.#dump(metadata),
      Promise.all(
        changed.map(async ([channel, version]) => ({
          key: keys.blob(thread, ns, blobMember(channel, version)),
          value: await this.#dump(values[channel]),
        })),
      ),
    ]);
    const stored: StoredCheckpoint = {
      checkpoint: serializedCheckpoint,
      metadata: serializedMetadata,
      parentId: (config.configurable?.checkpoint_id as string | undefined) ?? null,
    };
    // The values and the record in one write, then the index entry that makes the checkpoint
    // visible: a reader never finds a checkpoint whose values are not written yet.
    await this.store.keyv.setMany([
      { key: keys.checkpoint(thread, ns, checkpoint.id), value: stored },
      ...blobs,
    ]);
    await Promise.all([
      this.store.indexAdd(keys.checkpoints(thread, ns), [
        { member: checkpoint.id, score: -checkpointScore(checkpoint.id) },
      ]),
      this.#register(thread, ns),
    ]);
    return { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
  }

  async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath = '',
  ): Promise<void> {
    const thread = config.configurable?.thread_id as string | undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? '';
    const id = config.configurable?.checkpoint_id as string | undefined;
    if (thread === undefined) throw missingThread('put writes');
    if (id === undefined) {
      throw new Error(
        'Failed to put writes: the RunnableConfig has no "checkpoint_id" in its "configurable".',
      );
    }
    const entries = writes.map(([channel, value], index) => {
      const idx = WRITES_IDX_MAP[channel] ?? index;
      const member = JSON.stringify([taskId, idx]);
      return { channel, value, idx, member, key: keys.write(thread, ns, id, member) };
    });
    const manifestKey = keys.writes(thread, ns, id);
    // The checkpoint's list of writes is read, extended and written back with the new records in one
    // write; the tasks of one step put their writes at once, so this saver does it one at a time per
    // checkpoint. (Runs of one thread are one at a time across processes: the resumer's lease.)
    await this.#exclusive(manifestKey, async () => {
      const listed = (await this.store.keyv.get<string[]>(manifestKey)) ?? [];
      const present = new Set(listed);
      // A regular write is kept as first written (a retried task writes the same again); special
      // writes — error, interrupt, resume — replace what was there.
      const kept = entries.filter((entry) => entry.idx < 0 || !present.has(entry.member));
      if (kept.length === 0) return;
      const records = await Promise.all(
        kept.map(async (entry) => {
          const stored: StoredWrite = {
            taskId,
            channel: entry.channel,
            value: await this.#dump(entry.value),
            taskPath,
          };
          return { key: entry.key, value: stored as unknown };
        }),
      );
      const added = kept.map((entry) => entry.member).filter((member) => !present.has(member));
      await this.store.keyv.setMany([
        ...records,
        ...(added.length === 0 ? [] : [{ key: manifestKey, value: [...listed, ...added] as unknown }]),
      ]);
      // The thread is listed as interrupted only once its interrupt can be read: a resumer that
      // finds the entry and reads the thread before the write would see nothing waiting and drop
      // the entry — and a decision taken while no resumer listens would then never be found.
      if (ns === '' && kept.some((entry) => entry.channel === INTERRUPT)) {
        await this.store.indexAdd(interruptedIndex, [
          { member: JSON.stringify([thread, id]), score: Date.now() },
        ]);
      }
    });
  }

  async deleteThread(threadId: string): Promise<void> {
    const namespaces = await this.#namespaces(threadId);
    for (const ns of namespaces) {
      const index = keys.checkpoints(threadId, ns);
      const ids: string[] = [];
      for await (const page of scan(this.store, index)) ids.push(...page.map((entry) => entry.member));
      for (const id of ids) {
        const manifestKey = keys.writes(threadId, ns, id);
        const [members, stored] = await Promise.all([
          this.store.keyv.get<string[]>(manifestKey).then((listed) => listed ?? []),
          this.store.keyv.get<StoredCheckpoint>(keys.checkpoint(threadId, ns, id)),
        ]);
        // The channel values a checkpoint names are its blobs (stored once per channel and version).
        const versions =
          stored === undefined
            ? {}
            : (((await this.#load(stored.checkpoint)) as Checkpoint).channel_versions ?? {});
        await this.store.keyv.deleteMany([
          keys.checkpoint(threadId, ns, id),
          manifestKey,
          ...members.map((member) => keys.write(threadId, ns, id, member)),
          ...Object.entries(versions).map(([channel, version]) =>
            keys.blob(threadId, ns, JSON.stringify([channel, version])),
          ),
        ]);
      }
      await this.store.indexRemove(index, ids);
      await this.store.indexRemove(
        interruptedIndex,
        ids.map((id) => JSON.stringify([threadId, id])),
      );
      this.#registered.delete(JSON.stringify([threadId, ns]));
    }
    await this.store.indexRemove(
      keys.namespaces(threadId),
      namespaces.filter((ns) => ns !== ''),
    );
    await this.store.indexRemove(threadsIndex, [threadId]);
  }

  /**
   * Threads whose root checkpoint recorded an interrupt, oldest first, from `since` (ms) on. An
   * entry stays until {@link forgetInterrupt} drops it, so it may name a checkpoint the thread has
   * since moved past: check the thread's state before acting on it.
   */
  async *interruptedThreads(options: { since?: number } = {}): AsyncGenerator<InterruptedThread> {
    for await (const page of scan(this.store, interruptedIndex, options.since)) {
      for (const entry of page) {
        const [threadId, checkpointId] = JSON.parse(entry.member) as [string, string];
        yield { threadId, checkpointId, at: entry.score };
      }
    }
  }

  /** Drop one entry of {@link interruptedThreads} (its interrupts were answered or superseded). */
  async forgetInterrupt(threadId: string, checkpointId: string): Promise<void> {
    await this.store.indexRemove(interruptedIndex, [JSON.stringify([threadId, checkpointId])]);
  }

  async #tuple(
    thread: string,
    ns: string,
    id: string,
    stored: StoredCheckpoint,
    writes: Promise<CheckpointPendingWrite[]>,
    metadata?: Record<string, unknown>,
  ): Promise<CheckpointTuple> {
    const checkpoint = (await this.#load(stored.checkpoint)) as Checkpoint;
    const [values, pendingWrites] = await Promise.all([
      this.#channelValues(thread, ns, checkpoint.channel_versions ?? {}),
      writes,
    ]);
    checkpoint.channel_values = values;
    if (checkpoint.v < 4 && stored.parentId !== null) {
      await this.#migratePendingSends(checkpoint, thread, ns, stored.parentId);
    }
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: id } },
      checkpoint,
      metadata: (metadata ?? (await this.#load(stored.metadata))) as CheckpointMetadata,
      pendingWrites,
    };
    if (stored.parentId !== null) {
      tuple.parentConfig = {
        configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: stored.parentId },
      };
    }
    return tuple;
  }

  /** The values of the channels at the given versions (a channel without a stored value has none). */
  async #channelValues(
    thread: string,
    ns: string,
    versions: ChannelVersions,
  ): Promise<Record<string, unknown>> {
    const channels = Object.entries(versions);
    if (channels.length === 0) return {};
    const blobs = await this.store.keyv.getMany<Serialized>(
      channels.map(([channel, version]) => keys.blob(thread, ns, JSON.stringify([channel, version]))),
    );
    const values: Record<string, unknown> = {};
    await Promise.all(
      channels.map(async ([channel], index) => {
        const blob = blobs[index];
        if (blob !== undefined && blob !== null) values[channel] = await this.#load(blob);
      }),
    );
    return values;
  }

  /** Checkpoints older than format 4 kept pending sends as writes of their parent. */
  async #migratePendingSends(checkpoint: Checkpoint, thread: string, ns: string, parentId: string) {
    const sends = (await this.#readWrites(thread, ns, parentId))
      .filter(([, channel]) => channel === TASKS)
      .map(([, , value]) => value);
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = sends;
    checkpoint.channel_versions ??= {};
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  /** The writes pending on one checkpoint, in the order LangGraph applies them. */
  async #readWrites(thread: string, ns: string, id: string): Promise<CheckpointPendingWrite[]> {
    const members = (await this.store.keyv.get<string[]>(keys.writes(thread, ns, id))) ?? [];
    if (members.length === 0) return [];
    const records = await this.store.keyv.getMany<StoredWrite>(
      members.map((member) => keys.write(thread, ns, id, member)),
    );
    const found = members.flatMap((member, index) => {
      const record = records[index];
      if (record === undefined || record === null) return [];
      const [, idx] = JSON.parse(member) as [string, number];
      return [{ record, sortKey: writesSortKey(record.taskPath, record.taskId, idx) }];
    });
    found.sort((a, b) => compareWritesSortKeys(a.sortKey, b.sortKey));
    return Promise.all(
      found.map(
        async ({ record }): Promise<CheckpointPendingWrite> => [
          record.taskId,
          record.channel,
          await this.#load(record.value),
        ],
      ),
    );
  }

  /** Ids of a thread's checkpoints in one namespace, newest first, page by page; only those before `beforeId`. */
  async *#newestFirst(thread: string, ns: string, beforeId?: string): AsyncGenerator<string[]> {
    const from = beforeId === undefined ? undefined : -checkpointScore(beforeId);
    for await (const page of scan(this.store, keys.checkpoints(thread, ns), from)) {
      // A page holds whole groups of equal scores; within a group the index orders ids ascending.
      const ids = page.map((entry) => entry.member).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
      const wanted = beforeId === undefined ? ids : ids.filter((id) => id < beforeId);
      if (wanted.length > 0) yield wanted;
    }
  }

  /** Run `work` after the work queued before it on `key`. */
  async #exclusive(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const current = previous.then(work, work);
    const tail = current.catch(() => undefined);
    this.#queues.set(key, tail);
    try {
      await current;
    } finally {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    }
  }

  /** The newest checkpoint id of a thread in one namespace: a read of a few index entries. */
  async #latestId(thread: string, ns: string): Promise<string | undefined> {
    const index = keys.checkpoints(thread, ns);
    const page = await this.store.indexRange(index, { limit: latestPage });
    const first = page[0];
    if (first === undefined) return undefined;
    let group = page.filter((entry) => entry.score === first.score);
    if (group.length === latestPage) {
      group = await this.store.indexRange(index, { min: first.score, max: first.score, limit: groupLimit });
    }
    // Equal scores are ordered by member, ascending: the newest is the last.
    return group.at(-1)?.member;
  }

  async *#allThreads(): AsyncGenerator<string> {
    for await (const page of scan(this.store, threadsIndex)) {
      for (const entry of page) yield entry.member;
    }
  }

  async #namespaces(thread: string): Promise<string[]> {
    return ['', ...(await readAll(this.store, keys.namespaces(thread)))];
  }

  /** Put a thread and namespace in the indexes `list` walks (once per saver: the entries are idempotent). */
  async #register(thread: string, ns: string): Promise<void> {
    const key = JSON.stringify([thread, ns]);
    if (this.#registered.has(key)) return;
    await Promise.all([
      this.store.indexAdd(threadsIndex, [{ member: thread, score: Date.now() }]),
      ...(ns === '' ? [] : [this.store.indexAdd(keys.namespaces(thread), [{ member: ns, score: 0 }])]),
    ]);
    this.#registered.add(key);
  }

  async #dump(value: unknown): Promise<Serialized> {
    const [type, bytes] = await this.serde.dumpsTyped(value);
    if (typeof bytes === 'string') return [type, bytes];
    if (type === 'json') {
      try {
        return [type, textDecoder.decode(bytes)];
      } catch {
        // Not UTF-8: keep the bytes as they are.
      }
    }
    return [type, Buffer.from(bytes).toString('base64'), 'base64'];
  }

  #load([type, data, encoding]: Serialized): Promise<unknown> {
    return this.serde.loadsTyped(
      type,
      encoding === 'base64' ? new Uint8Array(Buffer.from(data, 'base64')) : data,
    );
  }
}

async function* oneOf<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/**
 * An index lowest score first, page by page, from `min` on. A page ends at a whole group of equal
 * scores, so a reader may reorder within a page; a group larger than a page is read in one go.
 */
async function* scan(store: StoreBackend, index: string, min?: number): AsyncGenerator<IndexEntry[]> {
  let from = min ?? Number.NEGATIVE_INFINITY;
  for (;;) {
    const page = await store.indexRange(index, { min: from, limit: pageSize });
    if (page.length < pageSize) {
      if (page.length > 0) yield page;
      return;
    }
    const lastScore = (page.at(-1) as IndexEntry).score;
    const head = page.filter((entry) => entry.score !== lastScore);
    if (head.length > 0) {
      yield head;
      from = lastScore;
      continue;
    }
    const group = await store.indexRange(index, { min: lastScore, max: lastScore, limit: groupLimit });
    if (group.length >= groupLimit) {
      throw new Error(
        `The index ${index} holds more than ${groupLimit} entries with one score; refusing a partial read.`,
      );
    }
    yield group;
    from = nextUp(lastScore);
  }
}

/** Every member of an index (all in one group of equal scores, or paged). */
async function readAll(store: StoreBackend, index: string): Promise<string[]> {
  const members: string[] = [];
  for await (const page of scan(store, index)) members.push(...page.map((entry) => entry.member));
  return members;
}
