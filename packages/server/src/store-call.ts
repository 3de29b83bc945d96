import { type StoreBackend, StoreUnavailableError } from '@holdpoint/core';

/**
 * One of the server's own store calls (API keys, owners): a failure is the store's, answered
 * `STORE_UNAVAILABLE` (503, retryable) like the engine's.
 */
export async function storeCall<T>(
  store: StoreBackend,
  operation: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StoreUnavailableError({ store: store.kind, operation, cause: error });
  }
}
