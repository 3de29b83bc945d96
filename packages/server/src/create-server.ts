import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StoreBackend } from '@holdpoint/core';
import { createAdaptorServer } from '@hono/node-server';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { ApiKeys } from './auth/api-keys.js';
import { Authority } from './auth/authority.js';
import { type CallerTasks, callerTasks, type ListFieldNames } from './auth/caller-tasks.js';
import { type Authenticator, apiKeyAuthenticator, authenticate, type Principal } from './auth/principal.js';
import { type ChannelOptions, type Channels, createChannels } from './channels/channels.js';
import { OutboxStore } from './channels/outbox.js';
import { channelRoutes } from './channels/routes.js';
import { Webhooks } from './channels/webhooks.js';
import type { ServerApp, ServerContext, ServerEnv } from './context.js';
import type { Holdpoint } from './engine-feed.js';
import { ApiError, apiErrorOf, errorStatuses } from './errors.js';
import { ChangeHub } from './events/change-hub.js';
import { StreamSlots } from './events/stream-slots.js';
import { type InboxOptions, inboxRoutes } from './inbox/routes.js';
import { defaultLimits, type ServerLimits } from './limits.js';
import { createPeople, type People } from './people/people.js';
import { peopleRoutes } from './people/routes.js';
import { auditAndKeyRoutes } from './routes/audit-and-keys.js';
import { eventRoutes } from './routes/events.js';
import { healthAndDocRoutes } from './routes/health-and-docs.js';
import { intentRoutes } from './routes/intents.js';
import { taskRoutes } from './routes/tasks.js';

/** Options of {@link createHoldpointServer}. */
export interface HoldpointServerOptions {
  /** The engine, from `createHoldpoint({ store })`. The server never closes it. */
  holdpoint: Holdpoint;
  /**
   * The store backend the engine runs on (`createStore(url)`, passed to `createHoldpoint` too):
   * API keys and intent owners are kept in it, so every server on the store shares them.
   */
  store: StoreBackend;
  /**
   * Authenticators tried before API keys, in order — e.g. people's sessions. Each returns a
   * principal for a request that carries its kind of credential, `undefined` otherwise.
   */
  authenticators?: Authenticator[];
  /** Bounds on bodies, headers and streams; see {@link ServerLimits}. */
  limits?: Partial<ServerLimits>;
  /**
   * Where the engine's audit signing key is kept, shown by `GET /v1/audit/key`: `'file:/path'`,
   * `'env:NAME'`, `'option'` or `'store'`. @default 'store'
   */
  auditKeySource?: string;
  /** Errors the server answered with a 500 (bugs), and failures of open streams. @default console.error */
  onError?: (error: unknown) => void;
  /**
   * The URL people reach the server by (`https://holdpoint.example.com`): sign-in links and links
   * in mail start with it. @default the address of each request
   */
  publicUrl?: string;
  /** Serve the web inbox at `/` (people sign in with links). @default off */
  inbox?: InboxOptions | boolean;
  /**
   * Deliver task events to webhooks and by email from a durable outbox (run it in `serve`, not in
   * one-off clients). `/v1/webhooks` and `/v1/dead-letters` are there either way.
   */
  channels?: Omit<ChannelOptions, 'publicUrl'> & { publicUrl?: string };
}

/** A running HTTP listener. */
export interface Listener {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  /** The Node.js server, for tests and for mounting upgrades. */
  server: Server;
  /** Stop accepting connections and end open ones (streams are ended by `HoldpointServer.close`). */
  close(): Promise<void>;
}

