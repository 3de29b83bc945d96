import { HoldpointError } from './holdpoint-error.js';

/** An idempotency key was reused for a different request (another type, assignee or context digest); the old task was not returned (code `IDEMPOTENCY_CONFLICT`). */
export class IdempotencyConflictError extends HoldpointError {
  readonly idempotencyKey: string;
  /** The task or intent that already holds the key. */
  readonly existingId: string;
  constructor(options: { message: string; idempotencyKey: string; existingId: string; cause?: unknown }) {
    super({ code: 'IDEMPOTENCY_CONFLICT', message: options.message, cause: options.cause });
    this.name = 'IdempotencyConflictError';
    this.idempotencyKey = options.idempotencyKey;
    this.existingId = options.existingId;
  }

  static override isInstance(error: unknown): error is IdempotencyConflictError {
    return HoldpointError.hasMarker(error) && error.code === 'IDEMPOTENCY_CONFLICT';
  }
}
