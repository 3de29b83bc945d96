// One server of the MCP bench, in a process of its own:
//   node --import tsx mcp-server.ts <holdpoint|echo> <stdio|http> [store]
// `holdpoint`: Holdpoint's MCP server over an engine on the store, with a scripted human in the same
// process who approves every task the moment it is created (the decision comes "at once").
// `echo`: the bare SDK — an McpServer with one tool that returns its input — on the same transport.
// Over HTTP it prints {"port": N} once listening on 127.0.0.1.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHoldpoint } from '@holdpoint/core';
import { createMcpHttpHandler, serveStdio } from '@holdpoint/mcp';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const [kind, transport, store = 'memory://'] = process.argv.slice(2);

function echoServer(): McpServer {
  const server = new McpServer({ name: 'echo', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

function listen(handle: (request: IncomingMessage, response: ServerResponse) => void): void {
  const server = createServer(handle);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
  });
  process.once('SIGTERM', () => process.exit(0));
}

if (kind === 'holdpoint') {
  const hp = await createHoldpoint({ store });
  hp.subscribe((event) => {
    if (event.type !== 'task-created' || event.taskId === undefined) return;
    void hp.decide(event.taskId, { outcome: 'approved', actor: 'bench@acme.test' }).catch(() => undefined);
  });
  if (transport === 'stdio') {
    const { closed } = await serveStdio(hp);
    await closed;
    await hp.close();
  } else {
    const mcp = createMcpHttpHandler(hp);
    listen((request, response) => void mcp.handleNode(request, response));
  }
} else if (transport === 'stdio') {
  await echoServer().connect(new StdioServerTransport());
  process.stdin.once('end', () => process.exit(0));
} else {
  // The SDK's own Streamable HTTP transport, one session per initialize, as its examples do.
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  listen((request, response) => {
    const id = request.headers['mcp-session-id'];
    const existing = typeof id === 'string' ? sessions.get(id) : undefined;
    if (existing) {
      void existing.handleRequest(request, response);
      return;
    }
    const session = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, session);
      },
    });
    void echoServer()
      .connect(session)
      .then(() => session.handleRequest(request, response));
  });
}
