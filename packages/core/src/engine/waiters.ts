import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import type { HumanResult, HumanTask } from '../model.js';
import type { IntentState } from './intent-state.js';
import { resultOf } from './task-rules.js';
import { yieldIfLong } from './yield.js';

interface Waiter {
  resolve: (result: HumanResult) => void;
  reject: (error: unknown) => void;
}

/** Intents whose heads one read of the safety-net poll looks at (one round trip per batch). */
const pollBatch = 500;
/** Changed intents the poll re-reads at once. */
const loadConcurrency = 8;

/** Settings of the waiters. */
export interface WaitersOptions {
  /** The safety-net poll, in ms: waited tasks are re-read this often in case a wake-up was lost. */
  pollIntervalMs: number;
  /** Read the intent's current state, holding these tasks (the waiters settle from it). */
  load(intentId: string, tasks: readonly string[]): Promise<IntentState>;
  /**
   * Which of these intents have an event after `seq` — one round trip for the whole batch. The poll
   * re-reads only those.
   */
  changed(heads: ReadonlyArray<{ intentId: string; seq: number }>): Promise<string[]>;
  /**
   * Whether a change of this intent is being recorded and handed to the delivery hook right now: its
   * waiters are settled after the hook returned (by the engine, with {@link Waiters.check}), not before.
   */
  delivering(intentId: string): boolean;
  onError: (error: unknown) => void;
}

/**
 * The agents waiting in `waitForHuman`, by task. They are settled from any fresh state of their
 * intent — after an append here, a wake-up from another engine, or the slow poll that is the safety
 * net under the wake-ups (and keeps a waiting agent's process alive).
 */
export class Waiters {
  readonly #options: WaitersOptions;
  readonly #byTask = new Map<string, Set<Waiter>>();
  /** The tasks of each intent waited for here. */
  readonly #tasksOfIntent = new Map<string, Set<string>>();
  /** The last `seq` seen of each intent someone waits on: the poll asks only whether it moved on. */
  readonly #seen = new Map<string, number>();
  #pollTimer: NodeJS.Timeout | undefined;
  /** The poll round in progress: a round never starts while the last one runs. */
  #polling: Promise<void> | undefined;
  #stopped = false;
  /** Reads in progress (checks and poll rounds), which close() waits for. */
  readonly #reading = new Set<Promise<void>>();

  constructor(options: WaitersOptions) {
    this.#options = options;
  }

  /** Whether someone waits for this task here. */
  has(taskId: string): boolean {
    return this.#byTask.has(taskId);
  }

