import { randomBytes } from 'node:crypto';

/**
 * The engine's storage layout: every key, index name and message format it writes to a
 * {@link StoreBackend}, in one place. The engine, the tests and the docs (`docs/engine.md`) read
 * these names from here instead of spelling them out.
 *
 * Claims (first writer wins, `StoreBackend.claim`):
 * - `ev:<intentId>:<seq>` — the audit event with that sequence number: the chain itself.
 * - `idem:intent:<key>`, `idem:task:<key>` — idempotency keys, holding what they were used for.
 * - `audit:signing-key` — the generated Ed25519 key every engine on the store signs with.
 * - `lease:timer:<timerId>` (10 s) — an engine firing that timer; `notified:<eventId>` (7 days) — a
 *   notification handed to a delivery hook.
 *
 * Sorted indexes (`StoreBackend.indexAdd`): `due` (timers by due time), `outbox` (notifications by
 * when they may be taken over), and the task lists `list:…` (see {@link layout}), written with each
 * event by `StoreBackend.appendEvent` together with the counters `count:…`.
 *
 * The event feed is the store's own (`StoreBackend.appendEvent` / `readFeed`), written with each event.
 *
 * Records (`StoreBackend.appendEvent` / `readRecords`), written with each event: the intent's state
 * as of its latest event, kept so that reading or changing one task never reads or writes the rest —
 * `head:<intentId>` (the intent, its pending tasks and chain head), `task:<taskId>` (one task) and
 * `task-ids:<intentId>:<block>` (its task ids, 64 a block, each written once, when it fills).
 *
 * Keyv records: `intent:<intentId>`, a snapshot of the whole state that engines before the records
 * wrote every 8 events; read only for an intent that has no records yet.
 */
export const layout = {
  /** Claim key of the event `seq` of an intent's chain. */
  eventKey: (intentId: string, seq: number): string => `ev:${intentId}:${seq}`,
  /** Claim key of a `submit` idempotency key. */
  intentIdempotencyKey: (key: string): string => `idem:intent:${key}`,
  /** Claim key of a `requestHuman` / `waitForHuman` idempotency key. */
  taskIdempotencyKey: (key: string): string => `idem:task:${key}`,
  /** Claim key of the store's generated signing key. */
  signingKey: 'audit:signing-key',
  /** Lease key of an engine firing a timer. */
  timerLease: (timerId: string): string => `lease:timer:${timerId}`,
  /** Claim key recording that an event's notification was handed to a delivery hook. */
  notified: (eventId: string): string => `notified:${eventId}`,
  /** Keyv key of an intent's snapshot, as engines before the records wrote it (read, never written). */
  snapshotKey: (intentId: string): string => `intent:${intentId}`,
  /** Record of an intent's header: the intent, its pending tasks, its chain head. */
  intentRecord: (intentId: string): string => `head:${intentId}`,
  /** Record of one task (with its once-marks). */
  taskRecord: (taskId: string): string => `task:${taskId}`,
  /** Record of one block of an intent's task ids (the ids of tasks `block × 64` to `block × 64 + 63`). */
  taskIdsRecord: (intentId: string, block: number): string => `task-ids:${intentId}:${block}`,

  /** Index of timers, scored by due time in ms; members are timer ids ({@link timerId}). */
  dueIndex: 'due',
  /** Index of notifications to deliver, scored by when another engine may take them over. */
  outboxIndex: 'outbox',
  // Task lists: members are task ids; scored by minus the creation time (newest first, {@link
  // taskEntry}) except the deadline lists, scored by deadline (most overdue first). Status words
  // and task types hold no `:`, so no two of these names can collide whatever an assignee id holds.
  /** Every task. */
  listAll: 'list:all',
  /** Tasks in one status. */
  listStatus: (status: string): string => `list:status:${status}`,
  /** Tasks someone is or was assigned to. */
  listAssignee: (assignee: string): string => `list:assignee:${assignee}`,
  /** Tasks in one status that someone is (pending) or was (other statuses) assigned to. */
  listAssigneeStatus: (status: string, assignee: string): string =>
    `list:assignee-status:${status}:${assignee}`,
  /** Tasks of one type. */
  listType: (type: string): string => `list:type:${type}`,
  /** Tasks of one type in one status. */
  listTypeStatus: (type: string, status: string): string => `list:type-status:${type}:${status}`,
  /** Pending tasks with a deadline, by deadline. */
  listDeadline: 'list:deadline',
  /** Someone's pending tasks with a deadline, by deadline. */
  listAssigneeDeadline: (assignee: string): string => `list:assignee-deadline:${assignee}`,
  /** Counter of tasks in one status. */
  countStatus: (status: string): string => `count:status:${status}`,
  /** Counter of tasks in one status that someone is (pending) or was (other statuses) assigned to. */
  countAssigneeStatus: (status: string, assignee: string): string =>
    `count:assignee-status:${status}:${assignee}`,
} as const;

// ---------------------------------------------------------------------------------------------
// Ids

/** Digits and lowercase letters in ascending order, so that text order is numeric order under any collation. */
const SORTABLE_DIGITS = '0123456789abcdefghjkmnpqrstvwxyz';

/** `ms` as 10 base-32 digits (48 bits: until the year 10889): later times sort after earlier ones. */
function sortableTime(ms: number): string {
  let text = '';
  let rest = Math.max(0, Math.floor(ms));
  for (let digit = 0; digit < 10; digit++) {
    text = SORTABLE_DIGITS[rest % 32] + text;
    rest = Math.floor(rest / 32);
  }
  return text;
}

