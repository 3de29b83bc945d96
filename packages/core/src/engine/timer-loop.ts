import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { layout } from '../store/layout.js';
import type { StoreBackend } from '../store/store-backend.js';
import { yieldIfLong } from './yield.js';

/** How long an engine holds a timer while firing it before another engine may take it over. */
const timerLeaseMs = 10_000;
/** Due timers read at a time. */
const duePage = 100;
/**
 * Reads of due timers one round makes at most: a round always ends, even if the store kept handing
 * back timers it says were removed; the next round is planned as usual.
 */
const readsPerRound = 200;
/**
 * Tasks whose timers fire at once within one engine: a firing mostly waits for the store, and the
 * more wait at once, the more a store records in one commit (SQLite's grouped commits, PostgreSQL's
 * grouped appends). 32 rather than 8 fired a backlog 1.3× (SQLite), 1.5× (Redis) and 1.3×
 * (PostgreSQL) as fast (`bench/timer-backlog.ts`).
 */
const fireConcurrency = 32;
/**
 * How long after the last wake-up from another engine timers keep firing under leases. Every engine
 * that records events publishes a wake-up with each; one heard from within a minute may be firing
 * the same timers.
 */
const sharedForMs = 60_000;
/**
 * While a round waits for slow firings and found nothing else due, it reads the due timers again
 * this often (timers that fell due meanwhile; one this engine schedules rouses it at once).
 */
const idleLookMs = 50;
/** A timer still due after a round is leased by another engine (or failed): look again after this. */
const leaseRetryMs = 250;
// Node runs a longer setTimeout at once (after 1 ms); a far timer is re-armed when this one fires.
const maxTimerDelayMs = 2_147_483_647;

/** The lease a timer is fired under: its claim key and this engine's value. */
export interface TimerLease {
  key: string;
  value: string;
}

/** What the timer loop asks of the engine. */
export interface TimerHost {
  /**
   * Fire one due timer (by its id in the `due` index and its due time); the loop holds its lease
   * meanwhile, if it took one (`lease`). `false` leaves it due, to be fired by a later round (its task
   * is not recorded yet); `'removed'` when the event it recorded took it out of the index and released
   * the lease (in the event's transaction); `true` when it is done and the loop removes it.
   */
  fire(timerId: string, due: number, lease?: TimerLease): Promise<boolean | 'removed'>;
  /** Work done at the end of each round, after the due timers (the delivery outbox). */
  afterRound(): Promise<void>;
}

/** Settings of the timer loop. */
export interface TimerLoopOptions {
  store: StoreBackend;
  /** Identifies this engine's leases. */
  engineId: string;
  now: () => number;
  /** The longest sleep between rounds, in ms (the safety net when a wake-up was missed). */
  pollIntervalMs: number;
  /** Whether this engine fires timers at all (`timers: false` engines only decide). */
  enabled: boolean;
  onError: (error: unknown) => void;
  host: TimerHost;
}

/** What the engine asks of its timer loop (see {@link TimerLoop}). */
export interface TimerScheduler {
  /** Start firing (the first round at once). */
  start(): void;
  /** Make sure a round runs at `at` (ms since the epoch) or sooner. */
  schedule(at: number): void;
  /** Another engine that fires timers was heard from: fire under leases for a while. */
  heardFromOther(): void;
  /** Stop; waits for a round in progress. */
  close(): Promise<void>;
}

/**
 * The durable timers' loop: reminders and deadlines are members of the store's `due` index, scored by
 * due time, so each round reads only what is due. The loop sleeps until the next due time (capped by
 * the poll interval), then fires the due page task by task, each timer under a short lease so that
 * engines on one store do not duplicate work; the chain keeps each firing exactly once regardless.
 */
export class TimerLoop implements TimerScheduler {
  readonly #options: TimerLoopOptions;
  #timer: NodeJS.Timeout | undefined;
  #at = Number.POSITIVE_INFINITY;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  /** When another engine was last heard from (`performance.now()`; see {@link heardFromOther}). */
  #heardOtherAt = Number.NEGATIVE_INFINITY;
  /** The time up to which the last round read due timers: what is still due by then was left. */
  #lookedUpTo = Number.NEGATIVE_INFINITY;
  /** Set while a round fires: tells it that a timer may have fallen due (it reads again). */
  #rouse: (() => void) | undefined;

