import type { KeyObject } from 'node:crypto';
import { randomBytes, randomUUID } from 'node:crypto';
import { type AuditEvent, type AuditEventType, sealEvent } from '../audit/audit-event.js';
import { type AuditVerification, exportAudit, verifyAudit } from '../audit/audit-export.js';
import { generateSigningKey, type SigningKey, signingKeyFrom } from '../audit/signing.js';
import { type Duration, parseDuration } from '../duration.js';
import { AlreadyDecidedError } from '../errors/already-decided-error.js';
import { EngineClosedError } from '../errors/engine-closed-error.js';
import { HoldpointError } from '../errors/holdpoint-error.js';
import { IdempotencyConflictError } from '../errors/idempotency-conflict-error.js';
import { InvalidOutcomeError } from '../errors/invalid-outcome-error.js';
import { InvalidStateError } from '../errors/invalid-state-error.js';
import { NotAssignedError } from '../errors/not-assigned-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { StaleVersionError } from '../errors/stale-version-error.js';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Actor, Decision, HumanResult, HumanTask, Intent, TaskStatus, Vote } from '../model.js';
import type { StoreBackend } from '../store/store-backend.js';
import { taskTypeRules } from '../task-types.js';
import { formDataProblems } from './form-schema.js';
import { applyEvent, type IntentState, isFinalIntentStatus } from './intent-state.js';
import {
  type DecideInput,
  jsonOnly,
  type NormalizedRequest,
  normalizeActor,
  normalizeDecision,
  normalizeRequest,
  normalizeSubmit,
  policyOutcome,
  type RequestHumanOptions,
  type SubmitOptions,
} from './options.js';

/** What the delivery hook is told about. */
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

/** Settings the engine runs with, after validation. */
export interface EngineSettings {
  /** Safety-net poll for waiters and timers, in ms. */
  pollIntervalMs: number;
  /** Whether this engine fires due timers and drains the delivery outbox. */
  runTimers: boolean;
  /** How long an undelivered notification waits before another engine takes it over, in ms. */
  outboxGraceMs: number;
  notify?: (notification: Notification) => void | Promise<void>;
  auditKey?: string | KeyObject;
  /** Called with errors of background work (timers, deliveries) that have no caller to throw to. */
  onError: (error: unknown) => void;
  now: () => number;
}

/** Options of `waitForHuman`. */
export interface WaitForHumanOptions extends RequestHumanOptions {
  /** Stops this wait (the promise rejects with the signal's reason); the task stays. */
  signal?: AbortSignal;
}

/** A page of the event feed. */
export interface EventPage {
  events: AuditEvent[];
  /** Pass as `since` to read on; absent when no event was read. */
  cursor?: string;
}

interface IdempotencyRecord {
  fingerprint: string;
  intentId: string;
  taskId: string;
  implicitIntent: boolean;
  request: NormalizedRequest;
}

interface Waiter {
  taskId: string;
  resolve: (result: HumanResult) => void;
  reject: (error: unknown) => void;
}

/** The change `append` is asked to record, or `null` when there is nothing left to do. */
interface Change {
  type: AuditEventType;
  taskId?: string;
  actor?: Actor | null;
  data: Record<string, unknown>;
}

const notifyingEvents = new Set<string>(notificationTypes);
const probeWindow = 8;
const snapshotEvery = 8;
const cacheLimit = 2_000;
const dueIndex = 'due';
const outboxIndex = 'outbox';
const tasksIndex = 'tasks';
const pendingIndex = 'pending';
const eventsIndex = 'events';
const timerLeaseMs = 10_000;
const duePage = 100;
const fireConcurrency = 8;
// Claims that a notification went out outlive its outbox entry by far, then lapse.
const notifiedTtlMs = 7 * 86_400_000;
// Notifications no engine with a delivery hook took within a day are dropped by engines without one.
const outboxRetentionMs = 86_400_000;
const leaseRetryMs = 250;
// Node runs a longer setTimeout at once (after 1 ms); a far timer is re-armed when this one fires.
const maxTimerDelayMs = 2_147_483_647;

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** Task ids carry their intent's id, so finding a task costs no extra read. */
function newTaskId(intentId: string): string {
  return `tsk_${intentId.slice(4)}.${randomBytes(5).toString('base64url')}`;
}

function intentIdOfTask(taskId: string): string | undefined {
  const match = /^tsk_([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/.exec(taskId);
  return match ? `int_${match[1]}` : undefined;
}

function eventKey(intentId: string, seq: number): string {
  return `ev:${intentId}:${seq}`;
}

function assigneeIndex(assignee: string): string {
  return `assignee:${assignee}`;
}

function pendingAssigneeIndex(assignee: string): string {
  return `pending:${assignee}`;
}

/** Task indexes are scored by minus the creation time, so that reading them in order is newest first. */
function taskEntry(task: { id: string; createdAt: string }): { member: string; score: number } {
  return { member: task.id, score: -Date.parse(task.createdAt) };
}

function fingerprintOf(request: NormalizedRequest): string {
  return JSON.stringify([request.type, [...request.assignees].sort(), request.versionDigest]);
}

function resultOf(task: HumanTask): HumanResult | undefined {
  const base = { taskId: task.id, intentId: task.intentId, versionDigest: task.versionDigest };
  switch (task.status) {
    case 'decided': {
      const decision = task.decision as Decision;
      return {
        ...base,
        status: 'decided',
        outcome: decision.outcome,
        ...(decision.comment === undefined ? {} : { comment: decision.comment }),
        ...(decision.data === undefined ? {} : { data: decision.data }),
        ...(decision.evidence === undefined ? {} : { evidence: decision.evidence }),
        actor: decision.actor,
        decidedBy: decision.decidedBy,
        decidedAt: decision.decidedAt,
        ...(decision.votes === undefined ? {} : { votes: decision.votes }),
      };
    }
    case 'timed_out':
      return { ...base, status: 'timed_out', decidedBy: 'policy', actor: null, decidedAt: task.updatedAt };
    case 'canceled':
      return { ...base, status: 'canceled', decidedAt: task.updatedAt };
    default:
      return undefined;
  }
}

/** The task if it still waits for a human (pending, in an intent that is not final). */
function pendingTask(state: IntentState, taskId: string): HumanTask | undefined {
  const task = state.tasks[taskId];
  return task?.status === 'pending' && !isFinalIntentStatus(state.intent.status) ? task : undefined;
}

/** A call's options: absent (then `{}`) or an object; anything else is refused. */
function optionsOf<T extends object>(options: T | undefined, where: string): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError({
      field: where,
      message: `${where}: expected an options object, got ${options === null ? 'null' : typeof options}`,
    });
  }
  return options;
}

/** A `reason` given to `cancel` or `cancelTask`: text, when given. */
function reasonOf(reason: unknown, field: string): Record<string, string> {
  if (reason === undefined) return {};
  if (typeof reason !== 'string') {
    throw new ValidationError({ field, message: `${field} must be a string, got ${typeof reason}` });
  }
  return { reason };
}

