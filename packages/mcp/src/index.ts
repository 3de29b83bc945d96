export { createMcpServer } from './create-mcp-server.js';
export type { McpTaskAccess, TaskFilter, TaskPage } from './engine.js';
export {
  createMcpHttpHandler,
  type McpCaller,
  type McpHttpHandler,
  type McpHttpOptions,
} from './http-handler.js';
export type { HoldpointMcpOptions } from './options.js';
export { type ServeStdioOptions, type StdioMcpServer, serveStdio } from './serve-stdio.js';
export type { TaskView } from './tool-schemas.js';
