// The channels: webhooks and email, driven by the engine's event feed through a durable outbox.
// The feed is read from a cursor kept in the store; each notifying event becomes one delivery per
// target (queued idempotently, with a stable id) before the cursor moves on, so a crash at any point
// queues again what it had not queued, and a delivery leaves the queue only when it is done. That is
// at-least-once: a crash between a receiver's 2xx and the done mark sends it again with the same id.
import { randomBytes } from 'node:crypto';
import type { AuditEvent, Holdpoint, HumanTask } from '@holdpoint/core';
import { readFeed, rewindCursor } from '../engine-feed.js';
import type { TimelineEntry } from '../inbox/pages.js';
import type { People } from '../people/people.js';
import { isEmailAddress, type User } from '../people/users.js';
import { createMailer, type Mailer, type MailOptions, signInMail, taskMail } from './email.js';
import { type Delivery, deliveryOf, type OutboxStore } from './outbox.js';
import { signatureHeader, signWebhook } from './signature.js';
import type { StoredWebhook, Webhooks } from './webhooks.js';

/** Options of the channels (`createHoldpointServer({ channels })`). */
export interface ChannelOptions {
  /** The URL people reach the inbox by: links in mail start with it. */
  publicUrl: string;
  /** Email over SMTP; without it no mail is sent. */
  mail?: MailOptions;
  /**
   * Pauses before each retry of a failed delivery; after the last one it is a dead letter.
   * @default 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h (9 attempts over about 4 hours)
   */
  retryDelaysMs?: number[];
  /** How long one sender holds a delivery; a sender that died lets go after this. @default 30 s */
  leaseMs?: number;
  /** Time allowed for one webhook request. @default 10 s (and at most half the lease) */
  requestTimeoutMs?: number;
  /** How often the feed and the queue are read when nothing wakes the sender. @default 1 s */
  pollMs?: number;
  /** Targets sent to at once (each target's deliveries of one task go one by one, in order). @default 8 */
  concurrency?: number;
  /** Failures of the sender itself (store down, a bug). @default console.error */
  onError?: (error: unknown) => void;
}

// How far back each feed read starts (see `rewindCursor`).
const feedRewindMs = 10_000;
const defaultRetryDelaysMs = [1000, 5000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000];
const mailedTypes = new Set(['task-created', 'task-reminded', 'task-escalated']);
const notifyingTypes = new Set([
  'task-created',
  'task-reminded',
  'task-escalated',
  'task-decided',
  'task-timed-out',
  'task-canceled',
]);

/** The running channels of one server. */
export interface Channels {
  /** Start reading the feed and sending. */
  start(): Promise<void>;
  /** Read the feed and send what is due now (also what `start` does on its own). */
  runOnce(): Promise<void>;
  /** What was delivered for an intent, as timeline entries. */
  deliveries(intentId: string): Promise<TimelineEntry[]>;
  /** Mail a sign-in link (when mail is set up). */
  mailSignInLink?: (user: User, url: string, expiresAt: string) => Promise<void>;
  close(): Promise<void>;
}

/** The webhook body of a delivery: the event and the task as it was when the delivery was queued. */
function webhookBody(delivery: Delivery, event: AuditEvent, task: HumanTask | undefined): string {
  return JSON.stringify({
    id: delivery.id,
    type: event.type,
    occurredAt: event.at,
    intentId: event.intentId,
    taskId: event.taskId,
    event,
    ...(task === undefined ? {} : { task }),
  });
}

