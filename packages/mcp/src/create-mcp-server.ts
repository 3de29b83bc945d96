import type { Actor } from '@holdpoint/core';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  type CreateTaskResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
  type ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { engineAccess, type Holdpoint, type McpTaskAccess } from './engine.js';
import { type HoldpointMcpOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { argumentError, describeView, engineError, toolError, toolResult, viewOf } from './results.js';
import { EngineTaskStore } from './task-store.js';
import {
  cancelInput,
  listInput,
  listOutput,
  taskIdInput,
  taskView,
  waitForHumanInput,
} from './tool-schemas.js';
import { type Extra, type WaitContext, waitForHuman } from './wait-for-human.js';

interface ToolDefinition<Input extends z.ZodType> {
  title: string;
  description: string;
  input: Input;
  output: z.ZodType;
  annotations: ToolAnnotations;
  /** Whether the client may run the tool as an MCP task. */
  taskSupport?: boolean;
  run(args: z.output<Input>, extra: Extra, asTask: boolean): Promise<CallToolResult | CreateTaskResult>;
}

const instructions = `Holdpoint puts a named person in the loop. Call wait_for_human before an action that needs someone's approval, answer or sign-off, and act only on the decision it returns (outcome, who, when). Pass an idempotencyKey: calling again with the same key resumes the same task instead of asking twice.`;

function define<Input extends z.ZodType>(definition: ToolDefinition<Input>): ToolDefinition<z.ZodType> {
  return definition as unknown as ToolDefinition<z.ZodType>;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Tool['inputSchema'] {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest as Tool['inputSchema'];
}

/**
 * The MCP server for one connection. `user` is the person at the client; `owner` binds MCP tasks to
 * the identity that created them (the authenticated identity over HTTP).
 * @internal used by {@link createMcpServer} and the HTTP handler (one server per session).
 */
export function buildMcpServer(
  hp: Holdpoint,
  options: ResolvedOptions,
  user: Actor | undefined,
  access: McpTaskAccess = engineAccess(hp, user),
): McpServer {
  const taskStore = new EngineTaskStore(access, {
    ...(user === undefined ? {} : { owner: user.id }),
    pollIntervalMs: options.taskPollIntervalMs,
    ...(options.taskUrl === undefined ? {} : { taskUrl: options.taskUrl }),
  });
  const mcp = new McpServer(options.serverInfo, {
    capabilities: { tasks: { cancel: {}, requests: { tools: { call: {} } } } },
    taskStore,
    instructions,
  });
  const server = mcp.server;
  const closed = new AbortController();
  server.onclose = () => closed.abort();
  const context: WaitContext = { hp, access, server, options, taskStore, user, closed: closed.signal };
  const link = (taskId: string) => {
    const url = options.taskUrl?.(taskId);
    return url === undefined ? {} : { url };
  };

  const tools: Record<string, ToolDefinition<z.ZodType>> = {
    wait_for_human: define({
      title: 'Wait for a human',
      description:
        'Ask a named person to approve, confirm, review, fill in a form, clarify or do something by hand, and wait for their decision. Returns the outcome, who decided and when (or that the task timed out or was canceled). Waits as long as the person needs when the client runs it as a task or accepts progress; otherwise it may return status "pending" with the task id: then call get_human_task (or wait_for_human again with the same idempotencyKey).',
      input: waitForHumanInput,
      output: taskView,
      annotations: {
        title: 'Wait for a human',
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: true,
      },
      taskSupport: true,
      run: (args, extra, asTask) => waitForHuman(context, args, extra, asTask),
    }),
    get_human_task: define({
      title: 'Get a human task',
      description:
        'Read one task: whether it is still pending, and once decided the outcome, comment, data, who decided and when.',
      input: taskIdInput,
      output: taskView,
      annotations: { title: 'Get a human task', readOnlyHint: true, openWorldHint: false },
      run: async (args) => {
        const task = await access.getTask(args.taskId);
        const view = viewOf(task, { ...link(task.id), withContext: true });
        return toolResult(view, describeView(view));
      },
    }),
    list_human_tasks: define({
      title: 'List human tasks',
      description:
        'List tasks, newest first, a page at a time: only those of one assignee, status, intent or type, or only overdue ones. Pass the returned cursor to read on. (A key that may only see its own work must name an intentId, or lists only its own tasks.)',
      input: listInput,
      output: listOutput,
      annotations: { title: 'List human tasks', readOnlyHint: true, openWorldHint: false },
      run: async (args) => {
        const page = await access.listTasks({
          ...(args.assignee === undefined ? {} : { assignee: args.assignee }),
          ...(args.status === undefined ? {} : { status: args.status }),
          ...(args.intentId === undefined ? {} : { intentId: args.intentId }),
          ...(args.type === undefined ? {} : { type: args.type }),
          ...(args.overdue === undefined ? {} : { overdue: args.overdue }),
          ...(args.cursor === undefined ? {} : { cursor: args.cursor }),
          limit: args.limit ?? 20,
        });
        const tasks = page.tasks.map((task) => viewOf(task, link(task.id)));
        const text =
          tasks.length === 0
            ? 'No tasks.'
            : tasks
                .map(
                  (view) =>
                    `${view.taskId} ${view.status}${view.outcome ? ` (${view.outcome})` : ''} — ${view.title} — ${view.assignees.join(', ')}`,
                )
                .join('\n');
        return toolResult({ tasks, ...(page.cursor === undefined ? {} : { cursor: page.cursor }) }, text);
      },
    }),
    cancel_human_task: define({
      title: 'Cancel a human task',
      description:
        'Withdraw a pending task that is no longer needed: nobody can decide it any more, and a wait on it ends with status "canceled".',
      input: cancelInput,
      output: taskView,
      annotations: {
        title: 'Cancel a human task',
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
      run: async (args) => {
        const task = await access.cancelTask(
          args.taskId,
          args.reason === undefined ? {} : { reason: args.reason },
        );
        const view = viewOf(task, link(task.id));
        return toolResult(view, describeView(view));
      },
    }),
  };

  const listed: Tool[] = Object.entries(tools).map(([name, tool]) => ({
    name,
    title: tool.title,
    description: tool.description,
    inputSchema: jsonSchema(tool.input, 'input'),
    outputSchema: jsonSchema(tool.output, 'output'),
    annotations: tool.annotations,
    ...(tool.taskSupport ? { execution: { taskSupport: 'optional' as const } } : {}),
  }));

  server.registerCapabilities({ tools: { listChanged: false } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const name = request.params.name;
    const tool = Object.hasOwn(tools, name) ? tools[name] : undefined;
    if (!tool) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Unknown tool '${name}'; this server has ${Object.keys(tools).join(', ')}`,
      );
    }
    const asTask = request.params.task !== undefined;
    if (asTask && !tool.taskSupport) {
      throw new McpError(ErrorCode.MethodNotFound, `${name} does not run as a task; call it without 'task'`);
    }
    // A refused call is a tool error the model can read; as a task, a failed task that holds it.
    const refuse = (result: CallToolResult) => (asTask ? taskStore.fail(result) : result);
    const parsed = tool.input.safeParse(request.params.arguments ?? {});
    if (!parsed.success) return refuse(argumentError(name, parsed.error));
    try {
      return await tool.run(parsed.data, extra, asTask);
    } catch (error) {
      if (extra.signal.aborted) throw error;
      const refusal = engineError(error);
      if (refusal) return refuse(refusal);
      // Not the caller's fault: say so without the internals.
      server.onerror?.(error instanceof Error ? error : new Error(String(error)));
      return refuse(toolError(`Internal error in ${name}; the call can be retried.`));
    }
  });
  return mcp;
}

/**
 * An MCP server offering `wait_for_human`, `get_human_task`, `list_human_tasks` and
 * `cancel_human_task` over a Holdpoint engine, with MCP tasks kept by the engine. Connect it to any
 * SDK transport (`await server.connect(transport)`), or use {@link serveStdio} /
 * {@link createMcpHttpHandler}. One server serves one connection.
 *
 * The tools are answered by Holdpoint's own `tools/*` handlers: add resources or prompts to the
 * returned server, not tools (`registerTool` would be refused).
 *
 * @example
 * const hp = await createHoldpoint({ store: 'sqlite://./.holdpoint/holdpoint.db' });
 * const server = createMcpServer(hp, { user: 'alice@acme.test', inboxUrl: 'https://holdpoint.acme.test' });
 * await server.connect(new StdioServerTransport());
 */
export function createMcpServer(hp: Holdpoint, options?: HoldpointMcpOptions): McpServer {
  const resolved = resolveOptions(options, 'createMcpServer');
  return buildMcpServer(hp, resolved, resolved.user);
}
