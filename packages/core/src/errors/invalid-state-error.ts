import { HoldpointError } from './holdpoint-error.js';

/** The intent or task is in a state that does not allow the call, e.g. completing a canceled intent (code `INVALID_STATE`). */
export class InvalidStateError extends HoldpointError {
  /** The id of the intent or task. */
  readonly id: string;
  /** Its status at the time of the call. */
  readonly status: string;
  constructor(options: { message: string; id: string; status: string; cause?: unknown }) {
    super({ code: 'INVALID_STATE', message: options.message, cause: options.cause });
    this.name = 'InvalidStateError';
    this.id = options.id;
    this.status = options.status;
  }

  static override isInstance(error: unknown): error is InvalidStateError {
    return HoldpointError.hasMarker(error) && error.code === 'INVALID_STATE';
  }
}
