import { HoldpointError } from '../../src/index.js';

/**
 * The error a call was refused with. Fails the test when the call succeeds, or when it fails with
 * anything but a HoldpointError (every refusal the engine and the stores make is typed).
 */
export async function errorOf(promise: Promise<unknown>): Promise<HoldpointError & Record<string, unknown>> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  if (error === undefined) throw new Error('expected the call to be refused, but it succeeded');
  if (!HoldpointError.isInstance(error)) throw new Error(`expected a HoldpointError, got ${String(error)}`);
  return error as HoldpointError & Record<string, unknown>;
}
