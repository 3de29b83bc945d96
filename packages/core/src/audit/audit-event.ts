import { canonicalJson, sha256Hex } from '../canonical-json.js';
import type { Actor } from '../model.js';

/** Names of audit events, noun-verb like the AI SDK's `tool-approval-request`. */
export type AuditEventType =
  | 'intent-submitted'
  | 'intent-completed'
  | 'intent-failed'
  | 'intent-canceled'
  | 'task-created'
  | 'task-reminded'
  | 'task-escalated'
  | 'task-voted'
  | 'task-decided'
  | 'task-timed-out'
  | 'task-canceled'
  /** Someone not assigned tried to decide (recorded once per person and task; the decision was refused). */
  | 'task-decision-refused'
  /** An assignee did something that is not a decision (declined to answer where they were asked); the task stays pending. */
  | 'task-noted'
  /** A timer could not be fired and retrying would not help: it was dropped (recorded once). */
  | 'task-timer-failed';

/**
 * Events after which an intent takes no more changes: an export that ends with one is the whole chain.
 */
export const chainEndingEvents: ReadonlySet<string> = new Set<AuditEventType>([
  'intent-completed',
  'intent-failed',
  'intent-canceled',
  'task-timed-out',
]);

/**
 * One change of an intent or its tasks. Events of an intent form a hash chain: `seq` counts from 1,
 * `prevHash` is the previous event's `hash` (`null` for the first), and `hash` is the SHA-256 of the
 * canonical JSON of the event without `hash`.
 */
export interface AuditEvent {
  /** Unique id of the event (stable across retries of the same change). */
  id: string;
  intentId: string;
  seq: number;
  type: AuditEventType;
  /** ISO time the event was recorded. */
  at: string;
  /** Who caused it; `null` for the engine itself (timers, policies). */
  actor: Actor | null;
  taskId?: string;
  data: Record<string, unknown>;
  prevHash: string | null;
  hash: string;
}

/** An event before it is sealed into the chain. */
export type UnsealedEvent = Omit<AuditEvent, 'hash'>;

/** The hash an event must carry: SHA-256 over canonical JSON of everything but `hash`. */
export function hashEvent(event: UnsealedEvent | AuditEvent): string {
  const { hash: _ignored, ...rest } = event as AuditEvent;
  return sha256Hex(canonicalJson(rest));
}

/** Seal an event with its hash. */
export function sealEvent(event: UnsealedEvent): AuditEvent {
  return { ...event, hash: hashEvent(event) };
}
