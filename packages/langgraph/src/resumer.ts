import { createHash, randomUUID } from 'node:crypto';
import {
  type AuditEvent,
  type Duration,
  HoldpointError,
  type HumanResult,
  type HumanTask,
  humanResultOf,
  type IndexEntry,
  NotFoundError,
  parseDuration,
  type StoreBackend,
  ValidationError,
} from '@holdpoint/core';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { Command, type LangGraphRunnableConfig } from '@langchain/langgraph';
import { BaseCheckpointSaver, INTERRUPT } from '@langchain/langgraph-checkpoint';
import { type GateEngine, originOf } from './engine.js';
import { HoldpointSaver } from './holdpoint-saver.js';
import type { InterruptMapping } from './human-in-the-loop.js';
import { isHumanTaskInterrupt } from './wait-for-human.js';

/** The compiled graph a resumer drives: what it calls of LangGraph's `CompiledStateGraph`. */
export interface ResumableGraph {
  /** The graph's checkpointer (set by `compile({ checkpointer })`). */
  checkpointer?: unknown;
  // biome-ignore lint/suspicious/noExplicitAny: LangGraph's invoke is generic in the graph's state.
  invoke(input: any, config?: any): Promise<unknown>;
}

/** Options of {@link startResumer}. */
export interface ResumerOptions {
  /** The engine the graph's gates ask. */
  holdpoint: GateEngine;
  /** The compiled graph, with its checkpointer. */
  graph: ResumableGraph;
  /**
   * The store for the resumer's leases: the engine's store. @default the store of the graph's
   * checkpointer when it is a {@link HoldpointSaver}
   */
  store?: StoreBackend;
  /**
   * More of the config a resumed run gets (its `context`, callbacks, …); `thread_id` is set, and
   * `context.holdpoint` is the engine unless you give one.
   */
  config?: (threadId: string) => LangGraphRunnableConfig;
  /** For graphs that call `interrupt()` themselves: how their interrupts become Holdpoint tasks. */
  interrupts?: InterruptMapping[];
  /**
   * The threads to look at on start-up and on each rescan, for a checkpointer other than
   * {@link HoldpointSaver} (which lists its interrupted threads itself).
   */
  threads?: () => AsyncIterable<string> | Iterable<string>;
  /**
   * How long one process may hold a thread while it resumes it; another process takes over after
   * that (for a process that died mid-run). Set it above the longest run from one gate to the next.
   * @default '10m'
   */
  lease?: Duration;
  /** How often new interrupts are looked for and threads held by another process tried again. @default '1s' */
  pollInterval?: Duration;
  /** How often every interrupted thread is looked at again (the safety net under live events). @default '5m' */
  rescanInterval?: Duration;
  /** Threads resumed at once by this process. @default 4 */
  concurrency?: number;
  /** Called after each resume, once the thread's lease is released. */
  onResume?: (event: ResumeEvent) => void;
  /** Errors of background work (a resumed run that threw, a store that is down). @default console.error */
  onError?: (error: unknown) => void;
}

/** One resume of a thread. */
export interface ResumeEvent {
  threadId: string;
  /** The interrupts answered, with the Holdpoint tasks that answered them. */
  interrupts: Array<{ interruptId: string; taskIds: string[] }>;
}

/** A running resumer. */
export interface Resumer {
  /**
   * Run the graph on a thread while holding the thread's lease, so that no resumer resumes it at the
   * same time (a human quick enough to answer before the run has stopped would otherwise make two
   * runs on one thread); then look at the thread. Start your runs here.
   * @example await resumer.invoke({ quarter: 'Q3' }, { configurable: { thread_id: 'q3-2026' } });
   */
  invoke(input: unknown, config: LangGraphRunnableConfig): Promise<unknown>;
  /** Look at one thread now: ask for its new interrupts, resume those whose tasks have ended. */
  check(threadId: string): Promise<void>;
  /** Look at every interrupted thread, and every run listed as not ended (what start-up does). */
  scan(): Promise<void>;
  /** Stop listening and polling; waits for runs in progress. Idempotent. */
  close(): Promise<void>;
}

const endEvents = new Set(['task-decided', 'task-timed-out', 'task-canceled']);
const maxRounds = 100;
const endedMemo = 1_000;
/** Interrupt entries are read again from this far back: processes' clocks differ a little. */
const clockSlackMs = 5_000;

