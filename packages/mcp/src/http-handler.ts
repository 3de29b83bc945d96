import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Actor, type Duration, parseDuration } from '@holdpoint/core';
import { getRequestListener } from '@hono/node-server';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { buildMcpServer } from './create-mcp-server.js';
import type { Holdpoint, McpTaskAccess } from './engine.js';
import { checkOptions, type HoldpointMcpOptions, mcpOptionShape, resolveOptions } from './options.js';

/** Who a request comes from, as {@link McpHttpOptions.authenticate} says, and what they may do. */
export interface McpCaller {
  /** The identity: the person at the client. MCP tasks and sessions are bound to it. */
  actor: Actor;
  /**
   * The task calls as this caller may make them — the same rules as wherever else the key is used
   * (`@holdpoint/server`'s `server.tasksFor(principal)`). Every tool call and MCP task read goes
   * through it. @default the engine itself, with `actor` as the one who decides and cancels
   */
  tasks?: McpTaskAccess;
}

/** Options of {@link createMcpHttpHandler}: the server's options, plus who may connect from where. */
export interface McpHttpOptions extends HoldpointMcpOptions {
  /**
   * Check the bearer token of every request (`Authorization: Bearer <token>`) and say whom it
   * belongs to — an identity, or an {@link McpCaller} that also says what the caller may do;
   * `undefined` refuses it (401). The identity is the person at the client: gates assigned to them
   * are asked through elicitation, and MCP tasks are bound to them. A session is bound to the token
   * that opened it. Without this option no token is asked for and the person at the client is `user`.
   * @example authenticate: async (token) => (await keys.verify(token))?.owner
   * @example authenticate: async (_token, request) => { const principal = await server.authenticate(request); return { actor: principal.actor, tasks: server.tasksFor(principal) }; }
   */
  authenticate?: (
    token: string,
    request: Request,
  ) => Actor | McpCaller | undefined | Promise<Actor | McpCaller | undefined>;
  /**
   * Host names (without port) that requests may be addressed to; any other `Host` is refused (403)
   * — the guard against DNS rebinding. Give the server's public name when it is reached by one.
   * @default ['localhost', '127.0.0.1', '[::1]']
   */
  allowedHosts?: string[];
  /**
   * Origins (`https://app.acme.test`) whose browser pages may call; a request with another `Origin`
   * is refused (403). Requests without `Origin` (not from a browser) are let through.
   * @default any origin whose host name is in `allowedHosts`
   */
  allowedOrigins?: string[];
  /** A session with no request in flight for this long is closed. @default '30m' */
  sessionIdleTimeout?: Duration;
  /** New sessions beyond this many are refused (503). @default 1000 */
  maxSessions?: number;
  /**
   * Sessions one identity may hold open. A new one beyond it closes that identity's least recently
   * used idle session, or is refused (429) when all of them have a request in flight — so no one
   * caller can take every session. @default 50
   */
  maxSessionsPerCaller?: number;
  /** Largest request body read, in bytes (413 beyond). @default 4194304 (4 MiB) */
  maxBodyBytes?: number;
}

/** Streamable HTTP for Holdpoint's MCP tools, in the two shapes servers mount. */
export interface McpHttpHandler {
  /** Web-standard handler, e.g. Hono: `app.all('/mcp', (c) => mcp.fetch(c.req.raw))`. */
  fetch(request: Request): Promise<Response>;
  /** Node handler, e.g. `http.createServer((req, res) => mcp.handleNode(req, res))`. */
  handleNode(request: IncomingMessage, response: ServerResponse): Promise<void>;
  /** Open sessions. */
  readonly sessionCount: number;
  /** Close every session (in-flight waits end; the tasks stay). The engine stays open. */
  close(): Promise<void>;
}

interface Session {
  server: McpServer;
  transport: WebStandardStreamableHTTPServerTransport;
  /** Who opened it: the identity, and a digest of the token it authenticated with. */
  binding: string;
  /** The identity that opened it (`''` without authentication). */
  caller: string;
  active: number;
  lastSeen: number;
}

const httpOptionsSchema = z
  .object({
    ...mcpOptionShape,
    authenticate: z.function().optional(),
    allowedHosts: z.array(z.string().min(1)).min(1).optional(),
    allowedOrigins: z.array(z.url()).optional(),
    sessionIdleTimeout: z.union([z.number(), z.string()]).optional(),
    maxSessions: z.int().min(1).optional(),
    maxSessionsPerCaller: z.int().min(1).optional(),
    maxBodyBytes: z.int().min(1).optional(),
  })
  .strict();

function jsonRpcError(status: number, code: number, message: string, headers: Record<string, string> = {}) {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status, headers });
}

