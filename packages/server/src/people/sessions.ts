import type { StoreBackend } from '@holdpoint/core';
import { storeCall } from '../store-call.js';
import { hashToken, isTokenShaped, newToken } from './tokens.js';

/** A signed-in person's session, stored under the SHA-256 of its cookie. */
export interface Session {
  userId: string;
  /** The CSRF token every form of this session posts back. */
  csrf: string;
  createdAt: string;
  expiresAt: string;
}

const recordPrefix = 'server:session:';

/** Sessions of the inbox: a cookie with 256 random bits, stored hashed, expiring. */
export class Sessions {
  readonly #store: StoreBackend;
  readonly #ttlMs: number;

  constructor(store: StoreBackend, ttlMs: number) {
    this.#store = store;
    this.#ttlMs = ttlMs;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Open a session; the token goes into the cookie and is not kept. */
  async open(userId: string): Promise<{ token: string; session: Session }> {
    const token = newToken();
    const now = Date.now();
    const session: Session = {
      userId,
      csrf: newToken(),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.#ttlMs).toISOString(),
    };
    await storeCall(this.#store, 'sessions.open', () =>
      this.#store.keyv.set(recordPrefix + hashToken(token), session, this.#ttlMs),
    );
    return { token, session };
  }

  /** The live session of a cookie, if any. */
  async read(token: string | undefined): Promise<Session | undefined> {
    if (token === undefined || !isTokenShaped(token)) return undefined;
    const session = (await storeCall(this.#store, 'sessions.read', () =>
      this.#store.keyv.get(recordPrefix + hashToken(token)),
    )) as Session | undefined;
    if (!session || Date.parse(session.expiresAt) <= Date.now()) return undefined;
    return session;
  }

  /** Sign out: the cookie stops working at once, on every server. */
  async close(token: string | undefined): Promise<void> {
    if (token === undefined || !isTokenShaped(token)) return;
    await storeCall(this.#store, 'sessions.close', () =>
      this.#store.keyv.delete(recordPrefix + hashToken(token)),
    );
  }
}

/** An id of the session for limits and logs that does not reveal the cookie. */
export function sessionCredentialId(token: string): string {
  return `s_${hashToken(token).slice(0, 16)}`;
}
