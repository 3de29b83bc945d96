const marker = 'holdpoint.error';
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
  readonly code: string;
  /** True when the same call may succeed if tried again later (the store was unreachable). */
  readonly retryable: boolean;

  constructor(options: { code: string; message: string; cause?: unknown; retryable?: boolean }) {
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