/** A thread's latest checkpoint and the interrupts still waiting on it. */
interface Waiting {
  checkpointId: string | undefined;
  interrupts: Array<{ id: string; value: unknown }>;
  /**
   * The run stopped inside the checkpoint's step, waiting on nothing: a task of the step wrote its
   * output or an error, and no interrupt is pending. The next checkpoint was never written (the store
   * failed, the process died) or a node threw: the run is continued from here.
   */
  stopped: boolean;
}

interface Slot {
  running?: Promise<Waiting | undefined>;
  queued?: Promise<Waiting | undefined>;
}

/** Writes that say what happened to a task rather than being its output (LangGraph's own split). */
const controlChannels = new Set(['__error__', '__error_source_node__', INTERRUPT, '__resume__']);
/**
 * Threads with a run in progress, started by a resumer (member: the thread id; score: when the run
 * started). An entry outlives a run that never ended — the process died, or a resumed run failed —
 * so a resumer finds the thread at start-up or at a rescan and continues its run.
 */
const runningIndex = 'langgraph:running';
const runningPage = 500;
/** The task id of writes made outside a task (`updateState`); they say nothing of a run. */
const nullTaskId = '00000000-0000-0000-0000-000000000000';

interface Answer {
  value: unknown;
  taskIds: string[];
}

function durationOption(value: Duration | undefined, fallback: number, field: string): number {
  return value === undefined ? fallback : parseDuration(value, `startResumer.${field}`);
}

/** The idempotency key of the `index`-th task asked for an interrupt the graph raised itself. */
function interruptTaskKey(threadId: string, interruptId: string, index: number): string {
  // Hashed like a gate's key: a thread id of any length makes a key within the engine's limits.
  const digest = createHash('sha256')
    .update(JSON.stringify([threadId, interruptId, index]))
    .digest('base64url');
  return `langgraph:${digest}`;
}

