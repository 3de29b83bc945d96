import { ApiError } from '../errors.js';
import { unscopedKey } from './scoped-key.js';

export { scopedKey, unscopedKey } from './scoped-key.js';

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

/** A record with its idempotency key as the client gave it. */
export function withClientKey<T extends { idempotencyKey?: string }>(record: T): T {
  return record.idempotencyKey === undefined
    ? record
    : { ...record, idempotencyKey: unscopedKey(record.idempotencyKey) };
}
