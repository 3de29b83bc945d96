import { setTimeout } from 'node:timers';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { IndexEntry, IndexRangeOptions, StoreBackend } from './store-backend.js';

/** The namespace of Keyv records and the prefix of a backend's own keys when none is given. */
export const DEFAULT_PREFIX = 'holdpoint';

/**
 * A prefix names one Holdpoint deployment inside a shared store. It becomes a Keyv namespace, so it
 * cannot contain `:` (Keyv splits keys on the first `:`); it also becomes part of Redis keys and a
 * PostgreSQL channel name, so it stays to letters, digits, `_`, `.` and `-`.
 */
export function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(prefix)) {
    throw new ValidationError({
      field: 'store.prefix',
      message: `The store prefix ${JSON.stringify(prefix)} is not usable: give 1 to 100 letters, digits, "_", "." or "-" (e.g. "holdpoint" or "billing-prod").`,
    });
  }
  return prefix;
}

/** A lease length must be a positive number of milliseconds; Redis takes whole ones, so round up. */
export function checkTtl(ttlMs: number | undefined): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new ValidationError({
      field: 'claim.ttlMs',
      message: `A claim's ttlMs must be a positive number of milliseconds, or omitted for a permanent claim; got ${String(ttlMs)}.`,
    });
  }
  return Math.ceil(ttlMs);
}

/**
 * Scores must be finite (NaN cannot be ordered, and SQL stores reject it). When a batch names a
 * member twice the last entry wins, as it would with one `indexAdd` call per entry.
 */
export function checkEntries(entries: readonly IndexEntry[]): IndexEntry[] {
  const byMember = new Map<string, number>();
  for (const entry of entries) {
    if (typeof entry.member !== 'string' || !Number.isFinite(entry.score)) {
      throw new ValidationError({
        field: 'indexAdd.entries',
        message: `Index entries need a string member and a finite score; got ${JSON.stringify(entry)}.`,
      });
    }
    byMember.set(entry.member, entry.score);
  }
  return [...byMember].map(([member, score]) => ({ member, score }));
}

/** Bounds of a range read with the defaults filled in. */
export function rangeBounds(options: IndexRangeOptions): { min: number; max: number; limit: number } {
  const min = options.min ?? Number.NEGATIVE_INFINITY;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  if (Number.isNaN(min) || Number.isNaN(max)) {
    throw new ValidationError({
      field: 'indexRange',
      message: 'indexRange bounds must be numbers, not NaN.',
    });
  }
  if (!Number.isSafeInteger(options.limit) || options.limit < 0) {
    throw new ValidationError({
      field: 'indexRange.limit',
      message: `indexRange needs a whole, non-negative limit; got ${String(options.limit)}.`,
    });
  }
  return { min, max, limit: options.limit };
}

/** What a closed backend throws: the same retryable error as an unreachable store, with a cause that says why. */
export function storeClosedError(store: StoreBackend['kind'], operation: string): StoreUnavailableError {
  return new StoreUnavailableError({ store, operation, cause: new Error('the store was closed') });
}

/**
 * A pause for retries that does not hold the process open. Like all the store layer's plumbing
 * (polls, retries, connection timeouts) it runs on the real clock from `node:timers`, which a
 * test's fake timers leave alone: faking time must move leases and deadlines (`Date.now()`),
 * not cut connections or stop wake-ups.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
