import { HoldpointError } from './holdpoint-error.js';

/** The decision named a version digest that is not the task's current one: the human saw another version (code `STALE_VERSION`). */
export class StaleVersionError extends HoldpointError {
  readonly taskId: string;
  /** The digest the task carries. */
  readonly expected: string;
  /** The digest the decision named. */
  readonly received: string;
  constructor(options: {
    message: string;
    taskId: string;
    expected: string;
    received: string;
    cause?: unknown;
  }) {
    super({ code: 'STALE_VERSION', message: options.message, cause: options.cause });
    this.name = 'StaleVersionError';
    this.taskId = options.taskId;
    this.expected = options.expected;
    this.received = options.received;
  }

  static override isInstance(error: unknown): error is StaleVersionError {
    return HoldpointError.hasMarker(error) && error.code === 'STALE_VERSION';
  }
}