/** Create the channels over an engine, its store's outbox and webhooks. */
export function createChannels(parts: {
  hp: Holdpoint;
  outbox: OutboxStore;
  webhooks: Webhooks;
  people: People;
  options: ChannelOptions;
}): Channels {
  const { hp, outbox, webhooks, people, options } = parts;
  const retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const leaseMs = options.leaseMs ?? 30_000;
  const requestTimeoutMs = Math.min(options.requestTimeoutMs ?? 10_000, Math.floor(leaseMs / 2));
  const pollMs = options.pollMs ?? 1000;
  const concurrency = options.concurrency ?? 8;
  const onError = options.onError ?? ((error: unknown) => console.error('[holdpoint channels]', error));
  const holder = `sender_${randomBytes(8).toString('hex')}`;
  const publicUrl = options.publicUrl.replace(/\/+$/, '');
  const mailer: Mailer | undefined = options.mail ? createMailer(options.mail) : undefined;
  const closing = new AbortController();
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  // Events this process has queued lately: reading a rewound cursor again skips them without a store read.
  const queued = new Set<string>();

  /**
   * Queue the deliveries of the events after the cursor, then move the cursor. Each round reads
   * from a little before the stored cursor (`rewindCursor`), so a feed entry that landed behind it
   * is still queued; queueing is idempotent.
   */
  async function pump(): Promise<void> {
    const stored = await outbox.cursor();
    let cursor = stored === undefined ? undefined : rewindCursor(hp, stored, feedRewindMs);
    for (let round = 0; round < 50 && !closing.signal.aborted; round++) {
      const page = await readFeed(hp, { limit: 200, ...(cursor === undefined ? {} : { since: cursor }) });
      const fresh = page.entries.filter(({ event }) => !queued.has(event.id));
      const subscriptions = fresh.length > 0 ? await webhooks.listStored() : [];
      for (const { event } of fresh) {
        await enqueue(event, subscriptions);
        queued.add(event.id);
      }
      if (queued.size > 50_000) queued.clear();
      // Never move the stored cursor back (the rewound read may end before it).
      if (page.entries.length > 0 && page.cursor !== stored) await outbox.setCursor(page.cursor);
      if (page.entries.length < 200) return;
      cursor = page.cursor;
    }
  }

  async function enqueue(event: AuditEvent, subscriptions: StoredWebhook[]): Promise<void> {
    if (!notifyingTypes.has(event.type) || event.taskId === undefined) return;
    const task = await hp.getTask(event.taskId).catch(() => undefined);
    for (const webhook of subscriptions) {
      if (!webhook.events.includes(event.type as never) || webhook.createdAt > event.at) continue;
      const delivery = deliveryOf(event, 'webhook', webhook.id);
      await outbox.enqueue({ ...delivery, body: webhookBody(delivery, event, task) });
    }
    if (mailer && task && mailedTypes.has(event.type)) {
      for (const assignee of task.assignees) {
        if (isEmailAddress(assignee.toLowerCase()))
          await outbox.enqueue(deliveryOf(event, 'email', assignee.toLowerCase()));
      }
    }
  }

  async function send(delivery: Delivery): Promise<void> {
    if (delivery.channel === 'webhook') {
      const webhook = await webhooks.get(delivery.target);
      if (!webhook) throw new Error(`webhook ${delivery.target} was deleted`);
      const body = delivery.body ?? '{}';
      const response = await fetch(webhook.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), closing.signal]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'holdpoint-webhooks/1',
          'x-holdpoint-delivery': delivery.id,
          'x-holdpoint-event': delivery.eventType,
          [signatureHeader.toLowerCase()]: signWebhook(webhook.secret, Math.floor(Date.now() / 1000), body),
        },
        body,
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.status < 200 || response.status >= 300)
        throw new Error(`the receiver answered ${response.status}`);
      return;
    }
    if (!mailer || !options.mail) throw new Error('no SMTP server is configured');
    const task = await hp.getTask(delivery.taskId);
    // A task that has ended needs no mail about it any more.
    if (task.status !== 'pending') return;
    const user = await people.users.upsert({ email: delivery.target, createdBy: 'email' });
    const link = await people.links.create(user.id, {
      ttlMs: options.mail.linkTtlMs ?? 86_400_000,
      next: `/tasks/${encodeURIComponent(task.id)}`,
      createdBy: 'email',
    });
    await mailer.send(
      taskMail({
        to: delivery.target,
        eventType: delivery.eventType,
        task,
        link: `${publicUrl}/sign-in/${link.token}`,
        expiresAt: link.expiresAt,
        messageId: `<${delivery.id}@holdpoint>`,
      }),
    );
  }

  /** One attempt at a delivery: 'done' lets the next of its group go, 'wait' holds the group. */
  async function attempt(delivery: Delivery): Promise<'done' | 'wait'> {
    const state = await outbox.state(delivery.id);
    if (state.deadAt !== undefined) {
      await outbox.unqueue(delivery);
      return 'done';
    }
    if (state.nextAt !== undefined && state.nextAt > Date.now()) return 'wait';
    if (!(await outbox.lease(delivery.id, holder, leaseMs))) return 'wait';
    try {
      // Sent by another sender since this one read the queue.
      if (await outbox.isDone(delivery.id)) {
        await outbox.unqueue(delivery);
        return 'done';
      }
      const fresh = await outbox.state(delivery.id);
      try {
        await send(delivery);
      } catch (error) {
        if (closing.signal.aborted) return 'wait';
        const attempts = fresh.attempts + 1;
        const failed = { attempts, lastError: (error as Error).message ?? String(error) };
        const delay = retryDelaysMs[attempts - 1];
        if (delay === undefined) {
          await outbox.markDead(delivery, failed);
          return 'done';
        }
        await outbox.markFailed(delivery, { ...failed, nextAt: Date.now() + delay });
        return 'wait';
      }
      await outbox.markDelivered(delivery);
      return 'done';
    } finally {
      await outbox.release(delivery.id, holder).catch(onError);
    }
  }

  /** Send what is due: groups (one target, one task) in parallel, each group in order. */
  async function deliverDue(): Promise<void> {
    const queued = await outbox.pending(500);
    const groups = new Map<string, Delivery[]>();
    for (const delivery of queued) {
      const key = `${delivery.channel}|${delivery.target}|${delivery.taskId}`;
      groups.set(key, [...(groups.get(key) ?? []), delivery]);
    }
    const lists = [...groups.values()];
    const worker = async () => {
      for (let list = lists.shift(); list !== undefined; list = lists.shift()) {
        for (const delivery of list) {
          if (closing.signal.aborted || (await attempt(delivery)) === 'wait') break;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, lists.length) }, worker));
  }

  async function runOnce(): Promise<void> {
    await pump();
    await deliverDue();
  }

  /** Run a round now, or right after the one in progress. */
  function kick(): void {
    if (closing.signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = runOnce()
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (closing.signal.aborted) return;
        if (again) {
          again = false;
          kick();
        } else {
          timer = setTimeout(kick, pollMs);
          timer.unref();
        }
      });
  }

  return {
    async start() {
      // A first start queues from now on, not the store's whole history.
      if ((await outbox.cursor()) === undefined)
        await outbox.setCursor((await readFeed(hp, { since: 'now', limit: 1 })).cursor);
      unsubscribe = hp.subscribe((event) => {
        if (notifyingTypes.has(event.type)) kick();
      });
      kick();
    },
    runOnce,
    async deliveries(intentId) {
      const delivered = await outbox.delivered(intentId);
      return delivered.map((entry) => ({
        at: entry.at,
        what: 'delivered',
        who: entry.channel === 'email' ? `email to ${entry.target}` : `webhook ${entry.target}`,
        detail: entry.eventType,
      }));
    },
    ...(mailer
      ? {
          mailSignInLink: async (user: User, url: string, expiresAt: string) => {
            await mailer.send(signInMail(user.id, url, expiresAt));
          },
        }
      : {}),
    async close() {
      closing.abort();
      clearTimeout(timer);
      unsubscribe?.();
      await running?.catch(() => undefined);
      mailer?.close();
    },
  };
}