/** The Holdpoint HTTP API over one engine. */
export interface HoldpointServer {
  /**
   * The Hono app: `/v1/…`. Other handlers (an MCP endpoint, the inbox) can be added to it; they
   * see the same authenticators through {@link HoldpointServer.authenticate}.
   */
  readonly app: ServerApp;
  /** Answer one request (Fetch API), without a listener: for tests and in-process clients. */
  fetch(request: Request): Promise<Response>;
  /** API keys in the store. */
  readonly keys: ApiKeys;
  /** Users, sign-in links and sessions of the inbox, in the store. */
  readonly people: People;
  /** Webhook subscriptions in the store. */
  readonly webhooks: Webhooks;
  /** The channels' outbox (queued deliveries, dead letters) in the store. */
  readonly outbox: OutboxStore;
  /**
   * Start delivering (the `channels` option): reads the engine's feed from where the last server
   * stopped. Called by `listen`; call it yourself when answering through `fetch` only.
   */
  startChannels(): Promise<void>;
  /** The caller of a request, as the API sees it. @throws ApiError UNAUTHORIZED */
  authenticate(request: Request): Promise<Principal>;
  /**
   * The task calls a caller may make, under the same rules as `/v1/tasks` — for another front end
   * on the same keys, so that a key may do there exactly what it may do here (the CLI mounts MCP at
   * `/mcp` with it). `fields` names the list filters in refusals (default: the API's `query.intent`).
   *
   * @example
   * const tasks = server.tasksFor(await server.authenticate(request));
   * await tasks.getTask(id); // FORBIDDEN unless the key may see it
   */
  tasksFor(principal: Principal, fields?: ListFieldNames): CallerTasks;
  /** The OpenAPI 3.1 document (also at `GET /v1/openapi.json`). */
  openApiDocument(): Record<string, unknown>;
  /** Listen on a port (0: any free one). Headers and request time are bounded by the limits. */
  listen(options?: { port?: number; host?: string }): Promise<Listener>;
  /** End open streams and waits, stop listeners. The engine and the store stay open. Idempotent. */
  close(): Promise<void>;
}

// Routes anyone may call: liveness, readiness and the API reference.
const publicPaths = new Set(['/v1/health', '/v1/ready', '/v1/openapi.json', '/v1/docs']);
const apiDescription = [
  'The HTTP API of Holdpoint: human approval gates for AI agents. Agents submit intents and ask humans (tasks); people — or admins on their behalf — decide; everyone can follow the audit events live (SSE) or by long-poll, and export and verify the signed audit trail.',
  'Authenticate with an API key: `Authorization: Bearer hpk_…`. Scopes: `agent`, `person`, `admin`. Every error is `{ error: { code, message, details } }`; `details.field` names the part of the request that is wrong.',
].join('\n\n');

/** `HTTPException`s raised by Hono and its validators, as API errors. */
function fromHttpException(error: HTTPException): ApiError {
  switch (error.status) {
    case 400:
      return new ApiError('INVALID_JSON', `The body is not valid JSON: ${error.message}`, { field: 'body' });
    case 413:
      return new ApiError('PAYLOAD_TOO_LARGE', 'The body is larger than this server accepts.', {
        field: 'body',
      });
    case 415:
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.', {
        field: 'header.Content-Type',
      });
    default:
      return new ApiError(error.status >= 500 ? 'INTERNAL' : 'VALIDATION', error.message);
  }
}

/** A zod issue path as the API names fields: `body.remind.after`, `query.limit`, `header.Idempotency-Key`. */
function fieldName(target: string, path: readonly PropertyKey[]): string {
  const where = target === 'json' ? 'body' : target === 'param' ? 'path' : target;
  return [where, ...path.map(String)].join('.');
}

/**
 * Create the HTTP API over an engine and its store.
 *
 * @example
 * const store = await createStore('sqlite://./.holdpoint/holdpoint.db');
 * const holdpoint = await createHoldpoint({ store });
 * const server = createHoldpointServer({ holdpoint, store });
 * const { url } = await server.listen({ port: 8750 });
 */
