import type { AuditEvent } from '../audit/audit-event.js';
import type { HumanTask, Intent } from '../model.js';
import { layout, outboxMember, parseOutboxMember } from '../store/layout.js';
import type { StoreBackend } from '../store/store-backend.js';
import type { IntentState } from './intent-state.js';
import { yieldIfLong } from './yield.js';

/** The audit events that the delivery hook is told about. */
export const notificationTypes = [
  'task-created',
  'task-reminded',
  'task-escalated',
  'task-decided',
  'task-timed-out',
  'task-canceled',
] as const;

/** One of {@link notificationTypes}. */
export type NotificationType = (typeof notificationTypes)[number];

/** One thing to deliver to humans (email, webhook, inbox): the server's channels plug in here. */
export interface Notification {
  type: NotificationType;
  /** Stable id of this delivery (the audit event's id): the same event is never handed over twice. */
  deliveryId: string;
  task: HumanTask;
  intent: Intent;
  event: AuditEvent;
}

/** The delivery hook: `createHoldpoint({ notify })`. */
export type NotifyHook = (notification: Notification) => void | Promise<void>;

const notifying = new Set<string>(notificationTypes);

/** Whether an event of this type is handed to the delivery hook. */
export function isNotifying(type: string): boolean {
  return notifying.has(type);
}

// Claims that a notification went out outlive its outbox entry by far, then lapse.
const notifiedTtlMs = 7 * 86_400_000;
// Notifications no engine with a delivery hook took within a day are dropped by engines without one.
const outboxRetentionMs = 86_400_000;

/** What the outbox reads through the engine. */
export interface OutboxHost {
  /** The intent's current state holding `tasks`, `undefined` when it has no events. */
  loadMaybe(intentId: string, tasks?: readonly string[]): Promise<IntentState | undefined>;
  /** One of the intent's recent events by id. */
  findEvent(state: IntentState, eventId: string): Promise<AuditEvent | undefined>;
  /** The intent of a state, with its task ids. */
  intentOf(state: IntentState): Promise<Intent>;
}

/** Settings of the outbox. */
export interface OutboxOptions {
  store: StoreBackend;
  engineId: string;
  now: () => number;
  /** This engine's delivery hook, if it has one. */
  notify: NotifyHook | undefined;
  /** How long an engine with a hook has to deliver its own events before another takes over. */
  graceMs: number;
  onError: (error: unknown) => void;
  host: OutboxHost;
}

/** What the engine asks of its outbox (see {@link Outbox}). */
export interface OutboxQueue {
  /** Whether this engine delivers (has a hook). */
  readonly delivers: boolean;
  /** The outbox entry to write with a notifying event. */
  entry(intentId: string, eventId: string): { index: string; member: string; score: number };
  /** Deliver a notifying event this engine recorded (when it has a hook). */
  deliver(state: IntentState, event: AuditEvent): Promise<void>;
  /** Deliver what is due in the outbox. */
  drain(): Promise<void>;
  /** Stop delivering from the outbox. */
  close(): void;
}

/**
 * Delivery of task events to the `notify` hook, at most once per event across all engines. An entry
 * is written to the `outbox` index with each notifying event; the engine that records the event
 * delivers it at once if it has a hook, and otherwise (or if it dies first) an engine with a hook
 * delivers it from the outbox. Delivery claims `notified:<eventId>` before calling the hook.
 */
export class Outbox implements OutboxQueue {
  readonly #options: OutboxOptions;
  #closed = false;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  /** Stop delivering from the outbox (an event recorded meanwhile is still delivered by `deliver`). */
  close(): void {
    this.#closed = true;
  }

  /** Whether this engine delivers (has a hook). */
  get delivers(): boolean {
    return this.#options.notify !== undefined;
  }

  /**
   * The outbox entry written with a notifying event: due at once when this engine has no hook, after
   * the grace period when it has one (it delivers its own events itself).
   */
  entry(intentId: string, eventId: string): { index: string; member: string; score: number } {
    const { now, notify, graceMs } = this.#options;
    const score = now() + (notify ? graceMs : 0);
    return { index: layout.outboxIndex, member: outboxMember(intentId, eventId), score };
  }

  /** Hand one event to the delivery hook, at most once per event across all engines. The state holds the event's task. */
  async deliver(state: IntentState, event: AuditEvent): Promise<void> {
    const { store, engineId, notify, onError, host } = this.#options;
    if (!notify || !event.taskId) return;
    try {
      if (await store.claim(layout.notified(event.id), engineId, notifiedTtlMs)) {
        const notification: Notification = {
          type: event.type as NotificationType,
          deliveryId: event.id,
          task: structuredClone(state.tasks[event.taskId] as HumanTask),
          intent: await host.intentOf(state),
          event,
        };
        try {
          await notify(notification);
        } catch (error) {
          onError(error);
        }
      }
      await store.indexRemove(layout.outboxIndex, [outboxMember(event.intentId, event.id)]);
    } catch (error) {
      // Left in the outbox: a later round (here or on another engine) delivers it.
      onError(error);
    }
  }

  /** With a hook: deliver what is due in the outbox. Without: drop what no engine took within a day. */
  async drain(): Promise<void> {
    if (this.#options.notify) await this.#deliverDue();
    else await this.#prune();
  }

  async #deliverDue(): Promise<void> {
    const { store, now, graceMs, host } = this.#options;
    const due = await store.indexRange(layout.outboxIndex, { max: now(), limit: 100 });
    for (const entry of due) {
      if (this.#closed) return;
      // A turn for the event loop between deliveries (see the timer loop).
      await yieldIfLong();
      const { intentId, eventId } = parseOutboxMember(entry.member);
      const found = await host.loadMaybe(intentId);
      const event = found ? await host.findEvent(found, eventId) : undefined;
      if (!found || !event) {
        // No such event: an entry an older engine wrote ahead of a change that never happened.
        if (entry.score < now() - graceMs) await store.indexRemove(layout.outboxIndex, [entry.member]);
        continue;
      }
      const state =
        event.taskId === undefined || found.tasks[event.taskId]
          ? found
          : ((await host.loadMaybe(intentId, [event.taskId])) ?? found);
      await this.deliver(state, event);
    }
  }

  /**
   * Without a delivery hook this engine cannot deliver; it only drops notifications that no engine
   * with a hook took within the retention, so that a deployment without any hook does not keep them.
   */
  async #prune(): Promise<void> {
    const { store, now } = this.#options;
    const stale = await store.indexRange(layout.outboxIndex, { max: now() - outboxRetentionMs, limit: 500 });
    if (stale.length > 0)
      await store.indexRemove(
        layout.outboxIndex,
        stale.map((entry) => entry.member),
      );
  }
}
