export { createMcpServer } from './create-mcp-server.js';
export { createMcpHttpHandler, type McpHttpHandler, type McpHttpOptions } from './http-handler.js';
export type { HoldpointMcpOptions } from './options.js';
export { type ServeStdioOptions, type StdioMcpServer, serveStdio } from './serve-stdio.js';
export type { TaskView } from './tool-schemas.js';
