import { afterEach, vi } from 'vitest';
import { createHoldpoint, type Holdpoint, type HoldpointOptions } from '../../src/index.js';

const open: Holdpoint[] = [];

/**
 * An engine that is closed after the test. Background errors fail loudly instead of being logged.
 * Under fake timers it runs on the process's (fake) clock: the store's clock would not move.
 */
export async function engineFor(store: string, options: HoldpointOptions = {}): Promise<Holdpoint> {
  const engine = await createHoldpoint({
    store,
    onError: (error) => {
      backgroundErrors.push(error);
    },
    ...(vi.isFakeTimers() ? { clock: 'local' as const } : {}),
    ...options,
  });
  open.push(engine);
  return engine;
}

/** Errors reported by engines' background work during the current test. */
export const backgroundErrors: unknown[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
  backgroundErrors.length = 0;
});

/** The audit events of an intent, parsed from its export (without the signature line). */
export async function auditEvents(
  engine: Holdpoint,
  intentId: string,
): Promise<Array<Record<string, unknown>>> {
  const jsonl = await engine.audit.export(intentId);
  return jsonl
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((event) => event.type !== 'signature');
}

export { errorOf } from './refusal.js';
