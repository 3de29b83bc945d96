import { defaultStore } from '@holdpoint/core';
import { serveStdio } from '@holdpoint/mcp';
import type { Command } from '../command.js';
import { openEngine } from '../connection.js';
import { exitCodes } from '../exit-codes.js';

export const mcp: Command = {
  name: 'mcp',
  summary: 'Serve the MCP tools (wait_for_human, …) over stdio on a store',
  usage: 'mcp [--store <url>] [--user <id>] [--inbox-url <url>]',
  description: [
    'For MCP clients that start a server (Claude Desktop, Claude Code, Cursor): the tools talk to the store directly, as an engine of their own.',
    'stdout carries the protocol; messages go to stderr. Ends when the client closes stdin, or on SIGINT or SIGTERM.',
    'Environment: HOLDPOINT_STORE, HOLDPOINT_AUDIT_KEY_FILE, HOLDPOINT_AUDIT_KEY.',
  ].join('\n'),
  options: {
    store: { type: 'string', value: '<url>', description: `store URL (default ${defaultStore})` },
    user: {
      type: 'string',
      value: '<id>',
      description: 'the person at the client: gates assigned to them are asked in the client',
    },
    'inbox-url': {
      type: 'string',
      value: '<url>',
      description: 'base URL of the inbox, for links in results',
    },
    'audit-key-file': {
      type: 'string',
      value: '<file>',
      description: 'audit key of the engine (HOLDPOINT_AUDIT_KEY_FILE)',
    },
  },
  connects: false,
  positionals: [0, 0],
  async run({ values, io }) {
    const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    const { store, holdpoint } = await openEngine(
      text('store') ?? io.env.HOLDPOINT_STORE ?? defaultStore,
      text('audit-key-file'),
      io.env,
      { timers: true },
    );
    try {
      const stdio = await serveStdio(holdpoint, {
        ...(text('user') === undefined ? {} : { user: text('user') }),
        ...(text('inbox-url') === undefined ? {} : { inboxUrl: text('inbox-url') }),
      });
      const stop = () => void stdio.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await stdio.closed;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    } finally {
      await holdpoint.close();
      await store.close();
    }
    return exitCodes.ok;
  },
};
