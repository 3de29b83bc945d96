import { setTimeout } from 'node:timers';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { isWellFormed, utf8Length } from '../text.js';
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
 * The longest key, index name or index member a backend takes, in UTF-8 bytes: with the prefix, an
 * index name and a member together stay under PostgreSQL's ~2.7 KB limit for an index row.
 */
export const MAX_KEY_BYTES = 1024;

/** What is wrong with text a store is given, or undefined: every store writes UTF-8, and PostgreSQL no NUL. */
function textProblem(text: unknown, limit: number | undefined): string | undefined {
  if (typeof text !== 'string') return `is not a string (${text === null ? 'null' : typeof text})`;
  if (!isWellFormed(text)) {
    return 'is not well-formed Unicode (a lone surrogate has no UTF-8 form: a store would keep another key)';
  }
  if (text.includes('\u0000')) return 'contains NUL (U+0000), which PostgreSQL cannot store';
  if (limit !== undefined) {
    const bytes = utf8Length(text);
    if (bytes > limit) return `is ${bytes} bytes long in UTF-8; at most ${limit} are allowed`;
  }
  return undefined;
}

/**
 * A key, index name or member as every backend can store and find it again: a well-formed string
 * without NUL, at most {@link MAX_KEY_BYTES} bytes. The same on every store, so a key that works in
 * memory works on PostgreSQL.
 * @throws ValidationError (not retryable: the same key fails again).
 */
export function checkKey(key: unknown, field: string): string {
  const problem = textProblem(key, MAX_KEY_BYTES);
  if (problem)
    throw new ValidationError({ field, message: `The store cannot take this ${field}: it ${problem}.` });
  return key as string;
}

/** A claim value or message: a well-formed string without NUL (JSON text escapes NUL). */
export function checkValue(value: unknown, field: string): string {
  const problem = textProblem(value, undefined);
  if (problem)
    throw new ValidationError({ field, message: `The store cannot take this ${field}: it ${problem}.` });
  return value as string;
}

/**
 * Scores must be finite (NaN cannot be ordered, and SQL stores reject it). When a batch names a
 * member twice the last entry wins, as it would with one `indexAdd` call per entry.
 */
export function checkEntries(entries: readonly IndexEntry[]): IndexEntry[] {
  const byMember = new Map<string, number>();
  if (!Array.isArray(entries)) {
    throw new ValidationError({ field: 'indexAdd.entries', message: 'indexAdd takes an array of entries.' });
  }
  for (const entry of entries) {
    if (typeof entry?.member !== 'string' || !Number.isFinite(entry.score)) {
      throw new ValidationError({
        field: 'indexAdd.entries',
        message: `Index entries need a string member and a finite score; got ${JSON.stringify(entry)}.`,
      });
    }
    checkKey(entry.member, 'index member');
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

/** Keys of one batch read or removal: each must be a key a store can hold. */
export function checkKeys(keys: readonly string[], field: string): readonly string[] {
  if (!Array.isArray(keys))
    throw new ValidationError({ field, message: `The store takes an array of ${field}s.` });
  for (const key of keys) checkKey(key, field);
  return keys;
}

/**
 * The error for a failed store call: a {@link StoreUnavailableError} (retryable) when trying again
 * may succeed — the server is away, busy or out of resources — and otherwise a
 * {@link ValidationError} from `refusal`, which says whether the value or the configuration is at
 * fault and what to change. Errors already typed pass through.
 */
export function storeError(
  store: StoreBackend['kind'],
  operation: string,
  error: unknown,
  refusal: (error: unknown) => ValidationError | undefined,
): Error {
  if (error instanceof StoreUnavailableError || error instanceof ValidationError) return error;
  return refusal(error) ?? new StoreUnavailableError({ store, operation, cause: error });
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
