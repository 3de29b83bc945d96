import { HoldpointError } from './holdpoint-error.js';

/** The task already has its final decision (or this approver already voted); the second one was refused and changed nothing (code `ALREADY_DECIDED`). */
export class AlreadyDecidedError extends HoldpointError {
  readonly taskId: string;
  /** The task's status when the decision was refused: `decided`, `timed_out`, `canceled`, or `pending` when this approver already voted. */
  readonly status: string;
  constructor(options: { message: string; taskId: string; status: string; cause?: unknown }) {
    super({ code: 'ALREADY_DECIDED', message: options.message, cause: options.cause });
    this.name = 'AlreadyDecidedError';
    this.taskId = options.taskId;
    this.status = options.status;
  }

  static override isInstance(error: unknown): error is AlreadyDecidedError {
    return HoldpointError.hasMarker(error) && error.code === 'ALREADY_DECIDED';
  }
}