/**
 * A new id with a prefix: `int_<time><random>` — the creation time in ms as 10 base-32 digits, then
 * 9 random bytes (72 bits). Ids made later sort later, so the rows and index entries of new intents
 * and tasks go to the end of the stores' B-trees, beside each other, instead of to a random page of
 * each: the pages a new gate touches stay in memory however large the store grows, and gates
 * committed together share them (bench/RESULTS.md: an eighth of the timer lag on a large file).
 */
export function newId(prefix: string): string {
  return `${prefix}_${sortableTime(Date.now())}${randomText(9)}`;
}

/** Task ids carry their intent's id (`tsk_<intent>.<suffix>`), so finding a task costs no extra read. */
export function newTaskId(intentId: string): string {
  return `tsk_${intentId.slice(4)}.${randomText(5)}`;
}

/**
 * The random part of ids: cryptographic random bytes, each used once, drawn from a pool filled 4 KB
 * at a time (as Node does for `randomUUID`). A `randomBytes` call per id cost about 20 µs here, two
 * per gate: 3 % of a lone gate lifecycle's time on SQLite in a CPU profile.
 */
let pool = Buffer.alloc(0);
let poolOffset = 0;
function randomText(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  const text = pool.toString('base64url', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return text;
}

/** The intent a task id belongs to, or `undefined` when it is not a task id. */
export function intentIdOfTask(taskId: string): string | undefined {
  const match = /^tsk_([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/.exec(taskId);
  return match ? `int_${match[1]}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Index members

/** A timer: a task's reminder number `count`, or the deadline of escalation level `count`. */
export interface TimerId {
  taskId: string;
  kind: 'remind' | 'deadline';
  count: number;
}

/** The member of the `due` index that stands for a timer: `<taskId>|<kind>|<count>`. */
export function timerId(timer: TimerId): string {
  return `${timer.taskId}|${timer.kind}|${timer.count}`;
}

/** The timer a `due` member stands for, or `undefined` for a member that is not one. */
export function parseTimerId(member: string): TimerId | undefined {
  const [taskId = '', kind, countText] = member.split('|');
  const count = Number(countText);
  if (taskId === '' || (kind !== 'remind' && kind !== 'deadline') || !Number.isInteger(count)) {
    return undefined;
  }
  return { taskId, kind, count };
}

/** Task lists are scored by minus the creation time, so that reading them in order is newest first. */
export function taskEntry(task: { id: string; createdAt: string }): { member: string; score: number } {
  return { member: task.id, score: -Date.parse(task.createdAt) };
}

/** The member of the `outbox` index for one event's notification: `<intentId>|<eventId>`. */
export function outboxMember(intentId: string, eventId: string): string {
  return `${intentId}|${eventId}`;
}

/** The intent and event of an `outbox` member. */
export function parseOutboxMember(member: string): { intentId: string; eventId: string } {
  const separator = member.indexOf('|');
  return { intentId: member.slice(0, separator), eventId: member.slice(separator + 1) };
}

// ---------------------------------------------------------------------------------------------
// Wake-ups

/**
 * The message an engine publishes after each append, for the other engines on the store: which
 * intent changed (`intentId`, `seq`), which task (`taskId`), when that task's next timer falls due
 * (`due`), whether a notification waits for an engine with a delivery hook (`outbox`), who sent it
 * (`engineId`: an engine ignores its own), and whether the sender fires timers at all.
 */
export interface WakeUp {
  engineId: string;
  intentId: string;
  seq: number;
  /** The first of several events recorded in one transaction with event `seq` (they all are new). */
  firstSeq?: number;
  taskId?: string;
  due?: number;
  outbox?: boolean;
  /**
   * The sender fires no timers (`timers: false`): another engine need not lease its firings against
   * it. Absent on every other engine's wake-ups, and on those of engines before this field.
   */
  firesNoTimers?: boolean;
}

/** The wire form of a wake-up: short keys, since every append sends one. */
export function encodeWakeUp(wakeUp: WakeUp): string {
  const message: Record<string, unknown> = { i: wakeUp.intentId, s: wakeUp.seq, e: wakeUp.engineId };
  if (wakeUp.firstSeq !== undefined) message.f = wakeUp.firstSeq;
  if (wakeUp.taskId !== undefined) message.k = wakeUp.taskId;
  if (wakeUp.due !== undefined) message.d = wakeUp.due;
  if (wakeUp.outbox) message.o = 1;
  if (wakeUp.firesNoTimers) message.n = 1;
  return JSON.stringify(message);
}

/** A received wake-up, or `undefined` for a message that is not one (messages are hints: never trusted). */
export function decodeWakeUp(message: string): WakeUp | undefined {
  let parsed: {
    i?: unknown;
    s?: unknown;
    f?: unknown;
    k?: unknown;
    e?: unknown;
    d?: unknown;
    o?: unknown;
    n?: unknown;
  };
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  if (typeof parsed.i !== 'string' || typeof parsed.s !== 'number' || typeof parsed.e !== 'string') {
    return undefined;
  }
  return {
    intentId: parsed.i,
    seq: parsed.s,
    engineId: parsed.e,
    ...(Number.isSafeInteger(parsed.f) && (parsed.f as number) >= 1 && (parsed.f as number) <= parsed.s
      ? { firstSeq: parsed.f as number }
      : {}),
    ...(typeof parsed.k === 'string' ? { taskId: parsed.k } : {}),
    ...(typeof parsed.d === 'number' ? { due: parsed.d } : {}),
    ...(parsed.o === 1 ? { outbox: true } : {}),
    ...(parsed.n === 1 ? { firesNoTimers: true } : {}),
  };
}