  constructor(options: TimerLoopOptions) {
    this.#options = options;
  }

  /**
   * Start the first round now: timers that fell due while no engine ran fire at start-up — in the
   * background (the round yields to the event loop as it goes), so that start-up does not wait for a
   * backlog of any size.
   */
  start(): void {
    if (this.#options.enabled) void this.#round();
  }

  /** Make sure a round runs at `at` (ms since the epoch) or sooner. */
  schedule(at: number): void {
    if (this.#closed || !this.#options.enabled) return;
    const now = this.#options.now();
    const when = Math.min(at, now + this.#options.pollIntervalMs);
    if (this.#running) {
      if (when <= now) {
        this.#again = true;
        this.#rouse?.();
      } else if (when < this.#at) this.#arm(when, now);
      return;
    }
    if (when >= this.#at && this.#timer) return;
    this.#arm(when, now);
  }

  /**
   * A wake-up came from another engine on the store. For a minute after, timers fire under leases;
   * while no other engine is heard from they fire without: a lease only keeps engines from doing the
   * same work (two writes per firing), and the chain keeps each firing exactly once regardless.
   */
  heardFromOther(): void {
    this.#heardOtherAt = performance.now();
  }

  /** Stop; waits for a round in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  #arm(when: number, now: number): void {
    clearTimeout(this.#timer);
    this.#at = when;
    this.#timer = setTimeout(
      () => {
        this.#at = Number.POSITIVE_INFINITY;
        this.#timer = undefined;
        void this.#round();
      },
      Math.min(maxTimerDelayMs, Math.max(0, when - now)),
    );
    // Timers alone do not keep a process alive; a waiting agent does.
    this.#timer.unref();
  }

  /** Fire what is due, run the host's end-of-round work, then sleep until the next due time. */
  #round(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      this.#rouse?.();
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        if (this.#closed) return;
        try {
          await this.#fireDue();
          await this.#options.host.afterRound();
        } catch (error) {
          this.#options.onError(error);
        }
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#running = undefined;
      if (!this.#closed) void this.#planNext();
    });
    return this.#running;
  }

  async #planNext(): Promise<void> {
    const { store, now, pollIntervalMs } = this.#options;
    try {
      const [next] = await store.indexRange(layout.dueIndex, { limit: 1 });
      // A timer the last round saw due and left is leased by another engine (or waits for its task):
      // look again a little later. One that fell due after that read is fired at once.
      if (!next) this.schedule(now() + pollIntervalMs);
      else this.schedule(next.score <= this.#lookedUpTo ? now() + leaseRetryMs : next.score);
    } catch (error) {
      if (!StoreUnavailableError.isInstance(error)) this.#options.onError(error);
      this.schedule(now() + pollIntervalMs);
    }
  }

  /**
   * Fire the due timers: read a page of them, fire up to {@link fireConcurrency} tasks' timers at
   * once, and read the next page as soon as the queue runs dry — not once the page's slowest firing
   * has ended, which held every timer that fell due meanwhile (the lag's tail on PostgreSQL). When a
   * read finds nothing new while firings are in flight, the next read waits for one of them to end,
   * for a wake-up ({@link schedule}) or {@link idleLookMs}. A task's timers fire one after another in
   * due order, and one left (another engine's) holds back its task's later ones for the round. The
   * round ends when a read finds nothing new and nothing is firing, or after {@link readsPerRound}
   * reads.
   */
  async #fireDue(): Promise<void> {
    const { store, now } = this.#options;
    const queue: Array<Array<{ member: string; score: number }>> = [];
    /**
     * Tasks whose timers are queued or firing (one task's timers fire one after another), or that had
     * one left this round (another engine's, or failed): their later timers wait for the next round.
     */
    const busy = new Set<string>();
    /** Timers fired or left this round: a read may still show them (another engine holds them, or they wait for their task). */
    const passed = new Set<string>();
    let reads = 0;
    let firing = 0;
    let reading: Promise<void> | undefined;
    let failure: unknown;
    // Whether a read may find timers not queued yet: at first, after a read that found some, and
    // once a firing ends, a wake-up comes (schedule) or idleLookMs pass while firings are in flight.
    let lookAgain = true;
    let wake = signal();
    let wakeTimer: NodeJS.Timeout | undefined;
    const rouse = () => {
      lookAgain = true;
      clearTimeout(wakeTimer);
      wakeTimer = undefined;
      const woken = wake;
      wake = signal();
      woken.resolve();
    };
    this.#rouse = rouse;

    const read = async () => {
      reads++;
      lookAgain = false;
      const max = now();
      const due = await store.indexRange(layout.dueIndex, { max, limit: duePage });
      this.#lookedUpTo = max;
      const byTask = new Map<string, Array<{ member: string; score: number }>>();
      for (const entry of due) {
        if (passed.has(entry.member)) continue;
        const taskId = entry.member.slice(0, entry.member.indexOf('|'));
        const timers = byTask.get(taskId);
        if (timers) timers.push(entry);
        // A task whose timers are firing: its other timers wait for a read after them, in due order.
        else if (!busy.has(taskId)) byTask.set(taskId, [entry]);
      }
      for (const taskId of byTask.keys()) busy.add(taskId);
      // Engines reading the same page start at different places, so they spread over it instead of
      // queueing for the same leases.
      queue.push(...shuffled([...byTask.values()]));
      if (byTask.size > 0) lookAgain = true;
    };

    const fireTask = async (timers: Array<{ member: string; score: number }>) => {
      const first = timers[0]?.member ?? '';
      const taskId = first.slice(0, first.indexOf('|'));
      let left = false;
      firing++;
      try {
        for (const { member, score } of timers) {
          if (this.#closed) return;
          passed.add(member);
          try {
            // Leased by another engine (or left due): leave this task's later timers for after it, too.
            if (!(await this.#fireLeased(member, score))) {
              left = true;
              break;
            }
          } catch (error) {
            failure ??= error;
            left = true;
            break;
          } finally {
            // On a synchronous store (SQLite, memory) a firing never waits for I/O: without a
            // turn for the event loop between firings, a storm of due timers would hold it throughout.
            await yieldIfLong();
          }
        }
      } finally {
        firing--;
        if (!left) busy.delete(taskId);
        rouse();
      }
    };

    const worker = async () => {
      while (!this.#closed) {
        const timers = queue.pop();
        if (timers !== undefined) {
          await fireTask(timers);
          continue;
        }
        // After a failure the round fires what it has queued and reads no more.
        if (reading === undefined && lookAgain && failure === undefined && reads < readsPerRound) {
          reading = read().finally(() => {
            reading = undefined;
          });
        }
        if (reading !== undefined) {
          try {
            await reading;
          } catch (error) {
            failure ??= error;
          }
          continue;
        }
        // Nothing new was due: what is due is firing, fired or another engine's.
        if (firing === 0) return;
        if (wakeTimer === undefined) {
          wakeTimer = setTimeout(rouse, idleLookMs);
          wakeTimer.unref();
        }
        await wake.promise;
      }
    };
    try {
      await Promise.all(Array.from({ length: fireConcurrency }, worker));
    } finally {
      clearTimeout(wakeTimer);
      this.#rouse = undefined;
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Fire one due timer — under a lease when another engine may fire it too; false when another engine
   * holds the lease or it stays due.
   */
  async #fireLeased(timerId: string, due: number): Promise<boolean> {
    const { store, engineId } = this.#options;
    // A lease keeps several engines from doing the same work; the chain keeps it exactly once.
    if (performance.now() - this.#heardOtherAt >= sharedForMs)
      return (await this.#fire(timerId, due)) !== false;
    const lease: TimerLease = { key: layout.timerLease(timerId), value: engineId };
    if (!(await store.claim(lease.key, lease.value, timerLeaseMs))) return false;
    let fired: boolean | 'removed' = false;
    try {
      fired = await this.#fire(timerId, due, lease);
      return fired !== false;
    } finally {
      // Released by the timer's event, in its commit; otherwise here.
      if (fired !== 'removed') await store.releaseClaim(lease.key, lease.value).catch(() => undefined);
    }
  }

  async #fire(timerId: string, due: number, lease?: TimerLease): Promise<boolean | 'removed'> {
    const fired = await this.#options.host.fire(timerId, due, lease);
    if (fired === true) await this.#options.store.indexRemove(layout.dueIndex, [timerId]);
    return fired;
  }
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** A shuffled copy (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}
