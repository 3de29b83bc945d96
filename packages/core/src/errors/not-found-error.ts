import { HoldpointError } from './holdpoint-error.js';

/** No task or intent has this id (code `NOT_FOUND`). */
export class NotFoundError extends HoldpointError {
  /** What was looked for: `task` or `intent`. */
  readonly kind: 'task' | 'intent';
  /** The id that was not found. */
  readonly id: string;
  constructor(options: { message: string; kind: 'task' | 'intent'; id: string; cause?: unknown }) {
    super({ code: 'NOT_FOUND', message: options.message, cause: options.cause });
    this.name = 'NotFoundError';
    this.kind = options.kind;
    this.id = options.id;
  }

  static override isInstance(error: unknown): error is NotFoundError {
    return HoldpointError.hasMarker(error) && error.code === 'NOT_FOUND';
  }
}
