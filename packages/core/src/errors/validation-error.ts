import { HoldpointError } from './holdpoint-error.js';

/** Options or input that cannot be used: the message says which field and what to give instead. */
export class ValidationError extends HoldpointError {
  /** Where the problem is, e.g. `waitForHuman.timeout` or `decide.data.amount`. */
  readonly field: string | undefined;

  constructor(options: { message: string; field?: string; cause?: unknown }) {
    super({ code: 'VALIDATION', message: options.message, cause: options.cause });
    this.name = 'ValidationError';
    this.field = options.field;
  }

  static override isInstance(error: unknown): error is ValidationError {
    return HoldpointError.hasMarker(error) && error.code === 'VALIDATION';
  }
}
