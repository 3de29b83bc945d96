import { randomBytes } from 'node:crypto';
import {
  createHoldpoint,
  type HumanTask,
  type RequestHumanOptions,
  type StoreBackend,
} from '@holdpoint/core';
import type Keyv from 'keyv';
import { writeOperations } from './counting-store.js';
import type { LifecycleTrace, TracedCall } from './trace.js';

/** A way to run gate lifecycles: the engine's, or the baseline's raw Keyv calls. */
export interface Gate {
  /** One lifecycle; throws when its result is not the expected one. */
  lifecycle(id: string): Promise<void>;
  /** After the run: check that the work was really done, and say what was checked. */
  check(): Promise<string>;
  close(): Promise<void>;
}

const approver = 'approver@bench.test';

/**
 * The gate every engine lifecycle asks for: an approval of a small JSON action with a deadline and
 * an idempotency key, as an agent that survives restarts asks (DESIGN §2, the quick start).
 */
function gateRequest(id: string): RequestHumanOptions {
  return {
    task: 'approval',
    title: 'Refund the customer',
    assignee: approver,
    context: {
      run: id,
      refund: { order: `ord-${id}`, amount: 129.5, currency: 'EUR', reason: 'damaged in transit' },
    },
    timeout: '1h',
    idempotencyKey: `bench/${id}`,
  };
}

/**
 * The engine's lifecycle: an agent calls `waitForHuman`; the human, told of the new task by the
 * engine's event feed (as the server's inbox and SSE are), decides it; the agent's waiter resolves
 * with the decision; the audit chain then holds intent-submitted, task-created and task-decided.
 */
export async function openEngineGate(
  store: StoreBackend,
  options: { notify: boolean },
  /** Another core's `createHoldpoint` (a baseline commit's): the default is this checkout's. */
  create: typeof createHoldpoint = createHoldpoint,
): Promise<Gate> {
  const errors: unknown[] = [];
  let notifications = 0;
  const hp = await create({
    store,
    ...(options.notify
      ? {
          notify: () => {
            notifications++;
          },
        }
      : {}),
    onError: (error) => errors.push(error),
  });
  const created = new Map<string, (task: HumanTask) => void>();
  hp.subscribe((event) => {
    if (event.type !== 'task-created') return;
    const task = event.data.task as HumanTask;
    const run = (task.context as { run: string }).run;
    created.get(run)?.(task);
    created.delete(run);
  });
  let lastIntentId: string | undefined;
  let lifecycles = 0;
  return {
    async lifecycle(id) {
      const announced = new Promise<HumanTask>((resolve) => created.set(id, resolve));
      const waiting = hp.waitForHuman(gateRequest(id));
      const task = await Promise.race([
        announced,
        waiting.then((result) => {
          throw new Error(`waitForHuman returned (${result.status}) before its task was decided`);
        }),
      ]);
      await hp.decide(task.id, { outcome: 'approved', actor: approver, versionDigest: task.versionDigest });
      const result = await waiting;
      if (result.status !== 'decided' || result.outcome !== 'approved' || result.taskId !== task.id) {
        throw new Error(`lifecycle ${id}: the waiter got ${JSON.stringify(result)}`);
      }
      lastIntentId = result.intentId;
      lifecycles++;
    },
    async check() {
      if (errors.length > 0)
        throw new Error(`the engine reported ${errors.length} background errors: ${String(errors[0])}`);
      if (lastIntentId === undefined) throw new Error('no lifecycle completed');
      const exported = await hp.audit.export(lastIntentId);
      const verification = await hp.audit.verify(exported);
      const events = exported.trim().split('\n').length - 1;
      if (!verification.ok || events !== 3) {
        throw new Error(`audit of ${lastIntentId}: ${events} events, ${JSON.stringify(verification)}`);
      }
      if (options.notify && notifications < 2 * lifecycles) {
        throw new Error(`notify was called ${notifications} times for ${lifecycles} lifecycles`);
      }
      return `last chain: ${events} events, signature verified${options.notify ? `; ${notifications} notifications` : ''}`;
    },
    async close() {
      await hp.close();
      await store.close();
    },
  };
}

/**
 * The baseline: the engine's lifecycle replayed by hand with raw Keyv calls on the same kind of
 * store — the same number of durable writes and reads, of the same sizes, in the same order and
 * the same parallel groups (from {@link recordLifecycleTrace}). Each write (`claim`, `indexAdd`,
 * `indexRemove`, `publish`, `keyv.set`) becomes a `set` of a record of its size; each read of
 * several keys (`readClaims`) a `getMany` of as many keys; `keyv.get` stays `get`. What is left out
 * is the engine's own work: validation, digests, the hash chain, replaying state, checking each change.
 */
export function openBaselineGate(keyv: Keyv, trace: LifecycleTrace, close: () => Promise<void>): Gate {
  const payloads = new Map<number, string>();
  const payload = (size: number) => {
    let text = payloads.get(size);
    if (text === undefined) {
      text = 'x'.repeat(size);
      payloads.set(size, text);
    }
    return text;
  };
  let last: { key: string; size: number } | undefined;
  return {
    async lifecycle() {
      // Keys are spread like the engine's (its ids are random), not clustered by a counter: where a
      // key lands in the B-tree decides how many pages a SQLite commit writes.
      const id = `int_${randomBytes(12).toString('base64url')}`;
      let written = 0;
      let read = 0;
      const replay = async (call: TracedCall): Promise<unknown> => {
        if (writeOperations.has(call.name)) {
          const key = `${id}/${written++}`;
          last = { key, size: call.size };
          return keyv.set(key, payload(call.size));
        }
        if (call.name === 'keyv.get') return keyv.get(`${id}/r${read++}`);
        // Keys of this lifecycle: those written so far are found, the others are not, as in the engine's probes.
        return keyv.getMany(Array.from({ length: Math.max(1, call.size) }, (_, index) => `${id}/${index}`));
      };
      for (const group of trace) {
        if (group.length === 1) await replay(group[0] as TracedCall);
        else await Promise.all(group.map(replay));
      }
    },
    async check() {
      if (last === undefined) throw new Error('no lifecycle completed');
      const value = await keyv.get(last.key);
      if (typeof value !== 'string' || value.length !== last.size) {
        throw new Error(`the baseline's last write was not stored: ${String(value)}`);
      }
      return 'last write read back';
    },
    close,
  };
}
