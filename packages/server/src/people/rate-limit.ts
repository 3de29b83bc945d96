/**
 * A fixed-window counter per key (an IP address, an email address), in this process's memory:
 * enough to stop a flood of sign-in mails from one server. Several servers each count on their own.
 */
export class RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Count one request for `key`; false when the key is over its limit in this window. */
  take(key: string, now = Date.now()): boolean {
    let window = this.#windows.get(key);
    if (!window || now - window.start >= this.#windowMs) {
      // Keep the map bounded: drop windows that have ended.
      if (this.#windows.size > 10_000) {
        for (const [name, old] of this.#windows)
          if (now - old.start >= this.#windowMs) this.#windows.delete(name);
      }
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    window.count += 1;
    return window.count <= this.#max;
  }
}