  /**
   * Wait for a task to end: resolves with its result, or rejects when `signal` aborts. The task may
   * have changed since it was read, so its intent is re-read once the waiter is registered — unless
   * the caller knows `task` is current: `currentAt`, the intent's `seq` it is current at (no change
   * since can have been missed).
   */
  wait(task: HumanTask, signal: AbortSignal | undefined, currentAt?: number): Promise<HumanResult> {
    const done = resultOf(task);
    // While the event that ended the task is being delivered, this waiter is settled after it.
    if (done && !this.#options.delivering(task.intentId)) return Promise.resolve(done);
    signal?.throwIfAborted();
    return new Promise<HumanResult>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (result) => {
          cleanup();
          resolve(result);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const onAbort = () => waiter.reject(signal?.reason);
      const cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        const set = this.#byTask.get(task.id);
        set?.delete(waiter);
        if (set?.size === 0) {
          this.#byTask.delete(task.id);
          const left = this.#tasksOfIntent.get(task.intentId);
          left?.delete(task.id);
          if (left?.size === 0) {
            this.#tasksOfIntent.delete(task.intentId);
            this.#seen.delete(task.intentId);
          }
        }
        if (this.#byTask.size === 0) {
          clearTimeout(this.#pollTimer);
          this.#pollTimer = undefined;
          this.#seen.clear();
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.#byTask.get(task.id);
      if (!set) {
        set = new Set();
        this.#byTask.set(task.id, set);
        const ofIntent = this.#tasksOfIntent.get(task.intentId) ?? new Set<string>();
        ofIntent.add(task.id);
        this.#tasksOfIntent.set(task.intentId, ofIntent);
      }
      set.add(waiter);
      this.#armPoll();
      // The decision may have landed between reading the task and registering the waiter.
      if (currentAt === undefined) void this.check(task.intentId);
      // The poll skips it until it moves on — when it is the intent's only task waited for here (the
      // others' `seq` is the last settle's).
      else if (this.#tasksOfIntent.get(task.intentId)?.size === 1) this.#seen.set(task.intentId, currentAt);
    });
  }

  /** Whether someone waits here for a task of this intent. */
  hasIntent(intentId: string): boolean {
    return this.#tasksOfIntent.has(intentId);
  }

  /**
   * Resolve the waiters of every task of this state that has ended — unless a change of the intent is
   * being delivered: an agent resumed by an event finds the hook already called for it.
   */
  settle(state: IntentState, recheck = true): void {
    const intentId = state.intent.id;
    if (this.#options.delivering(intentId)) return;
    let unheld = false;
    for (const taskId of [...(this.#tasksOfIntent.get(intentId) ?? [])]) {
      const waiters = this.#byTask.get(taskId);
      const task = state.tasks[taskId];
      if (!waiters) continue;
      if (!task) {
        // A state that does not hold the task says nothing about it (another task's event).
        unheld = true;
        continue;
      }
      const result = resultOf(task);
      if (!result) continue;
      for (const waiter of [...waiters]) waiter.resolve(structuredClone(result));
    }
    // The poll skips an intent whose `seq` it saw: only once every waited task was looked at.
    const seen = this.#seen.get(intentId);
    if (!unheld && this.#tasksOfIntent.has(intentId) && (seen === undefined || seen < state.intent.seq))
      this.#seen.set(intentId, state.intent.seq);
    if (unheld && recheck && !this.#stopped) void this.check(intentId);
  }

  /** Re-read an intent with waiters and settle them. */
  check(intentId: string): Promise<void> {
    return this.#read(async () => {
      try {
        // Read holding every waited task, so there is nothing left to re-check.
        this.settle(
          await this.#options.load(intentId, [...(this.#tasksOfIntent.get(intentId) ?? [])]),
          false,
        );
      } catch (error) {
        // A store that is down now is retried by the next poll.
        if (!StoreUnavailableError.isInstance(error)) this.#options.onError(error);
      }
    });
  }

  /** Wait for the reads in progress (the engine closes; call after {@link rejectAll}). */
  async close(): Promise<void> {
    this.#stopped = true;
    while (this.#reading.size > 0 || this.#polling) {
      await Promise.all([...this.#reading, this.#polling]);
    }
  }

  #read(work: () => Promise<void>): Promise<void> {
    const reading = work();
    this.#reading.add(reading);
    void reading.then(() => this.#reading.delete(reading));
    return reading;
  }

  /** Reject every waiter (the engine closes). */
  rejectAll(error: () => unknown): void {
    this.#stopped = true;
    for (const waiters of [...this.#byTask.values()]) {
      for (const waiter of [...waiters]) waiter.reject(error());
    }
    this.#byTask.clear();
    this.#tasksOfIntent.clear();
    this.#seen.clear();
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /**
   * The slow poll is the safety net under the store's wake-ups; its timer also keeps the process
   * alive while an agent waits. The next round is armed when the last one ends, so rounds never
   * overlap however long one takes.
   */
  #armPoll(): void {
    if (this.#pollTimer !== undefined || this.#polling !== undefined || this.#stopped) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#polling = this.#poll().finally(() => {
        this.#polling = undefined;
        if (this.#byTask.size > 0) this.#armPoll();
      });
    }, this.#options.pollIntervalMs);
  }

  /**
   * One round: ask in batches which waited intents moved past the `seq` last seen (one round trip per
   * {@link pollBatch} intents, yielding between batches), then re-read only those, a few at a time.
   */
  async #poll(): Promise<void> {
    const heads = [...this.#tasksOfIntent.keys()].map((intentId) => ({
      intentId,
      seq: this.#seen.get(intentId) ?? 0,
    }));
    const changed: string[] = [];
    for (let start = 0; start < heads.length && !this.#stopped; start += pollBatch) {
      try {
        changed.push(...(await this.#options.changed(heads.slice(start, start + pollBatch))));
      } catch (error) {
        // A store that is down now is tried again next round.
        if (!StoreUnavailableError.isInstance(error)) this.#options.onError(error);
        return;
      }
      await yieldIfLong();
    }
    const queue = changed.reverse();
    const worker = async () => {
      for (let intentId = queue.pop(); intentId !== undefined && !this.#stopped; intentId = queue.pop()) {
        await this.check(intentId);
        await yieldIfLong();
      }
    };
    await Promise.all(Array.from({ length: Math.min(loadConcurrency, queue.length) }, worker));
  }
}
