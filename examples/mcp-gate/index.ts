// MCP gate: an assistant (an MCP client) must not drop the staging database until the DBA says so.
// It calls the tool `wait_for_human` on Holdpoint's MCP server, which it starts over stdio like any
// MCP server; the DBA decides somewhere else — here a scripted human on a second engine over the same
// SQLite file, as the inbox or the CLI would. The story checks its own result and exits 0.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createHoldpoint } from '@holdpoint/core';
import type { TaskView } from '@holdpoint/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { type CallToolResult, CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

const store = process.env.HOLDPOINT_STORE ?? 'sqlite://./.holdpoint/mcp-gate.db';
const run = randomUUID().slice(0, 8);

// 1. The assistant starts the MCP server, as Claude Desktop or Cursor would from their config.
const transport = new StdioClientTransport({
  command: process.execPath,
  args: ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('server.ts', import.meta.url)), store],
  stderr: 'inherit',
});
const client = new Client({ name: 'ops-assistant', version: '1.0.0' });
await client.connect(transport);
const { tools } = await client.listTools();
console.log(`assistant sees tools: ${tools.map((tool) => tool.name).join(', ')}`);

// 2. The human's side: a second engine on the same store (the inbox would be another). When the
//    DBA's task appears, they approve it — bound to the version of the request they saw.
const inbox = await createHoldpoint({ store, timers: false });
const decided = new Promise<void>((resolve, reject) => {
  const stop = inbox.subscribe((event) => {
    if (event.type !== 'task-created' || event.taskId === undefined) return;
    inbox
      .getTask(event.taskId)
      .then(async (task) => {
        if (task.idempotencyKey !== `drop-staging-${run}`) return;
        stop();
        console.log(`dba sees "${task.title}" (version ${task.versionDigest.slice(0, 19)}…) and approves`);
        await inbox.decide(task.id, {
          outcome: 'approved',
          comment: 'Snapshot taken at 09:14, go ahead.',
          actor: { id: 'dba@acme.test', name: 'DBA on call' },
          versionDigest: task.versionDigest,
        });
        resolve();
      })
      .catch(reject);
  });
});

// 3. The assistant asks and waits; progress notifications keep its request alive while the human thinks.
const result = (await client.callTool(
  {
    name: 'wait_for_human',
    arguments: {
      task: 'approval',
      title: 'Drop the staging database',
      description: 'The migration rehearsal needs an empty staging database.',
      assignee: 'dba@acme.test',
      context: { command: 'DROP DATABASE staging', host: 'db-staging-1' },
      timeout: '1h',
      idempotencyKey: `drop-staging-${run}`,
    },
  },
  CallToolResultSchema,
  {
    onprogress: (progress) => console.log(`  progress: ${progress.message}`),
    resetTimeoutOnProgress: true,
  },
)) as CallToolResult;
await decided;
const view = result.structuredContent as TaskView;
const [text] = result.content;
console.log(text?.type === 'text' ? text.text : '');

// 4. Only an approval by the DBA lets the assistant go on.
if (view.status === 'decided' && view.outcome === 'approved' && view.actor?.id === 'dba@acme.test') {
  console.log('assistant: approved by the DBA — dropping staging (simulated)');
} else {
  console.error(`unexpected answer: ${JSON.stringify(view)}`);
  process.exitCode = 1;
}

await client.close();
await inbox.close();
