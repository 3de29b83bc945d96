import type { Holdpoint, StoreBackend } from '@holdpoint/core';
import type { HoldpointServer } from '@holdpoint/server';

/** What `holdpoint serve` has built when it composes the parts that serve beside the API. */
export interface ServeParts {
  server: HoldpointServer;
  holdpoint: Holdpoint;
  store: StoreBackend;
}

/**
 * The one place where `serve` adds what other packages serve on the same port, before it listens.
 * `@holdpoint/server` and `@holdpoint/mcp` never import each other: the CLI mounts MCP's Streamable
 * HTTP endpoint at `/mcp` here (authenticating with `server.authenticate`), and the inbox's pages
 * and sessions join the same way.
 */
export async function composeServer(_parts: ServeParts): Promise<void> {
  // `/mcp` from @holdpoint/mcp is mounted here once that package is in the workspace.
}
