// The store goes away under a running engine: a Redis server of the test's own is SIGKILLed in the
// middle of a burst of calls and started again on the same port. While it is down every call fails
// at once with a typed, retryable STORE_UNAVAILABLE; afterwards nothing is half-written, and the
// same engine instances carry on by themselves — calls work, waiters resume, overdue timers fire once.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import {
  createHoldpoint,
  HoldpointError,
  type HumanResult,
  type HumanTask,
  type RequestHumanOptions,
} from '@holdpoint/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chainOf,
  exited,
  finished,
  killChildren,
  seconds,
  sleep,
  startFixture,
  storeSelected,
  temporaryDirectory,
  timerFires,
} from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A redis-server of this test's own on a loopback port (the machine's shared Redis is never touched).
 * It keeps an append-only file synced on every write, so what it acknowledged survives a SIGKILL and
 * is there again when it starts on the same port and directory.
 */
class OwnRedis {
  readonly #directory = temporaryDirectory();
  #process: ChildProcess | undefined;
  port = 0;

  async start(): Promise<void> {
    this.port ||= await freePort();
    const server = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.#directory.path,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#process = server;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
      server.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`redis-server could not be started (is it installed?): ${error.message}`));
      });
      server.stdout?.on('data', (chunk) => {
        output += chunk;
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      });
    });
  }

  async kill(): Promise<void> {
    const server = this.#process;
    this.#process = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGKILL');
    await exited(server);
  }

  async remove(): Promise<void> {
    await this.kill();
    this.#directory.remove();
  }
}

/** How a call ended, and how long it took. */
interface Outcome<T> {
  value?: T;
  error?: unknown;
  ms: number;
}

