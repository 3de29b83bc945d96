// Engines on hosts whose clocks are wrong by minutes, in child processes on one store: deadlines are
// taken from the store's clock, so a fast host does not fire a human's window early, a slow one does
// not fire it late, and the audit carries the store's time, not the wrong host's.

import { createHoldpoint, type Holdpoint, type HumanTask } from '@holdpoint/core';
import { eventually } from '@holdpoint/test-services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isolatedStore, storeSelected } from './faults/support.js';
import { jsonLines, runFixture } from './helpers.js';

const minutes5 = 5 * 60_000;
const children: Array<ReturnType<typeof runFixture>> = [];
const engines: Holdpoint[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

const stores = (['sqlite', 'redis', 'postgres'] as const).filter(storeSelected);

/** An engine on this (correct) host that only reads. */
async function reader(spec: string): Promise<Holdpoint> {
  const engine = await createHoldpoint({
    store: spec,
    timers: false,
    onError: (error) => {
      throw error;
    },
  });
  engines.push(engine);
  return engine;
}

/** A child engine on a host `skewMs` off the real time; resolves once it runs, with its output. */
async function skewedHost(spec: string, skewMs: number, gate?: string) {
  const child = runFixture('skewed-host', [spec, String(skewMs), ...(gate ? ['gate', gate] : [])]);
  children.push(child);
  const output = jsonLines(child);
  const { ready } = (await output.next((line) => 'ready' in line)) as {
    ready: { hostNow: number; realNow: number };
  };
  // The fixture really runs on a wrong clock.
  expect(Math.abs(ready.hostNow - ready.realNow - skewMs)).toBeLessThan(1_000);
  return output;
}

async function decidedByPolicy(hp: Holdpoint, taskId: string, timeout?: number): Promise<HumanTask> {
  return eventually(
    async () => {
      const task = await hp.getTask(taskId);
      expect(task.decision).toMatchObject({ outcome: 'approved', decidedBy: 'policy', actor: null });
      return task;
    },
    timeout === undefined ? {} : { timeout },
  );
}

describe.each(stores)('engines on hosts with skewed clocks on %s', (name) => {
  function store(): string {
    const isolated = isolatedStore(name);
    cleanups.push(isolated.cleanup);
    return isolated.spec;
  }

  it('a host 5 minutes fast does not approve a 3 s window early, says so, and stamps the store’s time', async () => {
    const spec = store();
    const fast = await skewedHost(spec, minutes5, '3s');
    const { warning } = (await fast.next((line) => 'warning' in line)) as { warning: string };
    expect(warning).toMatch(new RegExp(`host's clock is 300\\.\\d s ahead of the ${name} store's`));
    const { created } = (await fast.next((line) => 'created' in line)) as {
      created: { taskId: string; realAt: number };
    };
    const hp = await reader(spec);
    const task = await decidedByPolicy(hp, created.taskId);
    // Not before the window closed, by this host's correct clock (before the fix: after 26 ms–1 s).
    expect(Date.now() - created.realAt).toBeGreaterThanOrEqual(3_000 - 50);
    const createdAt = Date.parse(task.createdAt);
    const decidedAt = Date.parse(task.decision?.decidedAt ?? '');
    expect(decidedAt - createdAt).toBeGreaterThanOrEqual(3_000);
    expect(Date.parse(task.deadlineAt ?? '') - createdAt).toBe(3_000);
    // The audit holds the store's time, not the fast host's (5 minutes ahead).
    expect(Math.abs(createdAt - created.realAt)).toBeLessThan(60_000);
    expect(decidedAt).toBeLessThanOrEqual(Date.now() + 1_000);
  }, 90_000);

  it('a host 5 minutes slow fires a deadline another host set on time, not 5 minutes late', async () => {
    const spec = store();
    const slow = await skewedHost(spec, -minutes5);
    const { warning } = (await slow.next((line) => 'warning' in line)) as { warning: string };
    expect(warning).toMatch(new RegExp(`host's clock is 300\\.\\d s behind the ${name} store's`));
    const hp = await reader(spec);
    const realAt = Date.now();
    const created = await hp.requestHuman({ assignee: 'bob@acme.test', timeout: '2s', onTimeout: 'approve' });
    // Only the slow host runs timers. Before the fix it fired after 5 minutes and 2 s.
    const task = await decidedByPolicy(hp, created.id, 60_000);
    expect(Date.now() - realAt).toBeGreaterThanOrEqual(2_000 - 50);
    expect(Date.parse(task.decision?.decidedAt ?? '') - Date.parse(task.createdAt)).toBeGreaterThanOrEqual(
      2_000,
    );
  }, 90_000);
});
