import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isolatedStore, storeSelected } from './faults/support.js';
import { exited, jsonLines, runFixture } from './helpers.js';

const children: Array<ReturnType<typeof runFixture>> = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

const stores = (['memory', 'sqlite', 'redis', 'postgres'] as const).filter(storeSelected);

describe.each(stores)('a service shut down by SIGTERM on %s', (name) => {
  it('answers every call in flight at close(): resolved when recorded, ENGINE_CLOSED when not, then runs nothing', async () => {
    let spec = 'memory://closer';
    if (name !== 'memory') {
      const store = isolatedStore(name);
      cleanups.push(store.cleanup);
      spec = store.spec;
    }
    const child = runFixture('closer', [spec]);
    children.push(child);
    const output = jsonLines(child);
    await output.next((line) => 'ready' in line, 30_000);
    child.kill('SIGTERM');
    const { report } = (await output.next((line) => 'report' in line, 30_000)) as {
      report: {
        started: number;
        outcomes: Record<string, number>;
        recorded: number;
        refusedUnrecorded: number;
        mismatches: string[];
      };
    };
    // The process ends by itself: nothing of the engine's keeps it alive after close().
    expect(await exited(child)).toBe(0);
    const { exit } = (await output.next((line) => 'exit' in line)) as {
      exit: { errorsAfterClose: number; pending: number };
    };
    expect(report.started).toBeGreaterThanOrEqual(300);
    // Every call settled, and only in the two ways close() allows.
    expect(report.outcomes.pending ?? 0).toBe(0);
    expect(
      Object.keys(report.outcomes).filter((outcome) => outcome !== 'resolved' && outcome !== 'ENGINE_CLOSED'),
    ).toEqual([]);
    // What each caller was told matches what the store holds.
    expect(report.mismatches).toEqual([]);
    expect(report.recorded).toBeGreaterThan(0);
    expect(exit).toEqual({ errorsAfterClose: 0, pending: 0 });
  });
});
