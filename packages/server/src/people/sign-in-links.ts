import type { StoreBackend } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import { storeCall } from '../store-call.js';
import { hashToken, isTokenShaped, newToken } from './tokens.js';

/** A sign-in link as stored (under the SHA-256 of its token; the token itself is never stored). */
export interface SignInLink {
  userId: string;
  /** Where the link leads after signing in: a path of the inbox (`/tasks/tsk_…`). */
  next: string;
  createdAt: string;
  expiresAt: string;
  /** Who made it: an actor id, `email`, or `holdpoint serve`. */
  createdBy: string;
}

/** Why a link does not sign anyone in. */
export type LinkProblem = 'unknown' | 'expired' | 'used';

const recordPrefix = 'server:sign-in-link:';
const usedPrefix = 'server:sign-in-link-used:';
// Records outlive their expiry by a week, so that an expired link is told apart from a mistyped one.
const keepAfterExpiryMs = 7 * 86_400_000;

/** Shortest and longest lifetimes of a link. */
export const linkTtlBounds = { minMs: 60_000, maxMs: 7 * 86_400_000 } as const;

/** Only paths of this server, never another origin (`//evil.test`) or a scheme. */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !/^\/(?![/\\])[^\s]*$/.test(next) || next.length > 500) return '/';
  return next;
}

/**
 * Single-use, expiring sign-in links: a link is `/sign-in/<token>` with 256 random bits, stored as
 * its hash. Using one is a first-writer-wins claim, so a link signs in once — also with several
 * servers on the store, and also when two tabs post it at the same moment.
 */
export class SignInLinks {
  readonly #store: StoreBackend;

  constructor(store: StoreBackend) {
    this.#store = store;
  }

  /** Make a link for a person. Returns the token (shown once) and when it expires. */
  async create(
    userId: string,
    options: { ttlMs: number; next?: string; createdBy: string },
  ): Promise<{ token: string; expiresAt: string }> {
    const ttlMs = Math.min(Math.max(options.ttlMs, linkTtlBounds.minMs), linkTtlBounds.maxMs);
    const token = newToken();
    const now = Date.now();
    const link: SignInLink = {
      userId,
      next: safeNext(options.next),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlMs).toISOString(),
      createdBy: options.createdBy,
    };
    await storeCall(this.#store, 'signInLinks.create', () =>
      this.#store.keyv.set(recordPrefix + hashToken(token), link, ttlMs + keepAfterExpiryMs),
    );
    return { token, expiresAt: link.expiresAt };
  }

  /** What a link is, without using it (the confirm page): the link, or why it will not work. */
  async inspect(token: string): Promise<{ link: SignInLink } | { problem: LinkProblem }> {
    if (!isTokenShaped(token)) return { problem: 'unknown' };
    const hash = hashToken(token);
    const [link, [used]] = await storeCall(this.#store, 'signInLinks.inspect', () =>
      Promise.all([
        this.#store.keyv.get(recordPrefix + hash) as Promise<SignInLink | undefined>,
        this.#store.readClaims([usedPrefix + hash]),
      ]),
    );
    if (!link) return { problem: 'unknown' };
    if (used !== undefined) return { problem: 'used' };
    if (Date.parse(link.expiresAt) <= Date.now()) return { problem: 'expired' };
    return { link };
  }

  /** Use a link: once. @throws ApiError SIGN_IN_LINK_INVALID (`details.problem` says why) */
  async use(token: string): Promise<SignInLink> {
    const inspected = await this.inspect(token);
    if ('problem' in inspected) throw linkError(inspected.problem);
    const won = await storeCall(this.#store, 'signInLinks.use', () =>
      this.#store.claim(usedPrefix + hashToken(token), new Date().toISOString(), linkTtlBounds.maxMs * 2),
    );
    if (!won) throw linkError('used');
    return inspected.link;
  }
}

const problemMessages: Record<LinkProblem, string> = {
  unknown: 'This sign-in link is not valid: check that the whole link was copied, or ask for a new one.',
  expired: 'This sign-in link has expired: ask for a new one.',
  used: 'This sign-in link has been used already: each link signs in once. Ask for a new one.',
};

/** The error for a link that does not sign in. */
export function linkError(problem: LinkProblem): ApiError {
  return new ApiError('SIGN_IN_LINK_INVALID', problemMessages[problem], { problem });
}
