import type { Command } from '../command.js';
import { exitCodes } from '../exit-codes.js';

// `holdpoint mcp` runs the MCP server of @holdpoint/mcp over stdio on the same store; it is wired
// here once that package is in the workspace (the CLI composes it with the engine, as serve does).
export const mcp: Command = {
  name: 'mcp',
  summary: 'Run the MCP server over stdio (needs @holdpoint/mcp)',
  usage: 'mcp [--store <url>]',
  options: { store: { type: 'string', value: '<url>', description: 'store URL' } },
  connects: false,
  positionals: [0, 0],
  async run({ io }) {
    io.stderr('holdpoint mcp needs @holdpoint/mcp, which is not part of this build yet.');
    return exitCodes.failure;
  },
};
