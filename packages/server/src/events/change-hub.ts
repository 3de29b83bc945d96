import type { AuditEvent } from '@holdpoint/core';
import type { FeedFilter, Holdpoint } from '../engine-feed.js';

/** Whether an event may be one the filter lets through (an assignee filter cannot tell without the task). */
export function mayMatch(filter: FeedFilter, event: AuditEvent): boolean {
  if (filter.intentId !== undefined && event.intentId !== filter.intentId) return false;
  // Intent-wide events (a canceled intent) end its tasks too.
  if (filter.taskId !== undefined && event.taskId !== undefined && event.taskId !== filter.taskId)
    return false;
  return true;
}

/** Events that may match one filter, from the moment it was made: none is lost between reads. */
export interface Watch {
  /**
   * The oldest event heard since the last call (at once), else the next one; `undefined` after
   * `timeoutMs`, on `signal`, or when the watch or the hub closes.
   */
  next(timeoutMs: number, signal?: AbortSignal): Promise<AuditEvent | undefined>;
  close(): void;
  /** Closed by its owner or by the hub (the server is shutting down). */
  readonly closed: boolean;
}

class FilterWatch implements Watch {
  readonly filter: FeedFilter;
  readonly #heard: AuditEvent[] = [];
  readonly #onClose: (watch: FilterWatch) => void;
  #wake: ((event: AuditEvent | undefined) => void) | undefined;
  #closed = false;

  constructor(filter: FeedFilter, onClose: (watch: FilterWatch) => void) {
    this.filter = filter;
    this.#onClose = onClose;
  }

  hear(event: AuditEvent): void {
    if (this.#wake) this.#wake(event);
    // A stream that is busy writing only needs to know that something happened: keep a few.
    else if (this.#heard.length < 16) this.#heard.push(event);
  }

  next(timeoutMs: number, signal?: AbortSignal): Promise<AuditEvent | undefined> {
    const heard = this.#heard.shift();
    if (heard || this.#closed || signal?.aborted) return Promise.resolve(heard);
    return new Promise((resolve) => {
      const done = (event: AuditEvent | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wake = undefined;
        resolve(event);
      };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#wake = done;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.(undefined);
    this.#onClose(this);
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/**
 * The trigger to read the feed on: one `subscribe` to the engine per server, fanned out to every
 * open stream, long-poll and result wait whose filter the event may match. What clients get is
 * always read from the feed, never from here: a trigger that is missed (wake-ups across processes
 * are best effort) only delays a read until the next poll.
 */
export class ChangeHub {
  readonly #watches = new Set<FilterWatch>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(hp: Holdpoint) {
    this.#unsubscribe = hp.subscribe((event) => {
      for (const watch of this.#watches) if (mayMatch(watch.filter, event)) watch.hear(event);
    });
  }

  /** Start hearing events that may match `filter`; close the watch when done. */
  watch(filter: FeedFilter): Watch {
    const watch = new FilterWatch(filter, (closed) => this.#watches.delete(closed));
    if (this.#closed) watch.close();
    else this.#watches.add(watch);
    return watch;
  }

  /** End every watch and stop listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const watch of [...this.#watches]) watch.close();
  }

  get closed(): boolean {
    return this.#closed;
  }
}