class GraphResumer implements Resumer {
  readonly #engine: GateEngine;
  readonly #graph: ResumableGraph;
  readonly #checkpointer: BaseCheckpointSaver;
  readonly #store: StoreBackend;
  readonly #saver: HoldpointSaver | undefined;
  readonly #options: ResumerOptions;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #rescanMs: number;
  readonly #concurrency: number;
  readonly #owner = randomUUID();
  readonly #slots = new Map<string, Slot>();
  readonly #retry = new Set<string>();
  /** Ended tasks whose thread could not be found yet (the task could not be read): tried again by the poll. */
  readonly #endedRetry = new Set<string>();
  /**
   * What failed and is tried again (`thread:<id>`, `task:<id>`): failures in a row, and when the
   * poll may try again.
   */
  readonly #failing = new Map<string, { failures: number; at: number }>();
  readonly #seen = new Map<string, number>();
  /** Tasks seen ended in events (an ended task never changes), so a resume reads them once. */
  readonly #ended = new Map<string, HumanTask>();
  /**
   * Threads whose run may not have ended: their entry in the running index (by its score) as a scan
   * found it or a failed run of this process left it. Checked again under the thread's lease.
   */
  readonly #owed = new Map<string, number>();
  readonly #onError: (error: unknown) => void;
  #active = 0;
  readonly #queue: Array<() => void> = [];
  #watermark = 0;
  #unsubscribe: (() => void) | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(options: ResumerOptions) {
    this.#options = options;
    this.#engine = options.holdpoint;
    this.#graph = options.graph;
    const checkpointer = options.graph.checkpointer;
    if (!(checkpointer instanceof BaseCheckpointSaver)) {
      throw new ValidationError({
        field: 'startResumer.graph',
        message: 'startResumer: the graph has no checkpointer of its own; compile it with { checkpointer }.',
      });
    }
    this.#checkpointer = checkpointer;
    this.#saver = checkpointer instanceof HoldpointSaver ? checkpointer : undefined;
    const store = options.store ?? this.#saver?.store;
    if (store === undefined) {
      throw new ValidationError({
        field: 'startResumer.store',
        message:
          'startResumer: give store (the engine’s StoreBackend, for leases), or compile the graph with a HoldpointSaver on it.',
      });
    }
    if (this.#saver === undefined && options.threads === undefined) {
      throw new ValidationError({
        field: 'startResumer.threads',
        message:
          'startResumer: with a checkpointer other than HoldpointSaver, give threads: () => the thread ids to look at on start-up (decisions taken while no resumer ran are found there).',
      });
    }
    this.#store = store;
    this.#leaseMs = durationOption(options.lease, 600_000, 'lease');
    this.#pollMs = durationOption(options.pollInterval, 1_000, 'pollInterval');
    this.#rescanMs = durationOption(options.rescanInterval, 300_000, 'rescanInterval');
    this.#concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new ValidationError({
        field: 'startResumer.concurrency',
        message: 'startResumer.concurrency must be a whole number ≥ 1',
      });
    }
    this.#onError = options.onError ?? ((error) => console.error('[holdpoint/langgraph]', error));
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#engine.subscribe((event) => this.#onEvent(event));
    this.#watermark = Date.now();
    await this.scan();
    this.#pollTimer = setInterval(() => {
      this.#polling ??= this.#poll().finally(() => {
        this.#polling = undefined;
      });
    }, this.#pollMs);
    this.#rescanTimer = setInterval(() => void this.scan().catch(this.#onError), this.#rescanMs);
  }

  async invoke(input: unknown, config: LangGraphRunnableConfig): Promise<unknown> {
    const threadId = config?.configurable?.thread_id as string | undefined;
    if (typeof threadId !== 'string' || threadId === '') {
      throw new ValidationError({
        field: 'invoke.config',
        message: 'resumer.invoke: give the thread: { configurable: { thread_id } }',
      });
    }
    const lease = `langgraph:lease:${threadId}`;
    const token = `${this.#owner}:${randomUUID()}`;
    const giveUp = Date.now() + this.#leaseMs + 1_000;
    for (
      let pause = 10;
      !(await this.#store.claim(lease, token, this.#leaseMs));
      pause = Math.min(pause * 2, 500)
    ) {
      if (this.#closed || Date.now() > giveUp) {
        throw new Error(`resumer.invoke: thread ${threadId} stayed held by another process`);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
    const leaseTaken = Date.now();
    let output: unknown;
    let listed = false;
    try {
      await this.#listRunning(threadId);
      listed = true;
      output = await this.#run(input, { ...config, context: { holdpoint: this.#engine, ...config.context } });
    } finally {
      // The caller has the run's end, output or error, and decides what follows. Only a process
      // that dies mid-run leaves its entry, for a resumer to continue the run.
      if (listed) await this.#untilDone(() => this.#store.indexRemove(runningIndex, [threadId]), leaseTaken);
      await this.#untilDone(() => this.#store.releaseClaim(lease, token), leaseTaken);
    }
    // A gate answered while the run held the thread was put aside to try again (see #drive), and an
    // interrupt of an ended task is found by the poll: nothing to look at here.
    return output;
  }

  async check(threadId: string): Promise<void> {
    await this.#schedule(threadId, true);
  }

  async scan(): Promise<void> {
    // Runs that never ended (see runningIndex): continued once their lease is free.
    const unfinished: Array<Promise<void>> = [];
    for await (const entry of this.#running()) {
      this.#owed.set(entry.member, entry.score);
      unfinished.push(this.#visit(entry.member, []));
    }
    await Promise.all(unfinished);
    if (this.#saver) {
      const byThread = new Map<string, string[]>();
      for await (const entry of this.#saver.interruptedThreads()) {
        byThread.set(entry.threadId, [...(byThread.get(entry.threadId) ?? []), entry.checkpointId]);
      }
      await Promise.all([...byThread].map(([threadId, checkpoints]) => this.#visit(threadId, checkpoints)));
      return;
    }
    const threads = this.#options.threads?.() ?? [];
    const visits: Array<Promise<void>> = [];
    for await (const threadId of threads) visits.push(this.#visit(threadId, []));
    await Promise.all(visits);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    clearInterval(this.#pollTimer);
    clearInterval(this.#rescanTimer);
    await this.#polling;
    await Promise.all([...this.#slots.values()].map((slot) => slot.queued ?? slot.running));
  }

  /** Look at a thread, then drop its entries in the saver's interrupt index that are answered or superseded. */
  async #visit(threadId: string, checkpoints: string[]): Promise<void> {
    try {
      // A thread another process holds is tried again: that process may have died holding it.
      const waiting = await this.#schedule(threadId, true);
      if (waiting === undefined || this.#saver === undefined) return;
      for (const checkpointId of checkpoints) {
        if (checkpointId !== waiting.checkpointId || waiting.interrupts.length === 0) {
          await this.#saver.forgetInterrupt(threadId, checkpointId);
        }
      }
    } catch (error) {
      this.#onError(error);
    }
  }

  #onEvent(event: AuditEvent): void {
    if (this.#closed || !endEvents.has(event.type) || event.taskId === undefined) return;
    void this.#taskEnded(event.taskId);
  }

  /** A task ended: resume its thread. If its task cannot be read now, the poll tries again. */
  async #taskEnded(taskId: string): Promise<void> {
    let task: HumanTask;
    try {
      task = await this.#engine.getTask(taskId);
      this.#failing.delete(`task:${taskId}`);
    } catch (error) {
      this.#failed(`task:${taskId}`, error, this.#endedRetry, taskId);
      return;
    }
    const origin = originOf(task);
    if (origin === undefined) return;
    if (humanResultOf(task) !== undefined) {
      this.#ended.set(taskId, task);
      // A bounded memo: the oldest entries go first.
      for (const key of this.#ended.keys()) {
        if (this.#ended.size <= endedMemo) break;
        this.#ended.delete(key);
      }
    }
    await this.#schedule(origin.threadId, true).catch(this.#onError);
  }

  /** New interrupts in the saver's index, and threads another process held when we wanted them. */
  async #poll(): Promise<void> {
    const now = Date.now();
    const due = (key: string) => (this.#failing.get(key)?.at ?? 0) <= now;
    const retry = [...this.#retry].filter((threadId) => due(`thread:${threadId}`));
    for (const threadId of retry) this.#retry.delete(threadId);
    const ended = [...this.#endedRetry].filter((taskId) => due(`task:${taskId}`));
    for (const taskId of ended) this.#endedRetry.delete(taskId);
    const visits: Array<Promise<unknown>> = [
      ...retry.map((threadId) => this.#schedule(threadId, true)),
      ...ended.map((taskId) => this.#taskEnded(taskId)),
    ];
    if (this.#saver) {
      const since = this.#watermark - clockSlackMs;
      let newest = this.#watermark;
      try {
        for await (const entry of this.#saver.interruptedThreads({ since })) {
          const member = `${entry.threadId}\n${entry.checkpointId}`;
          newest = Math.max(newest, entry.at);
          if (this.#seen.get(member) === entry.at) continue;
          this.#seen.set(member, entry.at);
          visits.push(this.#visit(entry.threadId, [entry.checkpointId]));
        }
      } catch (error) {
        this.#onError(error);
      }
      this.#watermark = newest;
      for (const [member, at] of this.#seen) if (at < since) this.#seen.delete(member);
    }
    await Promise.all(visits.map((visit) => visit.catch(this.#onError)));
  }

  /** Run one look at a thread after the one in progress (at most one waits; later callers share it). */
  #schedule(threadId: string, retry: boolean): Promise<Waiting | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    let slot = this.#slots.get(threadId);
    if (slot === undefined) {
      slot = {};
      this.#slots.set(threadId, slot);
    }
    const current = slot;
    if (current.queued) return current.queued;
    const previous = current.running ?? Promise.resolve(undefined);
    const queued = previous
      .catch(() => undefined)
      .then(() => {
        current.queued = undefined;
        const run = this.#limited(() => this.#drive(threadId, retry));
        current.running = run;
        return run.finally(() => {
          if (current.running === run) current.running = undefined;
          if (current.running === undefined && current.queued === undefined) this.#slots.delete(threadId);
        });
      });
    current.queued = queued;
    return queued;
  }

  async #limited<T>(work: () => Promise<T>): Promise<T> {
    while (this.#active >= this.#concurrency) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#active++;
    try {
      return await work();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
    }
  }

  /**
   * Read the thread's pending interrupts; when some have ended tasks, take the thread's lease, read
   * again, resume those (by interrupt id, all at once), and again while a resumed run stops at an
   * answered interrupt. Without the lease (another process resumes the thread), try again later
   * when `retry`.
   * @returns what the thread waits for after that, or undefined when the lease was not ours.
   */
  async #drive(threadId: string, retry: boolean): Promise<Waiting | undefined> {
    if (this.#closed) return undefined;
    // A look that finds nothing to resume holds nothing: a process that dies while it looks leaves
    // the thread free. Only a resume takes the lease, and reads the thread again under it.
    try {
      const first = await this.#waiting(threadId);
      if (!first.stopped && !this.#owed.has(threadId) && (await this.#answers(threadId, first)).size === 0) {
        this.#failing.delete(`thread:${threadId}`);
        return first;
      }
    } catch (error) {
      this.#failed(`thread:${threadId}`, error, this.#retry, threadId);
      return undefined;
    }
    const lease = `langgraph:lease:${threadId}`;
    const token = `${this.#owner}:${randomUUID()}`;
    let won = false;
    const leaseTaken = Date.now();
    try {
      won = await this.#store.claim(lease, token, this.#leaseMs);
    } catch (error) {
      this.#onError(error);
    }
    if (!won) {
      if (retry) this.#retry.add(threadId);
      return undefined;
    }
    const resumed: ResumeEvent[] = [];
    // The resume of the run in progress, told once the run stops at a gate or ends.
    let attempt: ResumeEvent | undefined;
    // The thread's entry in the running index, once this lease has one (see runningIndex).
    let runningAt: number | undefined;
    try {
      // A run a scan found listed, or one of this process that failed, ended only if its entry is
      // gone (its process removed it under the lease, which is now ours).
      const owedAt = this.#owed.get(threadId);
      this.#owed.delete(threadId);
      if (owedAt !== undefined && (await this.#isListedRunning(threadId, owedAt))) runningAt = owedAt;
      for (let round = 0; ; round++) {
        const waiting = await this.#waiting(threadId);
        const answers = await this.#answers(threadId, waiting);
        // A run that stopped mid-step is continued from its checkpoint (LangGraph keeps the writes
        // of the step's finished tasks and runs the others again): one whose checkpoint shows it, or
        // one still listed as running while no interrupt waits (a node that failed before it wrote).
        // A thread without checkpoints (deleted) has nothing to continue: its entry is dropped.
        const unfinished =
          waiting.checkpointId !== undefined &&
          waiting.interrupts.length === 0 &&
          (waiting.stopped || (round === 0 && runningAt !== undefined));
        if (answers.size === 0 && !unfinished) {
          await this.#unlistRunning(threadId, runningAt);
          this.#failing.delete(`thread:${threadId}`);
          return waiting;
        }
        if (round >= maxRounds) {
          throw new Error(`Thread ${threadId} was resumed ${maxRounds} times in a row; stopping here.`);
        }
        runningAt ??= await this.#listRunning(threadId);
        attempt =
          answers.size === 0
            ? undefined
            : {
                threadId,
                interrupts: [...answers].map(([interruptId, { taskIds }]) => ({ interruptId, taskIds })),
              };
        const resume = Object.fromEntries([...answers].map(([id, answer]) => [id, answer.value]));
        const output = await this.#run(attempt ? new Command({ resume }) : null, this.#runConfig(threadId));
        if (attempt) resumed.push(attempt);
        attempt = undefined;
        // A run that ended without stopping at an interrupt leaves nothing to answer.
        if (((output as { __interrupt__?: unknown[] } | undefined)?.__interrupt__ ?? []).length === 0) {
          await this.#unlistRunning(threadId, runningAt);
          this.#failing.delete(`thread:${threadId}`);
          return { checkpointId: undefined, interrupts: [], stopped: false };
        }
      }
    } catch (error) {
      // The run is owed: the poll tries again, and continues it while its entry stays listed.
      if (runningAt !== undefined) this.#owed.set(threadId, runningAt);
      // A resumed run that failed after its gates' nodes finished did resume them: told now, as
      // what continues the run has no answer to give. Gates still pending are resumed (and told) again.
      if (attempt) await this.#resumedBefore(attempt, resumed, leaseTaken);
      this.#failed(`thread:${threadId}`, error, this.#retry, threadId);
      return undefined;
    } finally {
      await this.#untilDone(() => this.#store.releaseClaim(lease, token), leaseTaken);
      // Told once the thread is free again: a process that stops after this holds nothing.
      for (const event of resumed) this.#options.onResume?.(event);
    }
  }

  /**
   * The part of a failed run's resume that went through (its interrupts no longer wait), added to
   * `resumed`. Read while the lease is still this process's, so that no other process can have
   * resumed them since; a store that fails again is read again, for up to half the lease. Not known
   * then: not told (better than told twice).
   */
  async #resumedBefore(attempt: ResumeEvent, resumed: ResumeEvent[], leaseTaken: number): Promise<void> {
    const waiting = await this.#retrying(
      () => this.#waiting(attempt.threadId),
      leaseTaken + this.#leaseMs / 2,
    );
    if (waiting === undefined) return;
    const pending = new Set(waiting.interrupts.map((item) => item.id));
    const done = attempt.interrupts.filter((item) => !pending.has(item.interruptId));
    if (done.length > 0) resumed.push({ threadId: attempt.threadId, interrupts: done });
  }

  /**
   * A write that must not be left undone while the thread's lease is held (its release, the running
   * entry's removal): a lease left held would keep every process off the thread until it lapses.
   */
  async #untilDone(write: () => Promise<void>, leaseTaken: number): Promise<void> {
    await this.#retrying(write, leaseTaken + this.#leaseMs);
  }

  /**
   * `work`, tried again after each failure (reported), backing off from the poll interval to 5 s,
   * until it succeeds, the resumer closes, or `until` (ms) would pass: then undefined.
   */
  async #retrying<T>(work: () => Promise<T>, until: number): Promise<T | undefined> {
    for (let pause = this.#pollMs; ; pause = Math.min(pause * 2, 5_000)) {
      try {
        return await work();
      } catch (error) {
        this.#onError(error);
        if (this.#closed || Date.now() + pause > until) return undefined;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  /** List the thread in the running index (before a run that holds its lease); returns the entry's score. */
  async #listRunning(threadId: string): Promise<number> {
    const at = Date.now();
    await this.#store.indexAdd(runningIndex, [{ member: threadId, score: at }]);
    return at;
  }

  /** Drop the thread's running entry, if this lease found or wrote one (the run ended). */
  async #unlistRunning(threadId: string, runningAt: number | undefined): Promise<void> {
    if (runningAt !== undefined) await this.#store.indexRemove(runningIndex, [threadId]);
  }

  /** Whether the running index still holds the thread's entry of that score. */
  async #isListedRunning(threadId: string, at: number): Promise<boolean> {
    for await (const entry of this.#running({ min: at, max: at })) if (entry.member === threadId) return true;
    return false;
  }

  /** The entries of the running index (within a score range), page by page. */
  async *#running(range: { min?: number; max?: number } = {}): AsyncGenerator<IndexEntry> {
    for (let after: IndexEntry | undefined; ; ) {
      const page = await this.#store.indexRange(runningIndex, {
        ...range,
        limit: runningPage,
        ...(after && { after }),
      });
      yield* page;
      if (page.length < runningPage) return;
      after = page.at(-1);
    }
  }

  /**
   * A look, a resume or the read of an ended task that failed is reported and tried again by the
   * poll — after one interval, then twice as long each time it fails again, up to the rescan
   * interval — instead of waiting for the rescan: a store that was away or slow for a moment must
   * not leave a decided gate unresumed for minutes. Only a refusal that cannot pass (a Holdpoint
   * error that is not retryable) is left to the next decision or the rescan.
   */
  #failed(key: string, error: unknown, retry: Set<string>, id: string): void {
    this.#onError(error);
    if (this.#closed || (HoldpointError.isInstance(error) && !error.retryable)) return;
    const failures = (this.#failing.get(key)?.failures ?? 0) + 1;
    const delay = Math.min(this.#pollMs * 2 ** (failures - 1), this.#rescanMs);
    this.#failing.set(key, { failures, at: Date.now() + delay });
    retry.add(id);
  }

  /**
   * The interrupts of the thread's latest checkpoint whose tasks have not finished (a task that was
   * resumed and finished keeps its interrupt write; its output writes say it is done).
   */
  async #waiting(threadId: string): Promise<Waiting> {
    const tuple = await this.#checkpointer.getTuple({ configurable: { thread_id: threadId } });
    const writes = tuple?.pendingWrites ?? [];
    const finished = new Set(
      writes.filter(([, channel]) => !controlChannels.has(channel)).map(([taskId]) => taskId),
    );
    const interrupts = writes
      .filter(([taskId, channel]) => channel === INTERRUPT && !finished.has(taskId))
      .flatMap(
        ([, , value]) => (Array.isArray(value) ? value : [value]) as Array<{ id?: string; value: unknown }>,
      )
      .filter((item): item is { id: string; value: unknown } => typeof item?.id === 'string');
    const stopped =
      interrupts.length === 0 &&
      writes.some(
        ([taskId, channel]) =>
          taskId !== nullTaskId && (channel === '__error__' || !controlChannels.has(channel)),
      );
    return { checkpointId: tuple?.checkpoint.id, interrupts, stopped };
  }

  /** The resume value of each pending interrupt whose tasks have all ended. */
  async #answers(threadId: string, waiting: Waiting): Promise<Map<string, Answer>> {
    const answers = new Map<string, Answer>();
    for (const { id, value } of waiting.interrupts) {
      if (answers.has(id)) continue;
      if (isHumanTaskInterrupt(value)) {
        const taskId = value.holdpoint.taskId;
        try {
          const result = humanResultOf(this.#ended.get(taskId) ?? (await this.#engine.getTask(taskId)));
          if (result !== undefined) answers.set(id, { value: result, taskIds: [taskId] });
        } catch (error) {
          if (!NotFoundError.isInstance(error)) throw error;
          this.#onError(error);
        }
        continue;
      }
      for (const mapping of this.#options.interrupts ?? []) {
        const requests = mapping.tasks(value, { threadId, interruptId: id });
        if (requests === undefined) continue;
        // One by one, so the tasks are created (and notified) in the order of the interrupt's requests.
        const tasks: HumanTask[] = [];
        for (const [index, request] of requests.entries()) {
          tasks.push(
            await this.#engine.requestHuman({
              ...request,
              idempotencyKey: interruptTaskKey(threadId, id, index),
              metadata: { ...request.metadata, langgraph: { threadId, interruptId: id, index } },
            }),
          );
        }
        const results = tasks.map(humanResultOf);
        if (results.every((result): result is HumanResult => result !== undefined)) {
          answers.set(id, { value: mapping.resume(results, value), taskIds: tasks.map((task) => task.id) });
        }
        break;
      }
    }
    return answers;
  }

  /**
   * Run the graph as a run of its own. A decision taken inside another graph's node (a person
   * scripted in-process, a tool) reaches the resumer in that node's async context; LangGraph would
   * take the node's config as the parent of this run and treat it as a subgraph.
   */
  #run(input: unknown, config: LangGraphRunnableConfig): Promise<unknown> {
    // Each step's checkpoint is written before the next step runs (LangGraph's default writes it
    // while the next step runs): a gate is asked only once the checkpoint it runs from is stored.
    // Otherwise a store failure or a crash could lose that checkpoint after the gate asked its task;
    // the run continued from the step before would ask again, under a new key (see #drive).
    const given = config as { durability?: unknown; checkpointDuring?: unknown };
    const durable =
      given.durability === undefined && given.checkpointDuring === undefined
        ? { ...config, durability: 'sync' }
        : config;
    return AsyncLocalStorageProviderSingleton.getInstance().run(undefined, () =>
      this.#graph.invoke(input, durable),
    );
  }

  #runConfig(threadId: string): LangGraphRunnableConfig {
    const extra = this.#options.config?.(threadId) ?? {};
    return {
      ...extra,
      configurable: { ...extra.configurable, thread_id: threadId },
      context: { holdpoint: this.#engine, ...extra.context },
    };
  }
}

/**
 * Resume a graph's threads when their humans act. It listens to the engine's events: when a task
 * asked by {@link waitForHuman} or {@link humanGate} ends (a decision, a timeout policy, a
 * cancellation), it resumes that task's thread with `Command({ resume: { [interruptId]: result } })`
 * — by interrupt id, so two gates waiting at once are each answered by their own task. On start-up
 * it looks at every interrupted thread, so decisions taken while no resumer ran are caught up.
 *
 * Several processes may run resumers on one store: a thread is resumed under a lease on the store
 * (a first-writer-wins claim), so each decision resumes its thread once; a process that finds the
 * thread held tries again shortly, and sees the answered interrupt gone.
 *
 * @example
 * const resumer = await startResumer({ holdpoint: hp, graph });
 * // … on shutdown
 * await resumer.close();
 */
export async function startResumer(options: ResumerOptions): Promise<Resumer> {
  if (typeof options !== 'object' || options === null || options.holdpoint === undefined || !options.graph) {
    throw new ValidationError({
      field: 'startResumer',
      message: 'startResumer: give { holdpoint: hp, graph } (the engine and the compiled graph)',
    });
  }
  const resumer = new GraphResumer(options);
  await resumer.start();
  return resumer;
}
