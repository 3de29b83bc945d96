import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import type { HumanResult, HumanTask } from '../model.js';
import { intentIdOfTask } from '../store/layout.js';
import type { IntentState } from './intent-state.js';
import { resultOf } from './task-rules.js';

interface Waiter {
  resolve: (result: HumanResult) => void;
  reject: (error: unknown) => void;
}

/** Settings of the waiters. */
export interface WaitersOptions {
  /** The safety-net poll, in ms: waited tasks are re-read this often in case a wake-up was lost. */
  pollIntervalMs: number;
  /** Read the intent's current state (the waiters settle from it). */
  load(intentId: string): Promise<IntentState>;
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
  #pollTimer: NodeJS.Timeout | undefined;
  /** Reads in progress (checks and poll rounds), which close() waits for. */
  readonly #reading = new Set<Promise<void>>();

  constructor(options: WaitersOptions) {
    this.#options = options;
  }

  /** Whether someone waits for this task here. */
  has(taskId: string): boolean {
    return this.#byTask.has(taskId);
  }

  /** Wait for a task to end: resolves with its result, or rejects when `signal` aborts. */
  wait(task: HumanTask, signal: AbortSignal | undefined): Promise<HumanResult> {
    const done = resultOf(task);
    if (done) return Promise.resolve(done);
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
        if (set?.size === 0) this.#byTask.delete(task.id);
        if (this.#byTask.size === 0) {
          clearInterval(this.#pollTimer);
          this.#pollTimer = undefined;
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.#byTask.get(task.id);
      if (!set) {
        set = new Set();
        this.#byTask.set(task.id, set);
      }
      set.add(waiter);
      // The slow poll is the safety net under the store's wake-ups; it also keeps the process alive
      // while an agent waits.
      this.#pollTimer ??= setInterval(() => void this.#poll(), this.#options.pollIntervalMs);
      // The decision may have landed between reading the task and registering the waiter.
      void this.check(task.intentId);
    });
  }

  /** Resolve the waiters of every task of this state that has ended. */
  settle(state: IntentState): void {
    for (const taskId of state.intent.taskIds) {
      const waiters = this.#byTask.get(taskId);
      if (!waiters) continue;
      const result = resultOf(state.tasks[taskId] as HumanTask);
      if (!result) continue;
      for (const waiter of [...waiters]) waiter.resolve(structuredClone(result));
    }
  }

  /** Re-read an intent with waiters and settle them. */
  check(intentId: string): Promise<void> {
    return this.#read(async () => {
      try {
        this.settle(await this.#options.load(intentId));
      } catch (error) {
        // A store that is down now is retried by the next poll.
        if (!StoreUnavailableError.isInstance(error)) this.#options.onError(error);
      }
    });
  }

  /** Wait for the reads in progress (the engine closes; call after {@link rejectAll}). */
  async close(): Promise<void> {
    while (this.#reading.size > 0) await Promise.all([...this.#reading]);
  }

  #read(work: () => Promise<void>): Promise<void> {
    const reading = work();
    this.#reading.add(reading);
    void reading.then(() => this.#reading.delete(reading));
    return reading;
  }

  /** Reject every waiter (the engine closes). */
  rejectAll(error: () => unknown): void {
    for (const waiters of [...this.#byTask.values()]) {
      for (const waiter of [...waiters]) waiter.reject(error());
    }
    this.#byTask.clear();
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  async #poll(): Promise<void> {
    const intents = new Set([...this.#byTask.keys()].map((taskId) => intentIdOfTask(taskId) as string));
    await Promise.all([...intents].map((intentId) => this.check(intentId)));
  }
}
