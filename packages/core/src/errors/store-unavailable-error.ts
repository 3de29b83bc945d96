import { HoldpointError } from './holdpoint-error.js';

/** Operations that only read (or open or close a connection): a failure of one changed nothing. */
const readingOperation =
  /^(read|readClaims|indexRange|events|listTasks|getTask|audit\.|connect|open|close|sweep)\b/;

/**
 * The store could not be reached or refused the operation. A failed read changed nothing; a failed
 * write was recorded whole or not at all (the store may have applied it before the connection
 * broke) — never half-way. Try the same call again once the store is back (`retryable` is true).
 */
export class StoreUnavailableError extends HoldpointError {
  /** Which backend failed: `sqlite`, `redis`, `postgres`, `memory`. */
  readonly store: string;

  constructor(options: { store: string; operation: string; cause?: unknown }) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    const effect = readingOperation.test(options.operation)
      ? 'It failed while reading: no change was recorded. Retry once the store is reachable.'
      : 'Nothing was half-written: the change was recorded whole or not at all. Retry once the store is reachable (a retried decision that did get recorded is answered with ALREADY_DECIDED).';
    super({
      code: 'STORE_UNAVAILABLE',
      message: `The ${options.store} store failed during ${options.operation}${reason}. ${effect}`,
      cause: options.cause,
      retryable: true,
    });
    this.name = 'StoreUnavailableError';
    this.store = options.store;
  }

  static override isInstance(error: unknown): error is StoreUnavailableError {
    return HoldpointError.hasMarker(error) && error.code === 'STORE_UNAVAILABLE';
  }
}
