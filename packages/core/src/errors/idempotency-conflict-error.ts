import { HoldpointError } from './holdpoint-error.js';

/**
 * An idempotency key was reused for a different request — anything that changes what a human is
 * asked or what happens without them; the old task or intent was not returned (code `IDEMPOTENCY_CONFLICT`).
 */
export class IdempotencyConflictError extends HoldpointError {
  readonly idempotencyKey: string;
  /** The task or intent that already holds the key. */
  readonly existingId: string;
  /** The options in which this request differs from the one that holds the key, e.g. `['quorum', 'onTimeout']`. */
  readonly fields: string[];
  constructor(options: {
    message: string;
    idempotencyKey: string;
    existingId: string;
    fields?: string[];
    cause?: unknown;
  }) {
    super({ code: 'IDEMPOTENCY_CONFLICT', message: options.message, cause: options.cause });
    this.name = 'IdempotencyConflictError';
    this.idempotencyKey = options.idempotencyKey;
    this.existingId = options.existingId;
    this.fields = options.fields ?? [];
  }

  static override isInstance(error: unknown): error is IdempotencyConflictError {
    return HoldpointError.hasMarker(error) && error.code === 'IDEMPOTENCY_CONFLICT';
  }
}
