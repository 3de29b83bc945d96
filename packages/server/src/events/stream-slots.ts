import type { Principal } from '../auth/principal.js';
import { ApiError } from '../errors.js';

/**
 * Open streams and waits (SSE, long-polls, result waits) per credential in this server process,
 * bounded so one key cannot hold every connection.
 */
export class StreamSlots {
  readonly #open = new Map<string, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Take a slot; call the returned function (once) when the stream ends. @throws ApiError TOO_MANY_STREAMS */
  acquire(principal: Principal): () => void {
    const key = `${principal.credential.kind}:${principal.credential.id}`;
    const open = this.#open.get(key) ?? 0;
    if (open >= this.#max) {
      throw new ApiError(
        'TOO_MANY_STREAMS',
        `This key already holds ${open} open streams or waits (at most ${this.#max}); close one first.`,
        { limit: this.#max },
      );
    }
    this.#open.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }
}