/** A shuffled copy (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other] as T, copy[index] as T];
  }
  return copy;
}

function wrapStoreError(store: StoreBackend, operation: string, error: unknown): unknown {
  if (HoldpointError.isInstance(error)) return error;
  return new StoreUnavailableError({ store: store.kind, operation, cause: error });
}

/**
 * The Holdpoint engine: durable human tasks with timers, escalation, quorum, version binding and a
 * signed audit chain, over any {@link StoreBackend}. Create it with `createHoldpoint`.
 *
 * Every change is one audit event, appended to its intent's hash chain with a first-writer-wins
 * `claim` on the next sequence number: two engines that race for the same change both read the
 * chain, both try to append at the same `seq`, and exactly one wins; the other re-reads and finds
 * the change already made (`ALREADY_DECIDED`) or applies its own on top. The chain is the record of
 * truth; everything else (snapshots, indexes, timers, the outbox) is derived from it or written
 * ahead of it, so a crash at any moment loses nothing that was acknowledged.
 */
export class HoldpointEngine {
  readonly #store: StoreBackend;
  readonly #ownsStore: boolean;
  readonly #settings: EngineSettings;
  readonly #engineId = randomUUID();
  readonly #cache = new Map<string, IntentState>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #listeners = new Set<(event: AuditEvent) => void>();
  #signingKey: Promise<SigningKey> | undefined;
  #unsubscribe: (() => void) | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #tickAt = Number.POSITIVE_INFINITY;
  #ticking: Promise<void> | undefined;
  #tickAgain = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /** @internal Use `createHoldpoint`. */
  constructor(store: StoreBackend, ownsStore: boolean, settings: EngineSettings) {
    this.#store = store;
    this.#ownsStore = ownsStore;
    this.#settings = settings;
  }

  /** @internal Start listening for wake-ups and firing timers; called by `createHoldpoint`. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#store.subscribe((message) => this.#onMessage(message));
    if (this.#settings.runTimers) {
      // Overdue timers fire now: time that passed while no engine ran counts.
      await this.#tick();
    }
  }

  /** The store backend this engine runs on. */
  get store(): StoreBackend {
    return this.#store;
  }

  // ---------------------------------------------------------------------------------------------
  // Intents

  /** Create an intent: a durable unit of agent work. The same `idempotencyKey` returns the same intent. */
  async submit(options: SubmitOptions): Promise<Intent> {
    this.#assertOpen('submit');
    const parsed = normalizeSubmit(options);
    let intentId = newId('int');
    let fresh = true;
    if (parsed.idempotencyKey !== undefined) {
      const record = JSON.stringify({ intentId, type: parsed.type });
      const won = await this.#claim(`idem:intent:${parsed.idempotencyKey}`, record);
      if (!won) {
        fresh = false;
        const existing = JSON.parse(
          (await this.#readClaim(`idem:intent:${parsed.idempotencyKey}`)) as string,
        ) as {
          intentId: string;
          type: string;
        };
        if (existing.type !== parsed.type) {
          throw new IdempotencyConflictError({
            idempotencyKey: parsed.idempotencyKey,
            existingId: existing.intentId,
            message: `submit: idempotencyKey '${parsed.idempotencyKey}' already belongs to intent ${existing.intentId} of type '${existing.type}', not '${parsed.type}'. Use a new key for new work.`,
          });
        }
        intentId = existing.intentId;
      }
    }
    const state = await this.#ensureIntent(
      intentId,
      parsed.type,
      parsed.input ?? null,
      parsed.idempotencyKey,
      fresh,
    );
    return structuredClone(state.intent);
  }

  /** The intent with this id. @throws NotFoundError */
  async getIntent(intentId: string): Promise<Intent> {
    this.#assertOpen('getIntent');
    return structuredClone((await this.#load(intentId)).intent);
  }

  /** Mark an intent's work done, with its result. Refused while a task is pending or when already final. */
  async complete(
    intentId: string,
    given: { result?: unknown; actor?: string | Actor } = {},
  ): Promise<Intent> {
    this.#assertOpen('complete');
    const options = optionsOf(given, 'complete');
    const actor = normalizeActor(options.actor, 'complete.actor');
    if (options.result !== undefined) jsonOnly(options.result, 'complete.result');
    const { state } = await this.#append(intentId, (current) => {
      this.#assertNotFinal(current, 'complete');
      const pending = current.intent.taskIds.filter((id) => current.tasks[id]?.status === 'pending');
      if (pending.length > 0) {
        throw new InvalidStateError({
          id: intentId,
          status: current.intent.status,
          message: `complete: intent ${intentId} still waits for ${pending.join(', ')}; decide or cancel those tasks first`,
        });
      }
      return { type: 'intent-completed', actor, data: { result: options.result ?? null } };
    });
    return structuredClone(state.intent);
  }

