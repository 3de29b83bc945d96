const marker = 'holdpoint.error';

/**
 * The `code` of every {@link HoldpointError}: what went wrong, stable across versions.
 *
 * - `VALIDATION` — an input is missing or malformed (the message names the field)
 * - `NOT_FOUND` — no task or intent has this id
 * - `NOT_ASSIGNED` — the actor is not a current assignee of the task
 * - `ALREADY_DECIDED` — the task has ended, or this approver already voted
 * - `STALE_VERSION` — the decision was made on another version of the task's context
 * - `INVALID_OUTCOME` — the outcome is not one the task allows
 * - `IDEMPOTENCY_CONFLICT` — the idempotency key belongs to another request
 * - `INVALID_STATE` — the intent cannot take this change (final, or a task still pending)
 * - `ENGINE_CLOSED` — the engine was closed
 * - `STORE_UNAVAILABLE` — the store could not be reached (`retryable`)
 */
export type HoldpointErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'NOT_ASSIGNED'
  | 'ALREADY_DECIDED'
  | 'STALE_VERSION'
  | 'INVALID_OUTCOME'
  | 'IDEMPOTENCY_CONFLICT'
  | 'INVALID_STATE'
  | 'ENGINE_CLOSED'
  | 'STORE_UNAVAILABLE';
const symbol = Symbol.for(marker);

/**
 * Every error a Holdpoint engine throws on purpose is a `HoldpointError` with a string `code`.
 * Use {@link HoldpointError.isInstance} rather than `instanceof`: it checks a `Symbol.for` brand,
 * so it also recognises errors from another copy of the package.
 *
 * @example
 * try { await hp.decide(taskId, { outcome: 'approved', actor: 'cfo@acme.test' }); }
 * catch (error) { if (HoldpointError.isInstance(error) && error.code === 'ALREADY_DECIDED') { … } }
 */
export class HoldpointError extends Error {
  /** A stable, machine-readable code such as `VALIDATION` or `ALREADY_DECIDED`. */
  readonly code: HoldpointErrorCode;
  /** True when the same call may succeed if tried again later (the store was unreachable). */
  readonly retryable: boolean;

  constructor(options: { code: HoldpointErrorCode; message: string; cause?: unknown; retryable?: boolean }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HoldpointError';
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    // A non-enumerable brand, so copies of this package loaded twice still recognise each other.
    Object.defineProperty(this, symbol, { value: true, enumerable: false });
  }

  /** Whether `error` is a Holdpoint error (of any copy of this package). */
  static isInstance(error: unknown): error is HoldpointError {
    return HoldpointError.hasMarker(error);
  }

  protected static hasMarker(error: unknown): error is HoldpointError {
    return (
      typeof error === 'object' &&
      error !== null &&
      symbol in error &&
      (error as Record<symbol, unknown>)[symbol] === true
    );
  }
}
