import { isEmailAddress, type StoreBackend } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import { storeCall } from '../store-call.js';

/** A person who signs in to the inbox. Their id is their email address (lower case). */
export interface User {
  /** The email address, lower case: the identity their decisions are recorded with. */
  id: string;
  /** Display name. */
  name?: string;
  /** Admins see and may decide every task, and see the overview of everyone. */
  admin: boolean;
  createdAt: string;
  /** Who added them (an actor id), or `email` when a task was mailed to them. */
  createdBy?: string;
}

/** Options of {@link Users.upsert}. */
export interface UpsertUserOptions {
  email: string;
  name?: string;
  /** Make (or keep) them an admin. A later upsert without `admin` keeps what they are. */
  admin?: boolean;
  createdBy?: string;
}

const recordPrefix = 'server:user:';
const usersIndex = 'server:users';
const maxUsers = 10_000;

/**
 * Whether a string is an email address the inbox can mail (and use as a person's id): the engine's
 * rule, by which it keeps such an assignee or actor id in lower case.
 */
export { isEmailAddress };

/** The id of a person with this email address. @throws ApiError VALIDATION */
export function userIdOf(email: string, field = 'body.email'): string {
  const id = email.trim().toLowerCase();
  if (!isEmailAddress(id)) {
    throw new ApiError('VALIDATION', `${field}: '${email}' is not an email address.`, { field });
  }
  return id;
}

/** People of the inbox, kept in the engine's store under `server:user:`. */
export class Users {
  readonly #store: StoreBackend;

  constructor(store: StoreBackend) {
    this.#store = store;
  }

  /** Add a person, or update their name and admin flag. */
  async upsert(options: UpsertUserOptions): Promise<User> {
    const id = userIdOf(options.email);
    const existing = await this.get(id);
    const user: User = {
      id,
      admin: options.admin ?? existing?.admin ?? false,
      createdAt: existing?.createdAt ?? new Date().toISOString(),
      ...((options.name ?? existing?.name) === undefined ? {} : { name: options.name ?? existing?.name }),
      ...((existing?.createdBy ?? options.createdBy) === undefined
        ? {}
        : { createdBy: existing?.createdBy ?? options.createdBy }),
    };
    await storeCall(this.#store, 'users.upsert', async () => {
      await this.#store.keyv.set(recordPrefix + id, user);
      await this.#store.indexAdd(usersIndex, [{ member: id, score: Date.parse(user.createdAt) }]);
    });
    return user;
  }

  /** The person with this id (email), if there is one. */
  async get(id: string): Promise<User | undefined> {
    const key = id.trim().toLowerCase();
    if (!isEmailAddress(key)) return undefined;
    return (await storeCall(this.#store, 'users.get', () => this.#store.keyv.get(recordPrefix + key))) as
      | User
      | undefined;
  }

  /** Everyone, oldest first. */
  async list(): Promise<User[]> {
    const entries = await storeCall(this.#store, 'users.list', () =>
      this.#store.indexRange(usersIndex, { limit: maxUsers }),
    );
    const users = await Promise.all(entries.map((entry) => this.get(entry.member)));
    return users.filter((user): user is User => user !== undefined);
  }
}
