import { HoldpointError } from './holdpoint-error.js';

/** The engine was closed with `close()`; create a new one to continue (code `ENGINE_CLOSED`). */
export class EngineClosedError extends HoldpointError {
  constructor(options: { message: string; cause?: unknown }) {
    super({ code: 'ENGINE_CLOSED', message: options.message, cause: options.cause });
    this.name = 'EngineClosedError';
  }

  static override isInstance(error: unknown): error is EngineClosedError {
    return HoldpointError.hasMarker(error) && error.code === 'ENGINE_CLOSED';
  }
}