export function createHoldpointServer(options: HoldpointServerOptions): HoldpointServer {
  const limits: ServerLimits = { ...defaultLimits, ...options.limits };
  const onError = options.onError ?? ((error: unknown) => console.error('[holdpoint server]', error));
  const keys = new ApiKeys(options.store);
  const authenticators = [...(options.authenticators ?? []), apiKeyAuthenticator(keys)];
  const closing = new AbortController();
  const people = createPeople(options.store, {
    ...(typeof options.inbox === 'object' && options.inbox.sessionTtlMs !== undefined
      ? { sessionTtlMs: options.inbox.sessionTtlMs }
      : {}),
  });
  const webhooks = new Webhooks(options.store);
  const outbox = new OutboxStore(options.store);
  const publicUrl = options.publicUrl ?? options.channels?.publicUrl;
  let channels: Channels | undefined;
  const context: ServerContext = {
    hp: options.holdpoint,
    store: options.store,
    keys,
    authority: new Authority(options.store),
    hub: new ChangeHub(options.holdpoint),
    slots: new StreamSlots(limits.streamsPerKey),
    limits,
    auditKeySource: options.auditKeySource ?? 'store',
    closing: closing.signal,
    stillAuthenticated: async (request) => {
      try {
        await authenticate(authenticators, request);
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.code === 'UNAUTHORIZED') return false;
        throw error;
      }
    },
    people,
    ...(publicUrl === undefined ? {} : { publicUrl }),
    onError,
    deliveries: async (intentId) => (channels ? channels.deliveries(intentId) : []),
  };

  const app: ServerApp = new OpenAPIHono<ServerEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issues = result.error.issues.map((issue) => ({
        field: fieldName(result.target, issue.path),
        message: issue.message,
      }));
      const first = issues[0];
      throw new ApiError(
        'VALIDATION',
        issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '),
        first ? { field: first.field, issues } : { issues },
      );
    },
  });

  app.onError((error, c) => {
    const apiError = error instanceof HTTPException ? fromHttpException(error) : apiErrorOf(error);
    if (apiError.code === 'INTERNAL') onError(error);
    if (apiError.code === 'UNAUTHORIZED') c.header('www-authenticate', 'Bearer');
    if (apiError.code === 'STORE_UNAVAILABLE') c.header('retry-after', '1');
    return c.json(apiError.toBody(), apiError.status);
  });

  // Route patterns, to tell a wrong method (405) from an unknown path (404).
  const routePatterns = () =>
    Object.entries((openApiDocument().paths ?? {}) as Record<string, Record<string, unknown>>).map(
      ([path, item]) => ({
        pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
        methods: Object.keys(item).map((method) => method.toUpperCase()),
      }),
    );
  app.notFound((c) => {
    const known = routePatterns().find((route) => route.pattern.test(c.req.path));
    const error = known
      ? new ApiError(
          'METHOD_NOT_ALLOWED',
          `${c.req.method} is not a method of ${c.req.path}; use ${known.methods.join(', ')}.`,
          {
            allowed: known.methods,
          },
        )
      : new ApiError('ROUTE_NOT_FOUND', `There is no route ${c.req.method} ${c.req.path}; see /v1/docs.`);
    if (known) c.header('allow', known.methods.join(', '));
    return c.json(error.toBody(), errorStatuses[error.code]);
  });

  const tooLarge = (): never => {
    throw new ApiError('PAYLOAD_TOO_LARGE', 'The body is larger than this server accepts.', {
      field: 'body',
    });
  };
  const jsonLimit = bodyLimit({ maxSize: limits.bodyBytes, onError: tooLarge });
  const auditLimit = bodyLimit({ maxSize: limits.auditBodyBytes, onError: tooLarge });
  app.use('/v1/*', async (c, next) => {
    c.header('cache-control', 'no-store');
    c.header('x-content-type-options', 'nosniff');
    if (!publicPaths.has(c.req.path)) c.set('principal', await authenticate(authenticators, c.req.raw));
    // An empty body is no body, whatever its Content-Type says (many clients send
    // `application/json` on every request): a call whose body is optional then takes none.
    if (c.req.header('content-length') === '0' && c.req.header('content-type') !== undefined) {
      const headers = new Headers(c.req.raw.headers);
      headers.delete('content-type');
      c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers, signal: c.req.raw.signal });
    }
    return (c.req.path === '/v1/audit/verify' ? auditLimit : jsonLimit)(c, next);
  });

  let document: Record<string, unknown> | undefined;
  function openApiDocument(): Record<string, unknown> {
    document ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 'Holdpoint API', version: '1', description: apiDescription },
    }) as unknown as Record<string, unknown>;
    return document;
  }
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key: `Authorization: Bearer hpk_…`',
  });

  intentRoutes(app, context);
  taskRoutes(app, context);
  eventRoutes(app, context);
  auditAndKeyRoutes(app, context);
  healthAndDocRoutes(app, context, openApiDocument);
  peopleRoutes(app, context);
  channelRoutes(app, context, { webhooks, outbox, wake: () => void channels?.runOnce().catch(onError) });

  let channelsStarted: Promise<void> | undefined;
  const startChannels = (listenerUrl?: string) => {
    channelsStarted ??= (async () => {
      if (!options.channels) return;
      const base = publicUrl ?? listenerUrl;
      if (base === undefined)
        throw new Error('channels need publicUrl (or a listener) for the links in mail');
      channels = createChannels({
        hp: options.holdpoint,
        outbox,
        webhooks,
        people,
        options: { onError, ...options.channels, publicUrl: base },
      });
      await channels.start();
    })();
    return channelsStarted;
  };
  if (options.inbox) {
    const inboxOptions = typeof options.inbox === 'object' ? options.inbox : {};
    inboxRoutes(app, context, {
      ...inboxOptions,
      ...(inboxOptions.mailSignInLink === undefined && options.channels?.mail
        ? {
            mailSignInLink: async (user, url, expiresAt) => {
              await startChannels();
              await channels?.mailSignInLink?.(user, url, expiresAt);
            },
          }
        : {}),
    });
  }

  const listeners = new Set<Listener>();
  let closed: Promise<void> | undefined;

  return {
    app,
    keys,
    people,
    webhooks,
    outbox,
    startChannels: () => startChannels(),
    fetch: async (request) => app.fetch(request),
    authenticate: (request) => authenticate(authenticators, request),
    tasksFor: (principal, fields) => callerTasks(context.hp, context.authority, principal, fields),
    openApiDocument,
    async listen({ port = 0, host = '127.0.0.1' } = {}) {
      const server = createAdaptorServer({
        fetch: app.fetch,
        serverOptions: { maxHeaderSize: limits.headerBytes, requestTimeout: limits.requestTimeoutMs },
      }) as Server;
      // Node answers a request whose headers are too large (or malformed) itself; give it the API's body.
      server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
        if (!socket.writable) return socket.destroy();
        const apiError =
          error.code === 'HPE_HEADER_OVERFLOW'
            ? new ApiError(
                'HEADERS_TOO_LARGE',
                `The request line and headers exceed ${limits.headerBytes} bytes.`,
                {
                  field: 'headers',
                },
              )
            : new ApiError('VALIDATION', 'The request is not valid HTTP.', {});
        const body = JSON.stringify(apiError.toBody());
        socket.end(
          `HTTP/1.1 ${apiError.status} ${apiError.code}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const listener: Listener = {
        url: `http://${shownHost}:${address.port}`,
        port: address.port,
        server,
        close: () =>
          new Promise<void>((resolve) => {
            listeners.delete(listener);
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      };
      listeners.add(listener);
      try {
        await startChannels(listener.url);
      } catch (error) {
        await listener.close();
        throw error;
      }
      return listener;
    },
    close() {
      closed ??= (async () => {
        closing.abort();
        context.hub.close();
        await channels?.close();
        await Promise.all([...listeners].map((listener) => listener.close()));
      })();
      return closed;
    },
  };
}
