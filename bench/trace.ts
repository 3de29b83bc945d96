import { createStore } from '@holdpoint/core';
import { type OperationName, observedStore } from './counting-store.js';
import { openEngineGate } from './gate-lifecycle.js';

/** One store call of a lifecycle: what it was and how big (bytes written, or keys read). */
export interface TracedCall {
  name: OperationName;
  size: number;
}

/**
 * The store calls of one engine lifecycle, in order, grouped as the engine issues them: the calls
 * of one group were all started before any of them settled (the engine's `Promise.all`), and a
 * group starts only after a call of the one before settled.
 */
export type LifecycleTrace = TracedCall[][];

/**
 * Record the store calls one engine lifecycle makes, on a `memory://` store (whose calls settle at
 * once, so nothing but the engine's own order decides the grouping). The engine's calls do not
 * depend on the backend, so the trace holds for every store. The third lifecycle is recorded,
 * after two that warm up whatever is done once.
 */
export async function recordLifecycleTrace(): Promise<LifecycleTrace> {
  let recording = false;
  let settled = 0;
  let groupSettled = -1;
  const trace: LifecycleTrace = [];
  const backend = observedStore(await createStore('memory://'), (name, size, result) => {
    if (!recording) return;
    const settle = () => {
      settled++;
    };
    result.then(settle, settle);
    if (settled !== groupSettled || trace.length === 0) {
      trace.push([]);
      groupSettled = settled;
    }
    trace.at(-1)?.push({ name, size });
  });
  const gate = await openEngineGate(backend, { notify: false });
  try {
    await gate.lifecycle('trace.1');
    await gate.lifecycle('trace.2');
    recording = true;
    await gate.lifecycle('trace.3');
    recording = false;
    await gate.check();
  } finally {
    await gate.close();
  }
  return trace;
}

/** The trace on one line: `claim → keyv.get → … → [publish + indexAdd]`. */
export function describeTrace(trace: LifecycleTrace): string {
  return trace
    .map((group) => {
      const names = group.map((call) => call.name);
      return names.length === 1 ? names[0] : `[${names.join(' + ')}]`;
    })
    .join(' → ');
}