async function attempt<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  const started = performance.now();
  try {
    const value = await call();
    return { value, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

/** Whether a failure is the typed, retryable one an outage must give. */
function isStoreUnavailable(error: unknown): boolean {
  return (
    HoldpointError.isInstance(error) &&
    error.code === 'STORE_UNAVAILABLE' &&
    error.retryable === true &&
    error.name === 'StoreUnavailableError'
  );
}

const owner = 'cfo@acme.test';
const task = (key: string, extra: Partial<RequestHumanOptions> = {}): RequestHumanOptions => ({
  assignee: owner,
  context: { key },
  idempotencyKey: key,
  ...extra,
});

describe.runIf(storeSelected('redis'))('the engine when its Redis goes away and comes back', () => {
  it('refuses calls promptly with STORE_UNAVAILABLE, half-writes nothing, and recovers by itself: calls, waiters and timers', async () => {
    const started = Date.now();
    const redis = new OwnRedis();
    cleanups.push(() => redis.remove());
    await redis.start();
    const spec = `redis://127.0.0.1:${redis.port}?prefix=hp-outage`;
    const deliveries: string[] = [];
    const backgroundErrors: unknown[] = [];
    const hp = await createHoldpoint({
      store: spec,
      pollInterval: '100ms',
      notify: (notification) => {
        deliveries.push(notification.deliveryId);
      },
      onError: (error) => backgroundErrors.push(error),
    });
    cleanups.push(() => hp.close());

    // Before the outage: a task to decide, a wait in this process, a wait in another, and tasks for
    // a burst of calls cut off mid-flight.
    const toDecide = await hp.requestHuman(task('outage/decide'));
    const waitedHere = await hp.requestHuman(task('outage/wait-here'));
    const waitThere = task('outage/wait-there');
    const waitedThere = await hp.requestHuman(waitThere);
    const burstTasks = await Promise.all(
      Array.from({ length: 30 }, (_, n) => hp.requestHuman(task(`outage/burst/${n}`))),
    );
    const waiter = startFixture('outage-waiter', [spec, JSON.stringify(waitThere), waitedHere.id]);
    await waiter.next((line) => 'waiting' in line, 30_000);
    const hereResult = hp.waitForHuman(task('outage/wait-here'));
    // The wait sent its requests first and Redis answers a connection in order: once these reads
    // are answered, the wait has its task and waits.
    for (let n = 0; n < 10; n++) await hp.getTask(waitedHere.id);
    let hereSettled: HumanResult | undefined;
    hereResult.then(
      (result) => {
        hereSettled = result;
      },
      () => {},
    );

    // Its reminder (300 ms) and first deadline (600 ms) fall due while Redis is away.
    const timed = await hp.requestHuman(
      task('outage/timers', {
        remind: { after: 300 },
        timeout: 600,
        escalateTo: [{ assignee: 'deputy@acme.test', timeout: 300 }],
        onTimeout: 'reject',
      }),
    );

    // The burst: decisions and new requests streamed one a millisecond, and Redis killed among them.
    const burstDecisions: Array<Promise<Outcome<HumanTask>>> = [];
    const burstRequests: Array<Promise<Outcome<HumanTask>>> = [];
    const streaming = (async () => {
      for (let n = 0; n < 30; n++) {
        const burstTask = burstTasks[n] as HumanTask;
        burstDecisions.push(attempt(() => hp.decide(burstTask.id, { outcome: 'approved', actor: owner })));
        burstRequests.push(attempt(() => hp.requestHuman(task(`outage/new/${n}`))));
        await sleep(1);
      }
    })();
    await sleep(5 + Math.floor(Math.random() * 15));
    await redis.kill();
    const downAt = Date.now();
    await streaming;
    const decided = await Promise.all(burstDecisions);
    const requested = await Promise.all(burstRequests);
    const burst = [...decided, ...requested];
    const cutOff = burst.filter((outcome) => outcome.error !== undefined);
    expect(
      cutOff.filter((outcome) => !isStoreUnavailable(outcome.error)).map((outcome) => String(outcome.error)),
    ).toEqual([]);

    // While it is down: every kind of call is refused at once, typed and retryable.
    await sleep(100);
    const during = [
      await attempt(() => hp.decide(toDecide.id, { outcome: 'approved', actor: owner })),
      await attempt(() => hp.requestHuman(task('outage/during'))),
      await attempt(() => hp.waitForHuman(task('outage/during-wait'))),
      await attempt(() => hp.getTask(toDecide.id)),
      await attempt(() => hp.listTasks()),
      await attempt(() => hp.submit({ type: 'report', idempotencyKey: 'outage/intent' })),
      await attempt(() => hp.getIntent(toDecide.intentId)),
      await attempt(() => hp.cancelTask(toDecide.id)),
      await attempt(() => hp.complete(toDecide.intentId)),
      await attempt(() => hp.audit.export(toDecide.intentId)),
      await attempt(() => hp.events()),
    ];
    const refusedDuring = during.filter((outcome) => isStoreUnavailable(outcome.error)).length;
    expect(
      during.map((outcome) =>
        isStoreUnavailable(outcome.error) ? 'STORE_UNAVAILABLE' : String(outcome.error ?? 'succeeded'),
      ),
    ).toEqual(Array(during.length).fill('STORE_UNAVAILABLE'));
    const slowest = Math.max(...during.map((outcome) => outcome.ms));
    expect(slowest, 'a call while the store is down fails at once').toBeLessThan(1_000);

    // Long enough for the reminder, the escalation and the last deadline to fall due meanwhile.
    await sleep(1_500);
    expect(hereSettled).toBeUndefined();
    await redis.start();
    const upAt = Date.now();
    const downFor = upAt - downAt;

    // The same engine finds the server again by itself.
    let recoveredAt = 0;
    while (Date.now() - upAt < 10_000) {
      const probe = await attempt(() => hp.getTask(toDecide.id));
      if (probe.value) {
        recoveredAt = Date.now();
        break;
      }
      expect(isStoreUnavailable(probe.error), String(probe.error)).toBe(true);
      await sleep(50);
    }
    expect(recoveredAt, 'the engine works again within 10 s of the server coming back').toBeGreaterThan(0);

    // Nothing half-written: the refused decision left the task pending and a new one succeeds; the
    // refused requests left no task behind and go through now with the same keys.
    expect((await hp.getTask(toDecide.id)).status).toBe('pending');
    await hp.decide(toDecide.id, { outcome: 'approved', actor: owner });
    const during2 = await hp.requestHuman(task('outage/during'));
    expect((await chainOf(hp, during2.intentId)).events.map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
    ]);
    expect(await hp.submit({ type: 'report', idempotencyKey: 'outage/intent' })).toMatchObject({
      status: 'SUBMITTED',
    });

    // The burst: a call that was cut off either happened entirely or not at all; retried, it
    // completes, and each task holds exactly one creation and one decision.
    let halfWritten = 0;
    let retried = 0;
    let tookEffect = 0;
    for (const [n, burstTask] of burstTasks.entries()) {
      const outcome = decided[n] as Outcome<HumanTask>;
      if (outcome.error !== undefined) {
        retried++;
        const retry = await attempt(() => hp.decide(burstTask.id, { outcome: 'approved', actor: owner }));
        // ALREADY_DECIDED: the refused call had reached the server before it went away.
        if (retry.error !== undefined) {
          expect(retry.error).toMatchObject({ code: 'ALREADY_DECIDED' });
          tookEffect++;
        }
      }
      const chain = await chainOf(hp, burstTask.intentId);
      const types = chain.events.map((event) => event.type);
      if (
        !chain.verified ||
        JSON.stringify(types) !== JSON.stringify(['intent-submitted', 'task-created', 'task-decided'])
      ) {
        halfWritten++;
      }
    }
    for (let n = 0; n < 30; n++) {
      const outcome = requested[n] as Outcome<HumanTask>;
      const again = await hp.requestHuman(task(`outage/new/${n}`));
      if (outcome.error !== undefined) retried++;
      else expect(again.id).toBe(outcome.value?.id);
      const chain = await chainOf(hp, again.intentId);
      const types = chain.events.map((event) => event.type);
      if (!chain.verified || JSON.stringify(types) !== JSON.stringify(['intent-submitted', 'task-created']))
        halfWritten++;
    }

    // Waiters resume: the one in the other process gets the decision made here, and the one here
    // gets the decision that process makes.
    await hp.decide(waitedThere.id, { outcome: 'approved', comment: 'after the outage', actor: owner });
    const there = await waiter.next((line) => 'result' in line, 15_000);
    expect(there.result).toMatchObject({
      status: 'decided',
      taskId: waitedThere.id,
      comment: 'after the outage',
    });
    await waiter.next((line) => 'decided' in line, 15_000);
    expect(await finished(waiter.child)).toBe(0);
    const here = await hereResult;
    expect(here).toMatchObject({ status: 'decided', taskId: waitedHere.id, actor: { id: owner } });

    // Timers that fell due during the outage fire now, each once: reminder, escalation, timeout.
    await expect.poll(async () => (await hp.getTask(timed.id)).status, { interval: 100 }).toBe('decided');
    const timedChain = await chainOf(hp, timed.intentId);
    const fires = timerFires(timedChain.events, timed.id);
    expect(Object.fromEntries(fires.reminders)).toEqual({ 1: 1 });
    expect(Object.fromEntries(fires.escalations)).toEqual({ 1: 1 });
    // They fell due while the server was away, and fired once it was back.
    const firstFire = timedChain.events.find(
      (event) => event.type === 'task-reminded' || event.type === 'task-escalated',
    );
    expect(Date.parse(firstFire?.at ?? '')).toBeGreaterThanOrEqual(upAt);
    expect((await hp.getTask(timed.id)).decision).toMatchObject({ decidedBy: 'policy', outcome: 'rejected' });

    // Deliveries: none twice. Background work failed only with typed errors while Redis was away.
    await sleep(300);
    const duplicateDeliveries = deliveries.length - new Set(deliveries).size;
    const untyped = backgroundErrors.filter((error) => !HoldpointError.isInstance(error));
    const summary =
      `faults: redis outage: server SIGKILLed under a burst of ${burst.length} calls and restarted after ${seconds(downFor)}: ` +
      `${cutOff.length + refusedDuring} calls refused with STORE_UNAVAILABLE (retryable; slowest ${Math.round(slowest)} ms), ` +
      `0 other errors, ${halfWritten} half-written (${burst.length - cutOff.length} of the burst done, ${retried} cut off and retried, ${tookEffect} of those had taken effect), engine working again ${recoveredAt - upAt} ms after the restart, ` +
      `2 waiters resumed, timers fired once (1 reminder, 1 escalation, 1 timeout), ${duplicateDeliveries} duplicate deliveries, ` +
      `${backgroundErrors.length} background errors (${untyped.length} untyped), ${seconds(Date.now() - started)}`;
    console.log(summary);
    expect(halfWritten, summary).toBe(0);
    expect(duplicateDeliveries).toBe(0);
    expect(untyped.map(String)).toEqual([]);
    expect(
      waiter.lines.filter((line) => 'background' in line && String(line.background).startsWith('not a')),
    ).toEqual([]);
  }, 60_000);
});
