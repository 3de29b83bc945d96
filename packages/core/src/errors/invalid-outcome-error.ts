import { HoldpointError } from './holdpoint-error.js';

/** The decision's outcome is not one of the task's allowed outcomes (code `INVALID_OUTCOME`). */
export class InvalidOutcomeError extends HoldpointError {
  readonly taskId: string;
  /** The outcomes the task allows. */
  readonly allowedOutcomes: readonly string[];
  constructor(options: {
    message: string;
    taskId: string;
    allowedOutcomes: readonly string[];
    cause?: unknown;
  }) {
    super({ code: 'INVALID_OUTCOME', message: options.message, cause: options.cause });
    this.name = 'InvalidOutcomeError';
    this.taskId = options.taskId;
    this.allowedOutcomes = options.allowedOutcomes;
  }

  static override isInstance(error: unknown): error is InvalidOutcomeError {
    return HoldpointError.hasMarker(error) && error.code === 'INVALID_OUTCOME';
  }
}
