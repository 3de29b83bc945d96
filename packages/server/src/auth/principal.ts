import type { Actor } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import type { ApiKeys } from './api-keys.js';

/** What an authenticated caller may do. */
export type Role = 'agent' | 'person' | 'admin';

/**
 * Who is calling, as established by an authenticator — never by what the client typed. The
 * `actor` is what the audit records for what this caller does.
 */
export interface Principal {
  actor: Actor;
  role: Role;
  /**
   * What authenticated the caller: an API key (`api-key`, its id), a person's session (`session`,
   * added by the inbox), or the CLI working on the store itself (`local`). Limits per key count per
   * credential.
   */
  credential: { kind: string; id: string };
}

/**
 * Finds the caller of a request. Returns `undefined` when the request carries no credential of its
 * kind (the next authenticator is asked), a principal when it does, and throws an `UNAUTHORIZED`
 * {@link ApiError} when it carries one that is wrong.
 */
export type Authenticator = (request: Request) => Promise<Principal | undefined> | Principal | undefined;

/** API keys in `Authorization: Bearer hpk_…`. */
export function apiKeyAuthenticator(keys: ApiKeys): Authenticator {
  return async (request) => {
    const header = request.headers.get('authorization');
    if (header === null) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return undefined;
    const key = await keys.verify(match[1] as string);
    if (!key) throw new ApiError('UNAUTHORIZED', 'The API key is not valid (unknown, revoked or mistyped).');
    return { actor: key.actor, role: key.scope, credential: { kind: 'api-key', id: key.id } };
  };
}

/** Whoever runs the CLI against the store itself: it holds the database, so it is an admin. */
export function localAuthenticator(actor: Actor): Authenticator {
  const principal: Principal = { actor, role: 'admin', credential: { kind: 'local', id: actor.id } };
  return () => principal;
}

/** The caller of a request, from the first authenticator that knows it. @throws ApiError UNAUTHORIZED */
export async function authenticate(
  authenticators: readonly Authenticator[],
  request: Request,
): Promise<Principal> {
  for (const authenticator of authenticators) {
    const principal = await authenticator(request);
    if (principal) return principal;
  }
  throw new ApiError('UNAUTHORIZED', 'Authenticate with an API key: Authorization: Bearer hpk_…');
}
