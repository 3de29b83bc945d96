import { randomBytes } from 'node:crypto';
import type { StoreBackend } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import { storeCall } from '../store-call.js';

/** The events a webhook can receive (the engine's notifying events). */
export const webhookEventTypes = [
  'task-created',
  'task-reminded',
  'task-escalated',
  'task-decided',
  'task-timed-out',
  'task-canceled',
] as const;

/** One of {@link webhookEventTypes}. */
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** A webhook subscription, as listed (never with its secret). */
export interface Webhook {
  id: string;
  url: string;
  events: WebhookEventType[];
  description?: string;
  createdAt: string;
  createdBy?: string;
}

/** A webhook as stored: with the secret it signs with (kept as is — signing needs it). */
export interface StoredWebhook extends Webhook {
  secret: string;
}

const recordPrefix = 'server:webhook:';
const webhooksIndex = 'server:webhooks';
const maxWebhooks = 1000;

function publicInfo(stored: StoredWebhook): Webhook {
  const { secret: _secret, ...info } = stored;
  return info;
}

/** Webhook subscriptions in the engine's store. */
export class Webhooks {
  readonly #store: StoreBackend;

  constructor(store: StoreBackend) {
    this.#store = store;
  }

  /** Subscribe a URL. The secret is returned once. @throws ApiError VALIDATION */
  async create(options: {
    url: string;
    events?: WebhookEventType[];
    description?: string;
    createdBy?: string;
  }): Promise<{ webhook: Webhook; secret: string }> {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ApiError('VALIDATION', `body.url: '${options.url}' is not a URL.`, { field: 'body.url' });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new ApiError('VALIDATION', 'body.url: use an http: or https: URL.', { field: 'body.url' });
    const stored: StoredWebhook = {
      id: `wh_${randomBytes(8).toString('hex')}`,
      url: url.toString(),
      events: [...new Set(options.events ?? webhookEventTypes)],
      ...(options.description === undefined ? {} : { description: options.description }),
      createdAt: new Date().toISOString(),
      ...(options.createdBy === undefined ? {} : { createdBy: options.createdBy }),
      secret: `whsec_${randomBytes(32).toString('base64url')}`,
    };
    await storeCall(this.#store, 'webhooks.create', async () => {
      await this.#store.keyv.set(recordPrefix + stored.id, stored);
      await this.#store.indexAdd(webhooksIndex, [{ member: stored.id, score: Date.parse(stored.createdAt) }]);
    });
    return { webhook: publicInfo(stored), secret: stored.secret };
  }

  /** Every subscription, oldest first, with secrets (for the sender). */
  async listStored(): Promise<StoredWebhook[]> {
    const entries = await storeCall(this.#store, 'webhooks.list', () =>
      this.#store.indexRange(webhooksIndex, { limit: maxWebhooks }),
    );
    const records = await Promise.all(entries.map((entry) => this.get(entry.member)));
    return records.filter((record): record is StoredWebhook => record !== undefined);
  }

  /** Every subscription, oldest first. */
  async list(): Promise<Webhook[]> {
    return (await this.listStored()).map(publicInfo);
  }

  /** One subscription with its secret. */
  async get(id: string): Promise<StoredWebhook | undefined> {
    if (!/^wh_[0-9a-f]{16}$/.test(id)) return undefined;
    return (await storeCall(this.#store, 'webhooks.get', () => this.#store.keyv.get(recordPrefix + id))) as
      | StoredWebhook
      | undefined;
  }

  /** Unsubscribe: no new deliveries; pending ones end in the dead letters. @throws ApiError NOT_FOUND */
  async delete(id: string): Promise<Webhook> {
    const stored = await this.get(id);
    if (!stored)
      throw new ApiError('NOT_FOUND', `No webhook has id '${id}'`, { kind: 'webhook', id, field: 'path.id' });
    await storeCall(this.#store, 'webhooks.delete', async () => {
      await this.#store.indexRemove(webhooksIndex, [id]);
      await this.#store.keyv.delete(recordPrefix + id);
    });
    return publicInfo(stored);
  }
}
