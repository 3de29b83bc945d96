// The channels' durable outbox, kept in the engine's store. Every delivery — one event to one webhook
// or one mailbox — is a record with a stable id, queued in a sorted index in the order its events
// happened; it leaves the queue only once it is delivered (marked done) or dead-lettered.
import { createHash } from 'node:crypto';
import type { AuditEvent, StoreBackend } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import { storeCall } from '../store-call.js';

/** Where a delivery goes. */
export type Channel = 'webhook' | 'email';

/** One event to one target. Immutable once queued: every attempt and replay sends the same. */
export interface Delivery {
  /** Stable across attempts, restarts and replays: receivers dedupe on it. */
  id: string;
  channel: Channel;
  /** The webhook's id, or the email address. */
  target: string;
  eventId: string;
  eventType: string;
  intentId: string;
  taskId: string;
  seq: number;
  occurredAt: string;
  /** The webhook body (JSON text), fixed when queued. */
  body?: string;
}

/** How a delivery is going. */
export interface DeliveryState {
  attempts: number;
  /** Not before this time (ms), after a failed attempt. */
  nextAt?: number;
  lastError?: string;
  /** Set when the last attempt failed: the delivery is in the dead letters. */
  deadAt?: string;
}

/** A delivery that ran out of attempts. */
export interface DeadLetter {
  id: string;
  channel: Channel;
  target: string;
  eventType: string;
  intentId: string;
  taskId: string;
  attempts: number;
  lastError: string;
  deadAt: string;
}

/** One delivered delivery, for an intent's timeline. */
export interface Delivered {
  id: string;
  channel: Channel;
  target: string;
  eventType: string;
  at: string;
}

const keys = {
  cursor: 'server:outbox:cursor',
  pending: 'server:outbox:pending',
  dead: 'server:outbox:dead',
  record: (id: string) => `server:outbox:delivery:${id}`,
  state: (id: string) => `server:outbox:state:${id}`,
  lease: (id: string) => `server:outbox:lease:${id}`,
  done: (id: string) => `server:outbox:done:${id}`,
  delivered: (intentId: string) => `server:outbox:delivered:${intentId}`,
};
// A done mark outlives any cursor that could still bring its event back by far.
const doneTtlMs = 30 * 86_400_000;
const maxDeadLetters = 10_000;

/** The stable id of one event to one target. */
export function deliveryIdOf(eventId: string, channel: Channel, target: string): string {
  return `dlv_${createHash('sha256').update(`${eventId}|${channel}|${target}`).digest('hex').slice(0, 32)}`;
}

/** The queue member of a delivery: its intent and seq order deliveries of one intent (and so of one task). */
function memberOf(delivery: Delivery): string {
  return `${delivery.intentId}|${String(delivery.seq).padStart(10, '0')}|${delivery.id}`;
}

function idOfMember(member: string): string {
  return member.slice(member.lastIndexOf('|') + 1);
}

/** The outbox's records in the store: what the sender works through and operators look at. */
export class OutboxStore {
  readonly #store: StoreBackend;

  constructor(store: StoreBackend) {
    this.#store = store;
  }

