import { ApiError } from '../errors.js';
import type { Principal } from './principal.js';

/**
 * The idempotency key of a request, from the `Idempotency-Key` header or the body (both: they must agree).
 * @throws ApiError VALIDATION when they differ.
 */
export function idempotencyKeyOf(header: string | undefined, body: string | undefined): string | undefined {
  if (header !== undefined && body !== undefined && header !== body) {
    throw new ApiError(
      'VALIDATION',
      'The Idempotency-Key header and idempotencyKey in the body differ; give one.',
      {
        field: 'header.Idempotency-Key',
      },
    );
  }
  return header ?? body;
}

/**
 * The key as the engine sees it: in the caller's own namespace, so that one identity can never be
 * handed another's intent or task by reusing its key. `<length of id>:<actor id>:<key>` cannot be
 * read two ways.
 */
export function scopedKey(principal: Principal, key: string): string {
  return `${principal.actor.id.length}:${principal.actor.id}:${key}`;
}

/** The key as the client gave it. */
export function unscopedKey(stored: string): string {
  const match = /^(\d+):/.exec(stored);
  if (!match) return stored;
  const start = (match[0] as string).length + Number(match[1]) + 1;
  return stored.length >= start && stored[start - 1] === ':' ? stored.slice(start) : stored;
}

/** A record with its idempotency key as the client gave it. */
export function withClientKey<T extends { idempotencyKey?: string }>(record: T): T {
  return record.idempotencyKey === undefined
    ? record
    : { ...record, idempotencyKey: unscopedKey(record.idempotencyKey) };
}
