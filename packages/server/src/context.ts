import type { StoreBackend } from '@holdpoint/core';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiKeys } from './auth/api-keys.js';
import type { Authority } from './auth/authority.js';
import type { Principal } from './auth/principal.js';
import type { Holdpoint } from './engine-feed.js';
import type { ChangeHub } from './events/change-hub.js';
import type { StreamSlots } from './events/stream-slots.js';
import type { TimelineEntry } from './inbox/pages.js';
import type { ServerLimits } from './limits.js';
import type { People } from './people/people.js';

/** Hono variables: the authenticated caller of a `/v1` route (absent on the public ones). */
export interface ServerEnv {
  Variables: { principal: Principal };
}

/** The app the routes are registered on. */
export type ServerApp = OpenAPIHono<ServerEnv>;

/** What every route works with. */
export interface ServerContext {
  hp: Holdpoint;
  store: StoreBackend;
  keys: ApiKeys;
  authority: Authority;
  hub: ChangeHub;
  slots: StreamSlots;
  limits: ServerLimits;
  /** Where the audit signing key is kept, for `GET /v1/audit/key`. */
  auditKeySource: string;
  /** Aborted when the server closes: open streams and waits end. */
  closing: AbortSignal;
  /**
   * Whether the credential of a request still authenticates (a key not revoked since): streams and
   * waits ask again before they send what they waited for.
   */
  stillAuthenticated: (request: Request) => Promise<boolean>;
  /** Users, sign-in links and sessions (the inbox's people). */
  people: People;
  /** The URL people reach the server by, for links; absent: the address of each request. */
  publicUrl?: string;
  /** Where failures that are bugs are reported. */
  onError: (error: unknown) => void;
  /** What the channels delivered for an intent, for its timeline (absent without channels). */
  deliveries?: (intentId: string) => Promise<TimelineEntry[]>;
}
