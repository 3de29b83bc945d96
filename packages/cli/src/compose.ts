import type { Holdpoint, StoreBackend } from '@holdpoint/core';
import { createMcpHttpHandler } from '@holdpoint/mcp';
import type { HoldpointServer } from '@holdpoint/server';

/** What `holdpoint serve` has built when it composes the parts that serve beside the API. */
export interface ServeParts {
  server: HoldpointServer;
  holdpoint: Holdpoint;
  store: StoreBackend;
  /**
   * Host names (without port) that MCP requests may be addressed to, besides `localhost`,
   * `127.0.0.1` and `[::1]` — the guard against DNS rebinding. Give the server's public name.
   */
  allowedHosts?: string[];
  /** Base URL of the inbox, for task links in MCP results. */
  inboxUrl?: string;
}

/**
 * The one place where `serve` adds what other packages serve on the same port, before it listens.
 * `@holdpoint/server` and `@holdpoint/mcp` never import each other: here MCP's Streamable HTTP
 * endpoint is mounted at `/mcp`, authenticating with the server's own API keys (the identity of the
 * key is the person at the client) and authorizing each tool call by the same rules as the API;
 * the inbox joins the same way. Returns what stops them.
 */
export async function composeServer(parts: ServeParts): Promise<() => Promise<void>> {
  const mcp = createMcpHttpHandler(parts.holdpoint, {
    // A key may do over MCP exactly what it may do in /v1: the tools go through the server's rules.
    authenticate: async (_token, request) => {
      const principal = await parts.server.authenticate(request).catch(() => undefined);
      if (!principal) return undefined;
      return {
        actor: principal.actor,
        tasks: parts.server.tasksFor(principal, { assignee: 'assignee', intentId: 'intentId' }),
      };
    },
    allowedHosts: [...new Set(['localhost', '127.0.0.1', '[::1]', ...(parts.allowedHosts ?? [])])],
    ...(parts.inboxUrl === undefined ? {} : { inboxUrl: parts.inboxUrl }),
  });
  parts.server.app.all('/mcp', (c) => mcp.fetch(c.req.raw));
  return () => mcp.close();
}