function hostnameOf(value: string): string | undefined {
  try {
    return new URL(`http://${value}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

async function readBody(request: Request, limit: number): Promise<string | undefined> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) return undefined;
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The response, with its body counted as in flight until it ends or the client goes away. */
function tracked(response: Response, done: () => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  const reader = response.body.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Holdpoint's MCP tools over Streamable HTTP, with sessions (one MCP server each), bearer
 * authentication through `authenticate`, and Host/Origin validation against DNS rebinding.
 * Mount `fetch` (web-standard) or `handleNode` (Node `http`) at `/mcp`.
 *
 * @example
 * const mcp = createMcpHttpHandler(hp, { authenticate: (token) => keys.check(token), inboxUrl: 'https://holdpoint.acme.test', allowedHosts: ['holdpoint.acme.test'] });
 * app.all('/mcp', (c) => mcp.fetch(c.req.raw)); // Hono
 */
export function createMcpHttpHandler(hp: Holdpoint, options: McpHttpOptions = {}): McpHttpHandler {
  const parsed = checkOptions(httpOptionsSchema, options, 'createMcpHttpHandler') as McpHttpOptions;
  const {
    authenticate,
    allowedHosts,
    allowedOrigins,
    sessionIdleTimeout,
    maxSessions = 1000,
    maxSessionsPerCaller = 50,
    maxBodyBytes = 4 * 1024 * 1024,
    ...serverOptions
  } = parsed;
  const resolved = resolveOptions(serverOptions, 'createMcpHttpHandler');
  const idleMs = parseDuration(sessionIdleTimeout ?? '30m', 'createMcpHttpHandler.sessionIdleTimeout');
  const hosts = new Set(
    (allowedHosts ?? ['localhost', '127.0.0.1', '[::1]']).map((host) => hostnameOf(host) ?? host),
  );
  const origins =
    allowedOrigins === undefined
      ? undefined
      : new Set(allowedOrigins.map((origin) => new URL(origin).origin));
  const sessions = new Map<string, Session>();
  let closing = false;

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, session] of sessions) {
        if (session.active === 0 && now - session.lastSeen > idleMs) void closeSession(id);
      }
    },
    Math.min(60_000, Math.max(1_000, idleMs / 4)),
  );
  sweeper.unref();

  async function closeSession(id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.server.close().catch(() => undefined);
  }

  /** 403 unless the request is addressed to an allowed host, from an allowed origin (if any). */
  function refuseForeign(request: Request): Response | undefined {
    // Runtimes that keep Host out of the headers still put it in the URL they built from it.
    const host = request.headers.get('host') ?? URL.parse(request.url)?.host ?? null;
    const hostname = host === null ? undefined : hostnameOf(host);
    if (hostname === undefined || !hosts.has(hostname)) {
      return jsonRpcError(403, -32000, `Forbidden: Host '${host ?? ''}' is not allowed`);
    }
    const origin = request.headers.get('origin');
    if (origin !== null) {
      let allowed = false;
      try {
        const url = new URL(origin);
        allowed = origins ? origins.has(url.origin) : hosts.has(url.hostname.toLowerCase());
      } catch {
        allowed = false;
      }
      if (!allowed) return jsonRpcError(403, -32000, `Forbidden: Origin '${origin}' is not allowed`);
    }
    return undefined;
  }

  /**
   * A browser page of an allowed origin may read what it is answered (CORS): a preflight is answered
   * before authentication (browsers send it without credentials), and every answer names the origin.
   */
  function withCors(response: Response, request: Request): Response {
    const origin = request.headers.get('origin');
    if (origin === null) return response;
    const headers = new Headers(response.headers);
    headers.set('access-control-allow-origin', origin);
    headers.append('vary', 'Origin');
    headers.set('access-control-expose-headers', 'mcp-session-id, mcp-protocol-version, www-authenticate');
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }

  function preflight(request: Request): Response {
    return withCors(
      new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
          'access-control-allow-headers':
            'authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id',
          'access-control-max-age': '600',
        },
      }),
      request,
    );
  }

  /** Make room for one more session of `caller`: close their least recently used idle one, or say no. */
  async function roomFor(caller: string): Promise<boolean> {
    const theirs = [...sessions].filter(([, session]) => session.caller === caller);
    if (theirs.length < maxSessionsPerCaller) return true;
    const idle = theirs
      .filter(([, session]) => session.active === 0)
      .sort(([, a], [, b]) => a.lastSeen - b.lastSeen)[0];
    if (idle === undefined) return false;
    await closeSession(idle[0]);
    return true;
  }

  /** The JSON body of a POST, or the error response: 413 beyond `maxBodyBytes`, 400 when not JSON. */
  async function jsonBody(request: Request): Promise<{ body: unknown } | Response> {
    const text = await readBody(request, maxBodyBytes);
    if (text === undefined)
      return jsonRpcError(413, -32000, `Payload Too Large: at most ${maxBodyBytes} bytes`);
    try {
      return { body: JSON.parse(text) };
    } catch {
      return jsonRpcError(400, -32700, 'Parse error: the body is not JSON');
    }
  }

  async function callerOf(request: Request): Promise<{ caller?: McpCaller; token?: string } | Response> {
    if (!authenticate) return resolved.user ? { caller: { actor: resolved.user } } : {};
    const header = request.headers.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="holdpoint"' };
    if (!match)
      return jsonRpcError(401, -32001, 'Unauthorized: send Authorization: Bearer <API key>', challenge);
    const token = match[1] as string;
    const answer = await authenticate(token, request);
    const caller: McpCaller | undefined =
      answer === undefined ? undefined : 'actor' in answer ? answer : { actor: answer };
    if (!caller || typeof caller.actor?.id !== 'string' || caller.actor.id === '') {
      return jsonRpcError(401, -32001, 'Unauthorized: the API key was not accepted', {
        'WWW-Authenticate': 'Bearer realm="holdpoint", error="invalid_token"',
      });
    }
    return { caller, token };
  }

  /** A session answers only the identity that opened it, with the same token. */
  function bindingOf(caller: McpCaller | undefined, token: string | undefined): string {
    const digest = token === undefined ? '' : createHash('sha256').update(token).digest('hex');
    return `${caller?.actor.id ?? ''}\n${digest}`;
  }

  async function handle(
    session: Session,
    request: Request,
    init: Parameters<WebStandardStreamableHTTPServerTransport['handleRequest']>[1],
  ) {
    session.active++;
    session.lastSeen = Date.now();
    let response: Response;
    try {
      response = await session.transport.handleRequest(request, init);
    } catch (error) {
      session.active--;
      throw error;
    }
    return tracked(response, () => {
      session.active--;
      session.lastSeen = Date.now();
    });
  }

  async function fetch(request: Request): Promise<Response> {
    const foreign = refuseForeign(request);
    if (foreign) return foreign;
    if (request.method === 'OPTIONS') return preflight(request);
    return withCors(await answer(request), request);
  }

  async function answer(request: Request): Promise<Response> {
    const who = await callerOf(request);
    if (who instanceof Response) return who;
    const principal = who.caller?.actor;
    const binding = bindingOf(who.caller, who.token);
    const authInfo = principal
      ? { token: who.token ?? '', clientId: principal.id, scopes: [], extra: { principal } }
      : undefined;
    const init = authInfo ? { authInfo } : {};
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId !== null) {
      const session = sessions.get(sessionId);
      // A session is only ever answered for the identity and key that opened it: another key of the
      // same identity may be allowed less.
      if (!session || session.binding !== binding) {
        return jsonRpcError(404, -32001, 'Session not found: initialize a new session');
      }
      if (request.method !== 'POST') return handle(session, request, init);
      // The body is read here, within maxBodyBytes, not by the transport (which takes up to 4 MiB).
      const read = await jsonBody(request);
      if (read instanceof Response) return read;
      return handle(session, request, { ...init, parsedBody: read.body });
    }
    if (request.method !== 'POST') {
      return jsonRpcError(
        400,
        -32000,
        'Bad Request: send the mcp-session-id header of an initialized session',
      );
    }
    const read = await jsonBody(request);
    if (read instanceof Response) return read;
    const { body } = read;
    if (!isInitializeRequest(body)) {
      return jsonRpcError(400, -32000, 'Bad Request: initialize first, then send the mcp-session-id header');
    }
    if (closing) return jsonRpcError(503, -32000, 'Service Unavailable: shutting down');
    const caller = principal?.id ?? '';
    if (!(await roomFor(caller))) {
      return jsonRpcError(
        429,
        -32000,
        `Too Many Requests: ${maxSessionsPerCaller} sessions of yours have a request in flight; close one (DELETE) or wait`,
        { 'Retry-After': '60' },
      );
    }
    if (sessions.size >= maxSessions) {
      return jsonRpcError(503, -32000, 'Service Unavailable: too many open sessions', {
        'Retry-After': '60',
      });
    }
    const server = buildMcpServer(hp, resolved, principal, who.caller?.tasks);
    const session: Session = {
      server,
      transport: new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, session);
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
        },
      }),
      binding,
      caller,
      active: 0,
      lastSeen: Date.now(),
    };
    await server.connect(session.transport);
    return handle(session, request, { ...init, parsedBody: body });
  }

  const listener = getRequestListener(fetch, { overrideGlobalObjects: false });

  return {
    fetch,
    handleNode: (request, response) => listener(request, response),
    get sessionCount() {
      return sessions.size;
    },
    async close() {
      closing = true;
      clearInterval(sweeper);
      await Promise.all([...sessions.keys()].map((id) => closeSession(id)));
    },
  };
}
