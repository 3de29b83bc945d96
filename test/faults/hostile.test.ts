// Requests that used to hang the engine — an idempotency key ending in half an emoji (a store kept it
// as U+FFFD, so its claim failed while a read found nothing), and a store that keeps something else
// than the key it was given — run in a child process on every store: a hang fails the test (the
// child is killed), and every call ends in a typed error within a bounded time.
import { afterEach, describe, expect, it } from 'vitest';
import { finished, isolatedStore, killChildren, startFixture, storeSelected } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const stores = (['memory', 'sqlite', 'redis', 'postgres'] as const).filter(
  (name) => name === 'memory' || storeSelected(name),
);

/** Run the fixture; a child that used `limitMs` of CPU, or sat idle that long, is killed and reported as a hang. */
async function run(spec: string, scenario: string, limitMs = 20_000) {
  const child = startFixture('hostile-requests', [spec, scenario]);
  const exit = await finished(child.child, limitMs);
  const calls = child.lines.filter((line) => line.call !== undefined);
  return { exit, calls, done: child.lines.some((line) => line.done === true), stderr: child.stderr() };
}

// A hang is judged by the child's own CPU and idle time (see finished()); the test's timeout is only
// the guard behind it, sized for a child slowed down by a busy machine.
describe.each(stores)('hostile requests on %s, in a child process', { timeout: 120_000 }, (kind) => {
  function spec(): string {
    if (kind === 'memory') return 'memory://';
    const store = isolatedStore(kind);
    cleanups.push(store.cleanup);
    return store.spec;
  }

  it('refuses an idempotency key ending in a lone surrogate with VALIDATION, twice, without hanging', async () => {
    const result = await run(spec(), 'surrogate-key');
    expect(result.exit, `the child hung or crashed: ${result.stderr}`).toBe(0);
    expect(result.done).toBe(true);
    expect(result.calls.map(({ call, code }) => ({ call, code }))).toEqual([
      { call: 'requestHuman 1', code: 'VALIDATION' },
      { call: 'submit 1', code: 'VALIDATION' },
      { call: 'requestHuman 2', code: 'VALIDATION' },
      { call: 'submit 2', code: 'VALIDATION' },
    ]);
  });

  it('ends every loop over a store that loses claims it cannot show in a typed, retryable error', async () => {
    const result = await run(spec(), 'lying-store');
    expect(result.exit, `the child hung or crashed: ${result.stderr}`).toBe(0);
    expect(result.calls.map(({ call, code }) => ({ call, code }))).toEqual([
      { call: 'requestHuman with a key', code: 'STORE_UNAVAILABLE' },
      { call: 'submit with a key', code: 'STORE_UNAVAILABLE' },
      { call: 'decide', code: 'STORE_UNAVAILABLE' },
    ]);
  });
});
