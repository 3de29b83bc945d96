import type { Readable, Writable } from 'node:stream';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createMcpServer } from './create-mcp-server.js';
import type { Holdpoint } from './engine.js';
import type { HoldpointMcpOptions } from './options.js';

/** Options of {@link serveStdio}: the server's options, and the streams to talk over. */
export interface ServeStdioOptions extends HoldpointMcpOptions {
  /** Where requests come from. @default process.stdin */
  stdin?: Readable;
  /** Where responses go. Nothing else may write to it: log to stderr. @default process.stdout */
  stdout?: Writable;
}

/** A running stdio MCP server. */
export interface StdioMcpServer {
  /** The SDK server. */
  readonly server: McpServer;
  /** Resolves when the connection ended: the client closed stdin, or `close()` was called. */
  readonly closed: Promise<void>;
  /** End the connection. The engine stays open: it is yours to close. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serve Holdpoint's MCP tools over stdio — what `holdpoint mcp` runs. The connection ends when the
 * client closes stdin (as MCP clients do before they stop a server) or on `close()`.
 *
 * @example
 * const hp = await createHoldpoint({ store: 'sqlite://./.holdpoint/holdpoint.db' });
 * const { closed } = await serveStdio(hp, { user: 'alice@acme.test' });
 * await closed;
 * await hp.close();
 */
export async function serveStdio(hp: Holdpoint, options: ServeStdioOptions = {}): Promise<StdioMcpServer> {
  const { stdin = process.stdin, stdout = process.stdout, ...serverOptions } = options;
  const server = createMcpServer(hp, serverOptions);
  const transport = new StdioServerTransport(stdin, stdout);
  let ended!: () => void;
  const closed = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const close = async () => {
    stdin.off('end', onEnd);
    await server.close();
    ended();
  };
  const onEnd = () => void close();
  transport.onclose = () => ended();
  await server.connect(transport);
  stdin.once('end', onEnd);
  return { server, closed, close };
}
