import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Actor, StoreBackend } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import { storeCall } from '../store-call.js';

/** What an API key may do. */
export type KeyScope = 'agent' | 'person' | 'admin';

/** An API key as stored and listed: never the secret, only its hash (which is not listed either). */
export interface ApiKeyInfo {
  /** Public id, part of the key itself: `k_` and 16 hex digits. */
  id: string;
  name: string;
  scope: KeyScope;
  /** The identity recorded in the audit for what this key does. */
  actor: Actor;
  createdAt: string;
  /** Who created it (an actor id), when it was created through the API or the CLI. */
  createdBy?: string;
  revokedAt?: string;
}

/** Options of {@link ApiKeys.create}. */
export interface CreateKeyOptions {
  name: string;
  scope: KeyScope;
  /** The identity recorded for this key (required for `person`). @default `key:<id>` */
  actor?: string;
  /** Display name of that identity. @default the key's name */
  actorName?: string;
  /** Who creates it, recorded with the key. */
  createdBy?: string;
}

interface StoredKey extends ApiKeyInfo {
  /** SHA-256 (hex) of the secret part. */
  hash: string;
}

const recordPrefix = 'server:apikey:';
const keysIndex = 'server:apikeys';
const firstAdminClaim = 'server:first-admin-key';
const keyPattern = /^hpk_(k_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const maxKeys = 10_000;

function hashOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function publicInfo(stored: StoredKey): ApiKeyInfo {
  const { hash: _hash, ...info } = stored;
  return info;
}

/**
 * API keys, kept in the engine's own store (the same `StoreBackend`): a key is `hpk_<id>_<secret>`
 * with 256 random bits of secret, shown once and stored as a SHA-256 hash (a hash of that much
 * randomness needs no slow KDF). Looking a key up is one read by its public id.
 */
export class ApiKeys {
  readonly #store: StoreBackend;

  constructor(store: StoreBackend) {
    this.#store = store;
  }

  /** Make a key. The returned `secret` is the only copy. */
  async create(options: CreateKeyOptions): Promise<{ key: ApiKeyInfo; secret: string }> {
    if (options.scope === 'person' && options.actor === undefined) {
      throw new ApiError('VALIDATION', 'A person key needs actor: the person’s id (e.g. their email).', {
        field: 'body.actor',
      });
    }
    const id = `k_${randomBytes(8).toString('hex')}`;
    const secretPart = randomBytes(32).toString('base64url');
    const stored: StoredKey = {
      id,
      name: options.name,
      scope: options.scope,
      actor: { id: options.actor ?? `key:${id}`, name: options.actorName ?? options.name },
      createdAt: new Date().toISOString(),
      ...(options.createdBy === undefined ? {} : { createdBy: options.createdBy }),
      hash: hashOf(secretPart),
    };
    // The record first, then the index: a key that is listed always exists.
    await storeCall(this.#store, 'keys.create', async () => {
      await this.#store.keyv.set(recordPrefix + id, stored);
      await this.#store.indexAdd(keysIndex, [{ member: id, score: Date.parse(stored.createdAt) }]);
    });
    return { key: publicInfo(stored), secret: `hpk_${id}_${secretPart}` };
  }

  /**
   * Make the first admin key of this store, once: the one process (of several starting at once)
   * that wins the claim creates it; every other call — also after a restart — gets `undefined`.
   */
  async createFirstAdmin(): Promise<{ key: ApiKeyInfo; secret: string } | undefined> {
    const won = await storeCall(this.#store, 'keys.createFirstAdmin', async () => {
      const [existing] = await this.#store.indexRange(keysIndex, { limit: 1 });
      return existing === undefined && (await this.#store.claim(firstAdminClaim, new Date().toISOString()));
    });
    if (!won) return undefined;
    return this.create({ name: 'first admin', scope: 'admin', createdBy: 'holdpoint serve' });
  }

  /** Every key, oldest first (revoked ones included, marked). */
  async list(): Promise<ApiKeyInfo[]> {
    const entries = await storeCall(this.#store, 'keys.list', () =>
      this.#store.indexRange(keysIndex, { limit: maxKeys }),
    );
    const records = await Promise.all(entries.map((entry) => this.#read(entry.member)));
    return records.filter((record): record is StoredKey => record !== undefined).map(publicInfo);
  }

  /** Revoke a key: it stops working at once, on every server on this store. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    const stored = await this.#read(id);
    if (!stored)
      throw new ApiError('NOT_FOUND', `No API key has id '${id}'`, { kind: 'key', id, field: 'path.id' });
    if (stored.revokedAt !== undefined) return publicInfo(stored);
    const revoked = { ...stored, revokedAt: new Date().toISOString() };
    await storeCall(this.#store, 'keys.revoke', () => this.#store.keyv.set(recordPrefix + id, revoked));
    return publicInfo(revoked);
  }

  /** The key this secret is, if it is a live key; `undefined` for anything else. */
  async verify(secret: string): Promise<ApiKeyInfo | undefined> {
    const match = keyPattern.exec(secret);
    if (!match) return undefined;
    const stored = await this.#read(match[1] as string);
    if (!stored || stored.revokedAt !== undefined) return undefined;
    const given = Buffer.from(hashOf(match[2] as string), 'hex');
    const expected = Buffer.from(stored.hash, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return publicInfo(stored);
  }

  async #read(id: string): Promise<StoredKey | undefined> {
    if (!/^k_[0-9a-f]{16}$/.test(id)) return undefined;
    return (await storeCall(this.#store, 'keys.read', () => this.#store.keyv.get(recordPrefix + id))) as
      | StoredKey
      | undefined;
  }
}