  /** Mark an intent failed; its pending tasks are canceled. */
  async fail(intentId: string, options: { error: string; actor?: string | Actor }): Promise<Intent> {
    this.#assertOpen('fail');
    if (typeof options?.error !== 'string' || options.error.trim() === '') {
      throw new ValidationError({ field: 'fail.error', message: "fail: give error: 'what went wrong'" });
    }
    const actor = normalizeActor(options.actor, 'fail.actor');
    const { state } = await this.#append(intentId, (current) => {
      this.#assertNotFinal(current, 'fail');
      return { type: 'intent-failed', actor, data: { error: options.error } };
    });
    this.#settleWaiters(state);
    return structuredClone(state.intent);
  }

  /** Cancel an intent; its pending tasks are canceled and their waiters get `status: 'canceled'`. */
  async cancel(intentId: string, given: { reason?: string; actor?: string | Actor } = {}): Promise<Intent> {
    this.#assertOpen('cancel');
    const options = optionsOf(given, 'cancel');
    const actor = normalizeActor(options.actor, 'cancel.actor');
    const data = reasonOf(options.reason, 'cancel.reason');
    const { state } = await this.#append(intentId, (current) => {
      this.#assertNotFinal(current, 'cancel');
      return { type: 'intent-canceled', actor, data };
    });
    this.#settleWaiters(state);
    return structuredClone(state.intent);
  }

  // ---------------------------------------------------------------------------------------------
  // Tasks

  /**
   * Create a human task (or return the one that holds `idempotencyKey`) without waiting.
   * @throws ValidationError, IdempotencyConflictError, NotFoundError (unknown `intentId`)
   */
  async requestHuman(options: RequestHumanOptions): Promise<HumanTask> {
    this.#assertOpen('requestHuman');
    const request = normalizeRequest(options, 'requestHuman');
    return structuredClone(await this.#request(request, 'requestHuman'));
  }

  /**
   * Create a human task and wait for its end: a decision, a timeout, or a cancellation. With the
   * same `idempotencyKey` a restarted agent is handed the same task — or its decision at once.
   *
   * @example
   * const result = await hp.waitForHuman({ task: 'approval', assignee: 'cfo@acme.test', timeout: '48h',
   *   escalateTo: ['deputy-cfo@acme.test'], idempotencyKey: 'q3-2026/cfo' });
   * if (result.status === 'decided' && result.outcome === 'approved') send();
   */
  async waitForHuman(options: WaitForHumanOptions): Promise<HumanResult> {
    this.#assertOpen('waitForHuman');
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ValidationError({
        field: 'waitForHuman.signal',
        message: 'waitForHuman.signal must be an AbortSignal',
      });
    }
    signal?.throwIfAborted();
    const request = normalizeRequest(options, 'waitForHuman');
    const task = await this.#request(request, 'waitForHuman');
    return this.#wait(task, signal);
  }

  /** The task with this id. @throws NotFoundError */
  async getTask(taskId: string): Promise<HumanTask> {
    this.#assertOpen('getTask');
    return structuredClone(await this.#loadTask(taskId));
  }

  /**
   * Tasks, newest first, optionally only those of one assignee (current assignees) or status.
   * Reads the tasks index (or the assignee's), not every record.
   */
  async listTasks(
    given: { assignee?: string; status?: TaskStatus; limit?: number } = {},
  ): Promise<HumanTask[]> {
    this.#assertOpen('listTasks');
    const options = optionsOf(given, 'listTasks');
    if (options.assignee !== undefined && typeof options.assignee !== 'string') {
      throw new ValidationError({
        field: 'listTasks.assignee',
        message: 'listTasks.assignee must be a string',
      });
    }
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new ValidationError({
        field: 'listTasks.limit',
        message: 'listTasks.limit must be an integer from 1 to 10000',
      });
    }
    const pending = options.status === 'pending';
    const index =
      options.assignee === undefined
        ? pending
          ? pendingIndex
          : tasksIndex
        : pending
          ? pendingAssigneeIndex(options.assignee)
          : assigneeIndex(options.assignee);
    // Indexes are newest first and may hold a few stale entries (written ahead of a change that did
    // not happen, or not yet cleaned after one that did): read a little more, filter by the state.
    const entries = await this.#guard('listTasks', () =>
      this.#store.indexRange(index, { limit: Math.min(10_000, pending ? limit * 2 : limit * 20) }),
    );
    const taskIds = entries.map((entry) => entry.member);
    const byIntent = new Map<string, string[]>();
    for (const taskId of taskIds) {
      const intentId = intentIdOfTask(taskId);
      if (intentId === undefined) continue;
      byIntent.set(intentId, [...(byIntent.get(intentId) ?? []), taskId]);
    }
    const states = new Map<string, IntentState | undefined>();
    await Promise.all(
      [...byIntent.keys()].map(async (intentId) => {
        states.set(
          intentId,
          await this.#load(intentId).catch((error) =>
            NotFoundError.isInstance(error) ? undefined : Promise.reject(error),
          ),
        );
      }),
    );
    const tasks: HumanTask[] = [];
    for (const taskId of taskIds) {
      const task = states.get(intentIdOfTask(taskId) as string)?.tasks[taskId];
      if (!task) continue;
      if (options.status !== undefined && task.status !== options.status) continue;
      if (options.assignee !== undefined && !task.assignees.includes(options.assignee)) continue;
      tasks.push(structuredClone(task));
      if (tasks.length >= limit) break;
    }
    return tasks;
  }

  /**
   * Record a human's decision. Refused — and nothing changes — when the task is already decided
   * (`ALREADY_DECIDED`), the actor is not a current assignee (`NOT_ASSIGNED`), the version the human
   * saw is not the task's (`STALE_VERSION`), the outcome is not allowed (`INVALID_OUTCOME`), or a
   * required comment, evidence or valid form data is missing (`VALIDATION`).
   */
  async decide(taskId: string, input: DecideInput): Promise<HumanTask> {
    this.#assertOpen('decide');
    const decision = normalizeDecision(input);
    const intentId = this.#intentIdOf(taskId);
    const { state } = await this.#append(intentId, (current) => {
      const task = this.#openTask(
        current,
        taskId,
        'decide',
        `the decision of ${decision.actor.id} was refused`,
      );
      if (decision.versionDigest !== undefined && decision.versionDigest !== task.versionDigest) {
        throw new StaleVersionError({
          taskId,
          expected: task.versionDigest,
          received: decision.versionDigest,
          message: `decide: ${decision.actor.id} saw version ${decision.versionDigest}, but task ${taskId} is at ${task.versionDigest}; show the current version and decide again`,
        });
      }
      if (!decision.asAdmin && !task.assignees.includes(decision.actor.id)) {
        throw new NotAssignedError({
          taskId,
          actor: decision.actor.id,
          message: `decide: ${decision.actor.id} is not assigned to task ${taskId} (assignees: ${task.assignees.join(', ')})`,
        });
      }
      if (!task.allowedOutcomes.includes(decision.outcome)) {
        throw new InvalidOutcomeError({
          taskId,
          allowedOutcomes: task.allowedOutcomes,
          message: `decide: '${decision.outcome}' is not an outcome of task ${taskId}; choose one of ${task.allowedOutcomes.join(', ')}`,
        });
      }
      this.#checkRequirements(task, decision);
      if (task.votes.some((vote) => vote.actor.id === decision.actor.id)) {
        throw new AlreadyDecidedError({
          taskId,
          status: task.status,
          message: `decide: ${decision.actor.id} already voted on task ${taskId}; each approver decides once`,
        });
      }
      const at = new Date(this.#settings.now()).toISOString();
      const vote: Vote = {
        actor: decision.actor,
        outcome: decision.outcome,
        ...(decision.comment === undefined ? {} : { comment: decision.comment }),
        at,
      };
      const positive = decision.outcome === task.allowedOutcomes[0];
      if (task.quorum > 1 && positive && task.votes.length + 1 < task.quorum) {
        return { type: 'task-voted', taskId, actor: decision.actor, data: { vote } };
      }
      const final: Decision = {
        outcome: decision.outcome,
        ...(decision.comment === undefined ? {} : { comment: decision.comment }),
        ...(decision.data === undefined ? {} : { data: decision.data }),
        ...(decision.evidence === undefined ? {} : { evidence: decision.evidence }),
        actor: decision.actor,
        decidedBy: 'human',
        decidedAt: at,
        versionDigest: decision.versionDigest ?? task.versionDigest,
        ...(task.quorum > 1 ? { votes: [...task.votes, vote] } : {}),
      };
      return {
        type: 'task-decided',
        taskId,
        actor: decision.actor,
        data: { decision: final, ...(decision.asAdmin ? { asAdmin: true } : {}) },
      };
    });
    return structuredClone(state.tasks[taskId] as HumanTask);
  }

  /** Cancel one pending task; its waiters get `status: 'canceled'`. */
  async cancelTask(
    taskId: string,
    given: { reason?: string; actor?: string | Actor } = {},
  ): Promise<HumanTask> {
    this.#assertOpen('cancelTask');
    const options = optionsOf(given, 'cancelTask');
    const actor = normalizeActor(options.actor, 'cancelTask.actor');
    const data = reasonOf(options.reason, 'cancelTask.reason');
    const intentId = this.#intentIdOf(taskId);
    const { state } = await this.#append(intentId, (current) => {
      this.#openTask(current, taskId, 'cancelTask', 'it was not canceled');
      return { type: 'task-canceled', taskId, actor, data };
    });
    return structuredClone(state.tasks[taskId] as HumanTask);
  }

  // ---------------------------------------------------------------------------------------------
  // Events and audit

  /**
   * Hear every audit event appended on this store — by this engine or, through the store's
   * wake-ups, by others. Returns the function that stops listening.
   */
  subscribe(listener: (event: AuditEvent) => void): () => void {
    this.#assertOpen('subscribe');
    if (typeof listener !== 'function') {
      throw new ValidationError({
        field: 'subscribe.listener',
        message: 'subscribe: give a function (event) => void',
      });
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Read the event feed of all intents in the order events were recorded, from after `since`
   * (a cursor from a previous page). Ordered by the recording engine's clock.
   */
  async events(given: { since?: string; limit?: number } = {}): Promise<EventPage> {
    this.#assertOpen('events');
    const options = optionsOf(given, 'events');
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ValidationError({
        field: 'events.limit',
        message: 'events.limit must be an integer from 1 to 1000',
      });
    }
    let min = Number.NEGATIVE_INFINITY;
    let after: { score: number; member: string } | undefined;
    if (options.since !== undefined) {
      const match = typeof options.since === 'string' ? /^(\d+)\|(.+)$/.exec(options.since) : null;
      if (!match) {
        throw new ValidationError({
          field: 'events.since',
          message: `events.since ${typeof options.since === 'string' ? `'${options.since}'` : `(a ${typeof options.since})`} is not a cursor returned by events()`,
        });
      }
      after = { score: Number(match[1]), member: match[2] as string };
      min = after.score;
    }
    const entries = await this.#guard('events', () =>
      this.#store.indexRange(eventsIndex, { min, limit: limit + 50 }),
    );
    const fresh = entries
      .filter((entry) => !after || entry.score > after.score || entry.member > after.member)
      .slice(0, limit);
    const keys = fresh.map((entry) => {
      const separator = entry.member.lastIndexOf(':');
      return eventKey(entry.member.slice(0, separator), Number(entry.member.slice(separator + 1)));
    });
    const values = keys.length === 0 ? [] : await this.#guard('events', () => this.#store.readClaims(keys));
    const events = values
      .filter((value): value is string => value !== undefined)
      .map((value) => JSON.parse(value) as AuditEvent);
    const last = fresh.at(-1);
    return { events, ...(last ? { cursor: `${last.score}|${last.member}` } : {}) };
  }

  /** Audit trail export and verification. */
  readonly audit = {
    /**
     * The intent's audit chain as JSONL, one event per line, with a last line that signs the chain
     * head with Ed25519 (key from `auditKey`, or generated on first use and kept in the store).
     */
    export: async (intentId: string): Promise<string> => {
      this.#assertOpen('audit.export');
      const events = await this.#readChain(intentId);
      return exportAudit(intentId, events, await this.#signingKeyOf());
    },
    /**
     * Check an export offline. Without `publicKey`, this engine's own key is used.
     * @returns `{ ok: true }`, or `{ ok: false, seq, reason }` naming the first broken event.
     */
    verify: async (
      jsonl: string,
      options: { publicKey?: string | KeyObject } = {},
    ): Promise<AuditVerification> => {
      if (typeof jsonl !== 'string') {
        throw new ValidationError({
          field: 'audit.verify.jsonl',
          message: 'audit.verify: give the JSONL text returned by audit.export',
        });
      }
      const publicKey = options.publicKey ?? (await this.#signingKeyOf()).publicKey;
      return verifyAudit(jsonl, { publicKey });
    },
    /** The SPKI PEM public key that signs this store's exports. */
    publicKey: async (): Promise<string> => (await this.#signingKeyOf()).publicKeyPem,
  };

  /** Stop timers and wake-ups; pending waits reject with `ENGINE_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#tickTimer);
    clearInterval(this.#pollTimer);
    this.#unsubscribe?.();
    for (const waiters of this.#waiters.values()) {
      for (const waiter of waiters)
        waiter.reject(
          new EngineClosedError({ message: 'waitForHuman: the engine was closed while waiting' }),
        );
    }
    this.#waiters.clear();
    await this.#ticking?.catch(() => undefined);
    if (this.#ownsStore) await this.#store.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: requests and waits

  async #request(request: NormalizedRequest, where: string): Promise<HumanTask> {
    if (request.idempotencyKey === undefined) {
      const intentId = request.intentId ?? newId('int');
      const implicit = request.intentId === undefined;
      return this.#createTask(intentId, newTaskId(intentId), request, implicit, implicit);
    }
    const key = `idem:task:${request.idempotencyKey}`;
    const intentId = request.intentId ?? newId('int');
    const mine: IdempotencyRecord = {
      fingerprint: fingerprintOf(request),
      intentId,
      taskId: newTaskId(intentId),
      implicitIntent: request.intentId === undefined,
      request,
    };
    let record = mine;
    let held: string | undefined;
    let won = false;
    // A refused request gives its key back (below); if that happens between a lost claim and the
    // read, the key is free again: claim it anew.
    while (!won && held === undefined) {
      won = await this.#claim(key, JSON.stringify(mine));
      if (!won) held = await this.#readClaim(key);
    }
    if (held !== undefined) {
      record = JSON.parse(held) as IdempotencyRecord;
      const sameIntent =
        request.intentId === undefined ? record.implicitIntent : record.intentId === request.intentId;
      if (record.fingerprint !== mine.fingerprint || !sameIntent) {
        throw new IdempotencyConflictError({
          idempotencyKey: request.idempotencyKey,
          existingId: record.taskId,
          message: `${where}: idempotencyKey '${request.idempotencyKey}' already belongs to task ${record.taskId}, created for another request (type, assignees, context or intent differ). Use a new key for a new request.`,
        });
      }
    }
    // The claim holds the whole request, so whoever comes next — this call, or the same agent after
    // a crash right here — finishes creating the task with the same ids.
    try {
      // An implicit intent whose id this call made (it won the key) cannot exist yet: nothing to read.
      const fresh = won && record.implicitIntent;
      return await this.#createTask(
        record.intentId,
        record.taskId,
        record.request,
        record.implicitIntent,
        fresh,
      );
    } catch (error) {
      // Refused for good (no such intent, or it is closed) on a key this call took: the key goes back,
      // as if the request had never been made, and is free for the corrected request.
      if (won && (NotFoundError.isInstance(error) || InvalidStateError.isInstance(error))) {
        await this.#store.releaseClaim(key, JSON.stringify(mine)).catch(() => undefined);
      }
      throw error;
    }
  }

  async #createTask(
    intentId: string,
    taskId: string,
    request: NormalizedRequest,
    implicitIntent: boolean,
    freshIntent: boolean,
  ): Promise<HumanTask> {
    let state = implicitIntent
      ? await this.#ensureIntent(intentId, 'human-task', null, request.idempotencyKey, freshIntent)
      : await this.#load(intentId);
    const existing = state.tasks[taskId];
    if (existing) return existing;
    this.#assertNotFinal(state, 'requestHuman');
    const nowMs = this.#settings.now();
    const at = new Date(nowMs).toISOString();
    const task: HumanTask = {
      id: taskId,
      intentId,
      type: request.type,
      title: request.title,
      ...(request.description === undefined ? {} : { description: request.description }),
      context: request.context,
      versionDigest: request.versionDigest,
      assignees: [...request.assignees],
      originalAssignees: [...request.assignees],
      quorum: request.quorum,
      allowedOutcomes: request.allowedOutcomes,
      ...(request.schema === undefined ? {} : { schema: request.schema }),
      status: 'pending',
      createdAt: at,
      updatedAt: at,
      ...(request.timeoutMs === undefined
        ? {}
        : { timeoutMs: request.timeoutMs, deadlineAt: new Date(nowMs + request.timeoutMs).toISOString() }),
      ...(request.remind === undefined ? {} : { remind: request.remind }),
      remindersSent: 0,
      escalateTo: request.escalateTo,
      escalationLevel: 0,
      reassign: request.reassign,
      onTimeout: request.onTimeout,
      ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
      votes: [],
      ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
    };
    // Written ahead of the event: index entries and timers for a task that ends up not existing
    // are dropped when read, while a task that exists always has them.
    const timers: { member: string; score: number }[] = [];
    if (request.timeoutMs !== undefined)
      timers.push({ member: `${taskId}|deadline|0`, score: nowMs + request.timeoutMs });
    if (request.remind !== undefined)
      timers.push({ member: `${taskId}|remind|1`, score: nowMs + request.remind.afterMs });
    const ahead = () => [
      this.#store.indexAdd(tasksIndex, [taskEntry(task)]),
      ...this.#indexAssignees(task, request.assignees),
      ...(timers.length > 0 ? [this.#store.indexAdd(dueIndex, timers)] : []),
    ];
    const result = await this.#append(
      intentId,
      (current) => {
        if (current.tasks[taskId]) return null;
        this.#assertNotFinal(current, 'requestHuman');
        return { type: 'task-created', taskId, actor: null, data: { task } };
      },
      { ahead, from: state },
    );
    state = result.state;
    if (result.event && this.#settings.runTimers && timers.length > 0)
      this.#scheduleTick(Math.min(...timers.map((timer) => timer.score)));
    return state.tasks[taskId] as HumanTask;
  }

  async #wait(task: HumanTask, signal: AbortSignal | undefined): Promise<HumanResult> {
    const done = resultOf(task);
    if (done) return done;
    signal?.throwIfAborted();
    return new Promise<HumanResult>((resolve, reject) => {
      const waiter: Waiter = {
        taskId: task.id,
        resolve: (result) => {
          cleanup();
          resolve(result);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      };
      const onAbort = () => waiter.reject(signal?.reason);
      const cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        const set = this.#waiters.get(task.id);
        set?.delete(waiter);
        if (set?.size === 0) this.#waiters.delete(task.id);
        if (this.#waiters.size === 0) {
          clearInterval(this.#pollTimer);
          this.#pollTimer = undefined;
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.#waiters.get(task.id);
      if (!set) {
        set = new Set();
        this.#waiters.set(task.id, set);
      }
      set.add(waiter);
      // The slow poll is the safety net under the store's wake-ups; it also keeps the process alive
      // while an agent waits.
      this.#pollTimer ??= setInterval(() => void this.#pollWaiters(), this.#settings.pollIntervalMs);
      // The decision may have landed between reading the task and registering the waiter.
      void this.#checkTask(task.intentId, task.id);
    });
  }

  async #pollWaiters(): Promise<void> {
    const intents = new Set([...this.#waiters.keys()].map((taskId) => intentIdOfTask(taskId) as string));
    await Promise.all([...intents].map((intentId) => this.#checkIntent(intentId)));
  }

  async #checkTask(intentId: string, taskId: string): Promise<void> {
    if (!this.#waiters.has(taskId)) return;
    await this.#checkIntent(intentId);
  }

  async #checkIntent(intentId: string): Promise<void> {
    try {
      this.#settleWaiters(await this.#load(intentId));
    } catch (error) {
      // A store that is down now is retried by the next poll.
      if (!StoreUnavailableError.isInstance(error)) this.#settings.onError(error);
    }
  }

  #settleWaiters(state: IntentState): void {
    for (const taskId of state.intent.taskIds) {
      const waiters = this.#waiters.get(taskId);
      if (!waiters) continue;
      const task = state.tasks[taskId] as HumanTask;
      const result = resultOf(task);
      if (!result) continue;
      for (const waiter of [...waiters]) waiter.resolve(structuredClone(result));
    }
  }

  #onMessage(message: string): void {
    if (this.#closed) return;
    let parsed: { i?: string; s?: number; k?: string; e?: string; d?: number; o?: number };
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (parsed.e === this.#engineId) return;
    if (typeof parsed.i === 'string') {
      if (parsed.k !== undefined && this.#waiters.has(parsed.k)) void this.#checkIntent(parsed.i);
      if (this.#listeners.size > 0 && typeof parsed.s === 'number') void this.#emitRemote(parsed.i, parsed.s);
    }
    if (typeof parsed.d === 'number') this.#scheduleTick(parsed.d);
    if (parsed.o === 1 && this.#settings.notify) this.#scheduleTick(this.#settings.now());
  }

  async #emitRemote(intentId: string, seq: number): Promise<void> {
    try {
      const [value] = await this.#store.readClaims([eventKey(intentId, seq)]);
      if (value !== undefined) this.#emit(JSON.parse(value) as AuditEvent);
    } catch (error) {
      this.#settings.onError(error);
    }
  }

  #emit(event: AuditEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(structuredClone(event));
      } catch (error) {
        this.#settings.onError(error);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: the chain

  /**
   * The intent's state, recording `intent-submitted` first if the intent does not exist yet.
   * @param fresh the id was made by this very call, so there is nothing to read yet.
   */
  async #ensureIntent(
    intentId: string,
    type: string,
    input: unknown,
    idempotencyKey: string | undefined,
    fresh = false,
  ): Promise<IntentState> {
    const existing = fresh ? undefined : await this.#loadMaybe(intentId);
    if (existing) return existing;
    const { state } = await this.#append(
      intentId,
      (current) =>
        current.intent.seq > 0
          ? null
          : {
              type: 'intent-submitted',
              actor: null,
              data: { type, input, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) },
            },
      { from: this.#emptyState(intentId) },
    );
    return state;
  }

  /**
   * Append one event to an intent's chain. `build` looks at the current state and returns the change,
   * `null` when it is already made, or throws to refuse. Losing the race for the next `seq` re-reads
   * the chain and asks `build` again, so every rule is checked against the state the event extends.
   */
  async #append(
    intentId: string,
    build: (state: IntentState) => Change | null,
    options: {
      /** Writes to make ahead of the event, once a change is to be attempted. */
      ahead?: () => Array<Promise<unknown>>;
      /**
       * A state just read or built by the caller, to start from without reading again: safe,
       * because losing the claim on the next `seq` re-reads the chain anyway.
       */
      from?: IntentState;
    } = {},
  ): Promise<{ state: IntentState; event?: AuditEvent }> {
    const eventId = randomUUID();
    const notifies = { current: false };
    const ahead = options.ahead ?? (() => []);
    let state: IntentState = options.from ?? (await this.#load(intentId));
    let first = true;
    for (;;) {
      const change = build(state);
      if (change === null) return { state };
      if (first) {
        first = false;
        notifies.current = notifyingEvents.has(change.type);
        // Written ahead of the event, only once a change is to be attempted: index entries, timers
        // and outbox entries for a change that ends up not happening are dropped when read, while a
        // change that happens always has them.
        await this.#guard('write-ahead', () => {
          const writes = ahead();
          if (notifies.current) {
            // An engine with a delivery hook delivers its own events at once and leaves the entry
            // for others only if it dies first; an engine without one leaves it due now.
            const score = this.#settings.now() + (this.#settings.notify ? this.#settings.outboxGraceMs : 0);
            writes.push(this.#store.indexAdd(outboxIndex, [{ member: `${intentId}|${eventId}`, score }]));
          }
          return Promise.all(writes);
        });
      }
      const event = sealEvent({
        id: eventId,
        intentId,
        seq: state.intent.seq + 1,
        type: change.type,
        at: new Date(this.#settings.now()).toISOString(),
        actor: change.actor ?? null,
        ...(change.taskId === undefined ? {} : { taskId: change.taskId }),
        data: change.data,
        prevHash: state.headHash,
      });
      const won = await this.#claim(eventKey(intentId, event.seq), JSON.stringify(event));
      if (!won) {
        state = (await this.#loadMaybe(intentId, state)) ?? state;
        continue;
      }
      const next = applyEvent(state.intent.seq === 0 ? undefined : state, event);
      this.#remember(next);
      await this.#afterAppend(next, event, notifies.current);
      return { state: next, event };
    }
  }

  #emptyState(intentId: string): IntentState {
    return {
      intent: {
        id: intentId,
        type: '',
        input: null,
        status: 'CREATED',
        taskIds: [],
        createdAt: '',
        updatedAt: '',
        seq: 0,
      },
      tasks: {},
      headHash: null,
      recentEventIds: [],
    };
  }

  async #afterAppend(state: IntentState, event: AuditEvent, notifies: boolean): Promise<void> {
    const after: Array<Promise<unknown>> = [
      this.#store.publish(JSON.stringify(this.#wakeUp(state, event, notifies))),
      this.#store.indexAdd(eventsIndex, [
        { member: `${event.intentId}:${event.seq}`, score: Date.parse(event.at) },
      ]),
    ];
    if (event.seq % snapshotEvery === 0) after.push(this.#store.keyv.set(`intent:${event.intentId}`, state));
    // Tasks this event finished: their timers and pending-index entries go.
    const intentWide =
      event.type === 'intent-canceled' || event.type === 'intent-failed' || event.type === 'task-timed-out';
    const taskEnded =
      event.type === 'task-decided' || event.type === 'task-timed-out' || event.type === 'task-canceled';
    const ended = (intentWide ? state.intent.taskIds : taskEnded && event.taskId ? [event.taskId] : [])
      .map((id) => state.tasks[id] as HumanTask)
      .filter((task) => task.status !== 'pending');
    if (ended.length > 0) {
      after.push(
        this.#store.indexRemove(
          dueIndex,
          ended.flatMap((task) => this.#timerIdsOf(task)),
        ),
      );
      after.push(...this.#unindexPending(ended));
    }
    // The event is recorded; what follows is derived and repaired by later reads or ticks, so a
    // failure here is reported, not thrown at a caller whose change did happen.
    await Promise.all(after).catch((error) => this.#settings.onError(error));
    this.#emit(event);
    this.#settleWaiters(state);
    if (notifies && this.#settings.notify) await this.#deliver(state, event);
  }

  /**
   * The wake-up message for other engines: which intent and task changed, when this change's timers
   * fall due (`d`), and whether it left a notification for an engine with a delivery hook (`o`).
   */
  #wakeUp(state: IntentState, event: AuditEvent, notifies: boolean): Record<string, unknown> {
    const message: Record<string, unknown> = { i: event.intentId, s: event.seq, e: this.#engineId };
    if (event.taskId) {
      message.k = event.taskId;
      const task = state.tasks[event.taskId];
      if (task?.status === 'pending' && (task.deadlineAt || task.remind)) {
        const dues = [task.deadlineAt ? Date.parse(task.deadlineAt) : Number.POSITIVE_INFINITY];
        if (task.remind) dues.push(Date.parse(task.createdAt) + task.remind.afterMs);
        message.d = Math.min(...dues);
      }
    }
    if (notifies && !this.#settings.notify) message.o = 1;
    return message;
  }

  /** Index a task under its (new) assignees: all their tasks, and their pending ones. */
  #indexAssignees(task: HumanTask, assignees: readonly string[]): Array<Promise<void>> {
    const entry = [taskEntry(task)];
    return [
      this.#store.indexAdd(pendingIndex, entry),
      ...assignees.flatMap((assignee) => [
        this.#store.indexAdd(assigneeIndex(assignee), entry),
        this.#store.indexAdd(pendingAssigneeIndex(assignee), entry),
      ]),
    ];
  }

  /** Drop finished tasks from the pending indexes (a stale entry is filtered when read, so best effort). */
  #unindexPending(tasks: readonly HumanTask[]): Array<Promise<void>> {
    if (tasks.length === 0) return [];
    const ids = tasks.map((task) => task.id);
    const assignees = new Set(tasks.flatMap((task) => task.assignees));
    return [
      this.#store.indexRemove(pendingIndex, ids),
      ...[...assignees].map((assignee) => this.#store.indexRemove(pendingAssigneeIndex(assignee), ids)),
    ];
  }

  #timerIdsOf(task: HumanTask): string[] {
    const ids = [`${task.id}|deadline|${task.escalationLevel}`];
    if (task.remind) ids.push(`${task.id}|remind|${task.remindersSent + 1}`);
    return ids;
  }

  #remember(state: IntentState): void {
    this.#cache.delete(state.intent.id);
    this.#cache.set(state.intent.id, state);
    if (this.#cache.size > cacheLimit) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
  }

  async #load(intentId: string): Promise<IntentState> {
    if (typeof intentId !== 'string') {
      throw new ValidationError({
        field: 'intentId',
        message: `intentId must be an intent id string such as 'int_…', got ${intentId === null ? 'null' : typeof intentId}`,
      });
    }
    const state = await this.#loadMaybe(intentId);
    if (!state)
      throw new NotFoundError({ kind: 'intent', id: intentId, message: `No intent has id '${intentId}'` });
    return state;
  }

  /**
   * The current state of an intent: the cached (or snapshotted) state, brought up to date by reading
   * the events after it — usually one round trip that finds none.
   */
  async #loadMaybe(intentId: string, known?: IntentState): Promise<IntentState | undefined> {
    if (typeof intentId !== 'string' || !intentId.startsWith('int_')) return undefined;
    let state = known ?? this.#cache.get(intentId);
    if (!state) {
      const snapshot = await this.#guard('read', () => this.#store.keyv.get(`intent:${intentId}`));
      state = (snapshot as IntentState | undefined) ?? undefined;
    }
    for (;;) {
      const from = (state?.intent.seq ?? 0) + 1;
      const keys = Array.from({ length: probeWindow }, (_, offset) => eventKey(intentId, from + offset));
      const values = await this.#guard('read', () => this.#store.readClaims(keys));
      let applied = 0;
      for (const value of values) {
        if (value === undefined) break;
        state = applyEvent(state, JSON.parse(value) as AuditEvent);
        applied++;
      }
      if (applied < probeWindow) break;
    }
    if (state && state.intent.seq > 0) {
      this.#remember(state);
      return state;
    }
    return undefined;
  }

  async #loadTask(taskId: string): Promise<HumanTask> {
    const intentId = this.#intentIdOf(taskId);
    const state = await this.#loadMaybe(intentId);
    const task = state?.tasks[taskId];
    if (!task) throw this.#taskNotFound(taskId);
    return task;
  }

  #intentIdOf(taskId: string): string {
    if (typeof taskId !== 'string' || taskId.length === 0) {
      throw new ValidationError({
        field: 'taskId',
        message: `taskId must be a task id string such as 'tsk_…', got ${typeof taskId === 'string' ? 'an empty string' : taskId === null ? 'null' : typeof taskId}`,
      });
    }
    const intentId = intentIdOfTask(taskId);
    if (intentId === undefined) throw this.#taskNotFound(taskId);
    return intentId;
  }

  /** The task if it is still pending; otherwise the refusal: `NOT_FOUND` or `ALREADY_DECIDED`. */
  #openTask(state: IntentState, taskId: string, where: string, refused: string): HumanTask {
    const task = state.tasks[taskId];
    if (!task) throw this.#taskNotFound(taskId);
    if (task.status !== 'pending') {
      throw new AlreadyDecidedError({
        taskId,
        status: task.status,
        message: `${where}: task ${taskId} is already ${task.status.replace('_', ' ')}; ${refused}`,
      });
    }
    return task;
  }

  #taskNotFound(taskId: string): NotFoundError {
    return new NotFoundError({ kind: 'task', id: taskId, message: `No task has id '${taskId}'` });
  }

  async #readChain(intentId: string): Promise<AuditEvent[]> {
    const state = await this.#load(intentId);
    const events: AuditEvent[] = [];
    for (let from = 1; from <= state.intent.seq; from += 256) {
      const to = Math.min(state.intent.seq, from + 255);
      const keys = Array.from({ length: to - from + 1 }, (_, offset) => eventKey(intentId, from + offset));
      const values = await this.#guard('audit.export', () => this.#store.readClaims(keys));
      for (const value of values) {
        if (value === undefined)
          throw new StoreUnavailableError({
            store: this.#store.kind,
            operation: 'audit.export (an event is missing)',
          });
        events.push(JSON.parse(value) as AuditEvent);
      }
    }
    return events;
  }

  #assertNotFinal(state: IntentState, where: string): void {
    if (isFinalIntentStatus(state.intent.status)) {
      throw new InvalidStateError({
        id: state.intent.id,
        status: state.intent.status,
        message: `${where}: intent ${state.intent.id} is ${state.intent.status} and takes no more changes`,
      });
    }
  }

  #checkRequirements(task: HumanTask, decision: ReturnType<typeof normalizeDecision>): void {
    const requires = taskTypeRules[task.type].requires;
    const where = `decide (task ${task.id}, type ${task.type})`;
    if (requires === 'comment' && (decision.comment === undefined || decision.comment.trim() === '')) {
      const what = task.type === 'override' ? 'a justification' : 'the answer';
      throw new ValidationError({
        field: 'decide.comment',
        message: `${where}: comment is required — give ${what} in comment`,
      });
    }
    if (
      requires === 'evidence' &&
      (decision.evidence === undefined || decision.evidence === null || decision.evidence === '')
    ) {
      throw new ValidationError({
        field: 'decide.evidence',
        message: `${where}: evidence is required — a link, a note or a list showing the work was done`,
      });
    }
    if (task.schema !== undefined && (decision.data !== undefined || requires === 'data')) {
      const problems = formDataProblems(task.schema, decision.data);
      if (problems.length > 0) {
        throw new ValidationError({
          field: 'decide.data',
          message: `${where}: data does not match the form: ${problems.join('; ')}`,
        });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: timers and the outbox

  #scheduleTick(at: number): void {
    if (this.#closed || !this.#settings.runTimers) return;
    const now = this.#settings.now();
    const when = Math.min(at, now + this.#settings.pollIntervalMs);
    if (this.#ticking) {
      if (when <= now) this.#tickAgain = true;
      else if (when < this.#tickAt) this.#armTick(when, now);
      return;
    }
    if (when >= this.#tickAt && this.#tickTimer) return;
    this.#armTick(when, now);
  }

  #armTick(when: number, now: number): void {
    clearTimeout(this.#tickTimer);
    this.#tickAt = when;
    this.#tickTimer = setTimeout(
      () => {
        this.#tickAt = Number.POSITIVE_INFINITY;
        this.#tickTimer = undefined;
        void this.#tick();
      },
      Math.min(maxTimerDelayMs, Math.max(0, when - now)),
    );
    // Timers alone do not keep a process alive; a waiting agent does (see #wait).
    this.#tickTimer.unref();
  }

  /** Fire what is due, drain the outbox, then sleep until the next due time (or the poll interval). */
  #tick(): Promise<void> {
    if (this.#ticking) {
      this.#tickAgain = true;
      return this.#ticking;
    }
    this.#ticking = (async () => {
      do {
        this.#tickAgain = false;
        if (this.#closed) return;
        try {
          await this.#fireDue();
          if (this.#settings.notify) await this.#drainOutbox();
          else await this.#pruneOutbox();
        } catch (error) {
          this.#settings.onError(error);
        }
      } while (this.#tickAgain && !this.#closed);
    })().finally(() => {
      this.#ticking = undefined;
      if (!this.#closed) void this.#planNextTick();
    });
    return this.#ticking;
  }

  async #planNextTick(): Promise<void> {
    try {
      const [next] = await this.#store.indexRange(dueIndex, { limit: 1 });
      const now = this.#settings.now();
      // A timer still due now is leased by another engine (or failed): look again a little later.
      this.#scheduleTick(
        next ? Math.max(next.score, now + leaseRetryMs) : now + this.#settings.pollIntervalMs,
      );
    } catch (error) {
      if (!StoreUnavailableError.isInstance(error)) this.#settings.onError(error);
      this.#scheduleTick(this.#settings.now() + this.#settings.pollIntervalMs);
    }
  }

  async #fireDue(): Promise<void> {
    for (;;) {
      const now = this.#settings.now();
      const due = await this.#store.indexRange(dueIndex, { max: now, limit: duePage });
      // Engines reading the same page start at different places, so they spread over it instead of
      // queueing for the same leases; within an engine a few tasks' timers fire at once, since a
      // firing mostly waits for the store. One task's timers fire in due order (a reminder before
      // the deadline that ends the task).
      const byTask = new Map<string, string[]>();
      for (const entry of due) {
        const taskId = entry.member.slice(0, entry.member.indexOf('|'));
        byTask.set(taskId, [...(byTask.get(taskId) ?? []), entry.member]);
      }
      const queue = shuffled([...byTask.values()]);
      let fired = 0;
      let failure: unknown;
      const worker = async () => {
        for (let timers = queue.pop(); timers !== undefined && !this.#closed; timers = queue.pop()) {
          for (const member of timers) {
            if (this.#closed) return;
            try {
              // Leased by another engine: leave this task's later timers for after it, too.
              if (!(await this.#fireLeased(member))) break;
              fired++;
            } catch (error) {
              failure ??= error;
              break;
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(fireConcurrency, queue.length) }, worker));
      if (failure !== undefined) throw failure;
      // A full page is read again only if this engine made progress: entries leased by other engines
      // are theirs, and are looked at again after the lease retry delay.
      if (due.length < duePage || fired === 0 || this.#closed) return;
    }
  }

  /** Fire one due timer under a lease; false when another engine holds the lease. */
  async #fireLeased(timerId: string): Promise<boolean> {
    // A lease keeps several engines from doing the same work; the chain keeps it exactly once.
    const lease = `lease:timer:${timerId}`;
    if (!(await this.#store.claim(lease, this.#engineId, timerLeaseMs))) return false;
    try {
      await this.#fireTimer(timerId);
      await this.#store.indexRemove(dueIndex, [timerId]);
      return true;
    } finally {
      await this.#store.releaseClaim(lease, this.#engineId).catch(() => undefined);
    }
  }

  async #fireTimer(timerId: string): Promise<void> {
    const [taskId = '', kind, countText] = timerId.split('|');
    const count = Number(countText);
    const intentId = intentIdOfTask(taskId);
    if (intentId === undefined) return;
    const state = await this.#loadMaybe(intentId);
    const task = state && pendingTask(state, taskId);
    if (!task) return;
    const nowMs = this.#settings.now();
    if (kind === 'remind' && task.remind) {
      const remind = task.remind;
      const ahead = () => {
        if (count >= remind.max || remind.everyMs === undefined) return [];
        const planned = Date.parse(task.createdAt) + remind.afterMs + count * remind.everyMs;
        // After a long stop, one overdue reminder goes out now, the next one a full interval later.
        const next = Math.max(planned, nowMs + remind.everyMs);
        return [this.#store.indexAdd(dueIndex, [{ member: `${taskId}|remind|${count + 1}`, score: next }])];
      };
      await this.#append(
        intentId,
        (current) => {
          const now = pendingTask(current, taskId);
          if (now?.remindersSent !== count - 1) return null;
          return {
            type: 'task-reminded',
            taskId,
            actor: null,
            data: { reminder: count, assignees: now.assignees },
          };
        },
        { ahead, from: state },
      );
      return;
    }
    if (kind === 'deadline') {
      if (task.escalationLevel !== count) return;
      const step = task.escalateTo[count];
      if (step) {
        const deadlineAt = nowMs + step.timeoutMs;
        const assignees = task.reassign ? [step.assignee] : [...new Set([...task.assignees, step.assignee])];
        const ahead = () => [
          this.#store.indexAdd(dueIndex, [{ member: `${taskId}|deadline|${count + 1}`, score: deadlineAt }]),
          ...this.#indexAssignees(task, [step.assignee]),
        ];
        await this.#append(
          intentId,
          (current) => {
            const now = pendingTask(current, taskId);
            if (now?.escalationLevel !== count) return null;
            return {
              type: 'task-escalated',
              taskId,
              actor: null,
              data: {
                level: count + 1,
                assignee: step.assignee,
                assignees,
                deadlineAt: new Date(deadlineAt).toISOString(),
              },
            };
          },
          { ahead, from: state },
        );
        return;
      }
      await this.#append(
        intentId,
        (current) => {
          const now = pendingTask(current, taskId);
          if (now?.escalationLevel !== count) return null;
          if (now.onTimeout === 'fail')
            return { type: 'task-timed-out', taskId, actor: null, data: { policy: 'fail' } };
          const decision: Decision = {
            outcome: policyOutcome(now.type, now.allowedOutcomes, now.onTimeout),
            actor: null,
            decidedBy: 'policy',
            decidedAt: new Date(this.#settings.now()).toISOString(),
            versionDigest: now.versionDigest,
            ...(now.votes.length > 0 ? { votes: now.votes } : {}),
          };
          return { type: 'task-decided', taskId, actor: null, data: { decision, policy: now.onTimeout } };
        },
        { from: state },
      );
    }
  }

  /** Hand one event to the delivery hook, at most once per event across all engines. */
  async #deliver(state: IntentState, event: AuditEvent): Promise<void> {
    const notify = this.#settings.notify;
    if (!notify || !event.taskId) return;
    const member = `${event.intentId}|${event.id}`;
    try {
      if (await this.#store.claim(`notified:${event.id}`, this.#engineId, notifiedTtlMs)) {
        const notification: Notification = {
          type: event.type as NotificationType,
          deliveryId: event.id,
          task: structuredClone(state.tasks[event.taskId] as HumanTask),
          intent: structuredClone(state.intent),
          event,
        };
        try {
          await notify(notification);
        } catch (error) {
          this.#settings.onError(error);
        }
      }
      await this.#store.indexRemove(outboxIndex, [member]);
    } catch (error) {
      // Left in the outbox: a later tick (here or on another engine) delivers it.
      this.#settings.onError(error);
    }
  }

  /**
   * Without a delivery hook this engine cannot deliver; it only drops notifications that no engine
   * with a hook took within the retention, so that a deployment without any hook does not keep them.
   */
  async #pruneOutbox(): Promise<void> {
    const stale = await this.#store.indexRange(outboxIndex, {
      max: this.#settings.now() - outboxRetentionMs,
      limit: 500,
    });
    if (stale.length > 0)
      await this.#store.indexRemove(
        outboxIndex,
        stale.map((entry) => entry.member),
      );
  }

  async #drainOutbox(): Promise<void> {
    const due = await this.#store.indexRange(outboxIndex, { max: this.#settings.now(), limit: 100 });
    for (const entry of due) {
      if (this.#closed) return;
      const separator = entry.member.indexOf('|');
      const intentId = entry.member.slice(0, separator);
      const eventId = entry.member.slice(separator + 1);
      const state = await this.#loadMaybe(intentId);
      const event = state ? await this.#findEvent(state, eventId) : undefined;
      if (!state || !event) {
        // The change this entry was written ahead of never happened (refused or crashed before it).
        if (entry.score < this.#settings.now() - this.#settings.outboxGraceMs) {
          await this.#store.indexRemove(outboxIndex, [entry.member]);
        }
        continue;
      }
      await this.#deliver(state, event);
    }
  }

  async #findEvent(state: IntentState, eventId: string): Promise<AuditEvent | undefined> {
    const position = state.recentEventIds.lastIndexOf(eventId);
    if (position < 0) return undefined;
    const seq = state.intent.seq - (state.recentEventIds.length - 1 - position);
    const [value] = await this.#store.readClaims([eventKey(state.intent.id, seq)]);
    return value === undefined ? undefined : (JSON.parse(value) as AuditEvent);
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: store access

  async #guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw wrapStoreError(this.#store, operation, error);
    }
  }

  #claim(key: string, value: string): Promise<boolean> {
    return this.#guard('claim', () => this.#store.claim(key, value));
  }

  async #readClaim(key: string): Promise<string | undefined> {
    const [value] = await this.#guard('read', () => this.#store.readClaims([key]));
    return value;
  }

  async #signingKeyOf(): Promise<SigningKey> {
    this.#signingKey ??= (async () => {
      if (this.#settings.auditKey !== undefined) return signingKeyFrom(this.#settings.auditKey);
      const generated = generateSigningKey();
      // First engine to need a key stores it; every other engine on the store uses that one.
      if (await this.#claim('audit:signing-key', generated.privateKeyPem)) return generated.key;
      return signingKeyFrom((await this.#readClaim('audit:signing-key')) as string);
    })().catch((error) => {
      this.#signingKey = undefined;
      throw error;
    });
    return this.#signingKey;
  }

  #assertOpen(operation: string): void {
    if (this.#closed)
      throw new EngineClosedError({
        message: `${operation}: the engine is closed; create a new one with createHoldpoint()`,
      });
  }
}

/** Parse the poll interval and friends. */
export function durationSetting(value: Duration | undefined, fallback: number, field: string): number {
  return value === undefined ? fallback : parseDuration(value, field);
}
