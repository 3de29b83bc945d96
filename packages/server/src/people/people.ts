import type { StoreBackend } from '@holdpoint/core';
import { Sessions } from './sessions.js';
import { SignInLinks } from './sign-in-links.js';
import { Users } from './users.js';

/** The inbox's people: users, their sign-in links and their sessions, all in the engine's store. */
export interface People {
  users: Users;
  links: SignInLinks;
  sessions: Sessions;
}

/** People on a store. */
export function createPeople(store: StoreBackend, options: { sessionTtlMs?: number } = {}): People {
  return {
    users: new Users(store),
    links: new SignInLinks(store),
    sessions: new Sessions(store, options.sessionTtlMs ?? 12 * 3_600_000),
  };
}