  #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return storeCall(this.#store, `outbox.${operation}`, run);
  }

  /** The feed cursor up to which events have been queued. */
  cursor(): Promise<string | undefined> {
    return this.#call('cursor', async () => (await this.#store.keyv.get(keys.cursor)) as string | undefined);
  }

  setCursor(cursor: string): Promise<void> {
    return this.#call('setCursor', async () => {
      await this.#store.keyv.set(keys.cursor, cursor);
    });
  }

  /**
   * Queue a delivery, unless it was delivered or dead-lettered already (an event read again after
   * a crash, or by a second server, queues nothing new). Idempotent.
   */
  async enqueue(delivery: Delivery): Promise<void> {
    await this.#call('enqueue', async () => {
      const [done] = await this.#store.readClaims([keys.done(delivery.id)]);
      if (done !== undefined) return;
      const state = (await this.#store.keyv.get(keys.state(delivery.id))) as DeliveryState | undefined;
      if (state?.deadAt !== undefined) return;
      if ((await this.#store.keyv.get(keys.record(delivery.id))) === undefined)
        await this.#store.keyv.set(keys.record(delivery.id), delivery);
      await this.#store.indexAdd(keys.pending, [
        { member: memberOf(delivery), score: Date.parse(delivery.occurredAt) },
      ]);
    });
  }

  /** Queued deliveries, oldest event first. */
  async pending(limit: number): Promise<Delivery[]> {
    return this.#call('pending', async () => {
      const entries = await this.#store.indexRange(keys.pending, { limit });
      const records = await Promise.all(
        entries.map(async (entry) => {
          const record = (await this.#store.keyv.get(keys.record(idOfMember(entry.member)))) as
            | Delivery
            | undefined;
          // A queue entry whose record is gone cannot be sent; drop it.
          if (!record) await this.#store.indexRemove(keys.pending, [entry.member]);
          return record;
        }),
      );
      return records.filter((record): record is Delivery => record !== undefined);
    });
  }

  state(id: string): Promise<DeliveryState> {
    return this.#call(
      'state',
      async () =>
        ((await this.#store.keyv.get(keys.state(id))) as DeliveryState | undefined) ?? { attempts: 0 },
    );
  }

  /** Take the lease to send a delivery (one sender at a time, across servers). */
  lease(id: string, holder: string, ms: number): Promise<boolean> {
    return this.#call('lease', () => this.#store.claim(keys.lease(id), holder, ms));
  }

  release(id: string, holder: string): Promise<void> {
    return this.#call('release', () => this.#store.releaseClaim(keys.lease(id), holder));
  }

  async isDone(id: string): Promise<boolean> {
    const [done] = await this.#call('isDone', () => this.#store.readClaims([keys.done(id)]));
    return done !== undefined;
  }

  /** Mark delivered: done first (so no one sends it again), then off the queue. */
  async markDelivered(delivery: Delivery): Promise<void> {
    const at = new Date().toISOString();
    await this.#call('markDelivered', async () => {
      await this.#store.claim(keys.done(delivery.id), at, doneTtlMs);
      await this.#store.indexAdd(keys.delivered(delivery.intentId), [
        {
          member: `${delivery.channel}|${delivery.target}|${delivery.eventType}|${delivery.id}`,
          score: Date.parse(at),
        },
      ]);
      await this.#store.indexRemove(keys.pending, [memberOf(delivery)]);
      await this.#store.keyv.delete(keys.state(delivery.id));
    });
  }

  /** Record a failed attempt; after it is retried at `nextAt`. */
  async markFailed(delivery: Delivery, state: DeliveryState): Promise<void> {
    await this.#call('markFailed', () => this.#store.keyv.set(keys.state(delivery.id), state));
  }

  /** Out of attempts: into the dead letters, off the queue. */
  async markDead(delivery: Delivery, state: DeliveryState): Promise<void> {
    const deadAt = new Date().toISOString();
    await this.#call('markDead', async () => {
      await this.#store.keyv.set(keys.state(delivery.id), { ...state, deadAt });
      await this.#store.indexAdd(keys.dead, [{ member: delivery.id, score: Date.parse(deadAt) }]);
      await this.#store.indexRemove(keys.pending, [memberOf(delivery)]);
    });
  }

  /** Drop a queued delivery that is already settled (delivered elsewhere, or dead). */
  async unqueue(delivery: Delivery): Promise<void> {
    await this.#call('unqueue', () => this.#store.indexRemove(keys.pending, [memberOf(delivery)]));
  }

  /** The dead letters, oldest first. */
  async deadLetters(): Promise<DeadLetter[]> {
    return this.#call('deadLetters', async () => {
      const entries = await this.#store.indexRange(keys.dead, { limit: maxDeadLetters });
      const letters = await Promise.all(
        entries.map(async (entry): Promise<DeadLetter | undefined> => {
          const [record, state] = await Promise.all([
            this.#store.keyv.get(keys.record(entry.member)) as Promise<Delivery | undefined>,
            this.#store.keyv.get(keys.state(entry.member)) as Promise<DeliveryState | undefined>,
          ]);
          if (!record || !state?.deadAt) return undefined;
          return {
            id: record.id,
            channel: record.channel,
            target: record.target,
            eventType: record.eventType,
            intentId: record.intentId,
            taskId: record.taskId,
            attempts: state.attempts,
            lastError: state.lastError ?? '',
            deadAt: state.deadAt,
          };
        }),
      );
      return letters.filter((letter): letter is DeadLetter => letter !== undefined);
    });
  }

  /** Queue a dead letter again, with its attempts counted afresh and the same id. @throws ApiError NOT_FOUND */
  async replay(id: string): Promise<Delivery> {
    const record = (await this.#call('replay', () => this.#store.keyv.get(keys.record(id)))) as
      | Delivery
      | undefined;
    const state = record ? await this.state(id) : undefined;
    if (!record || state?.deadAt === undefined)
      throw new ApiError('NOT_FOUND', `No dead letter has id '${id}'`, {
        kind: 'dead-letter',
        id,
        field: 'path.id',
      });
    await this.#call('replay', async () => {
      await this.#store.keyv.set(keys.state(id), { attempts: 0 } satisfies DeliveryState);
      await this.#store.indexAdd(keys.pending, [
        { member: memberOf(record), score: Date.parse(record.occurredAt) },
      ]);
      await this.#store.indexRemove(keys.dead, [id]);
    });
    return record;
  }

  /** What was delivered for an intent, oldest first. */
  async delivered(intentId: string): Promise<Delivered[]> {
    const entries = await this.#call('delivered', () =>
      this.#store.indexRange(keys.delivered(intentId), { limit: 1000 }),
    );
    return entries.map((entry) => {
      const [channel, target, eventType, id] = entry.member.split('|') as [Channel, string, string, string];
      return { id, channel, target, eventType, at: new Date(entry.score).toISOString() };
    });
  }
}

/** A feed event as a delivery to one target. */
export function deliveryOf(event: AuditEvent, channel: Channel, target: string, body?: string): Delivery {
  return {
    id: deliveryIdOf(event.id, channel, target),
    channel,
    target,
    eventId: event.id,
    eventType: event.type,
    intentId: event.intentId,
    taskId: event.taskId as string,
    seq: event.seq,
    occurredAt: event.at,
    ...(body === undefined ? {} : { body }),
  };
}
