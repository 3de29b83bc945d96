import { HoldpointError } from './holdpoint-error.js';

/** The actor is not a current assignee of the task, so may not decide it (code `NOT_ASSIGNED`). */
export class NotAssignedError extends HoldpointError {
  readonly taskId: string;
  /** The actor id that tried to decide. */
  readonly actor: string;
  constructor(options: { message: string; taskId: string; actor: string; cause?: unknown }) {
    super({ code: 'NOT_ASSIGNED', message: options.message, cause: options.cause });
    this.name = 'NotAssignedError';
    this.taskId = options.taskId;
    this.actor = options.actor;
  }

  static override isInstance(error: unknown): error is NotAssignedError {
    return HoldpointError.hasMarker(error) && error.code === 'NOT_ASSIGNED';
  }
}
