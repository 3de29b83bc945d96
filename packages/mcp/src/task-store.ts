import { randomUUID } from 'node:crypto';
import { AlreadyDecidedError, type HumanTask } from '@holdpoint/core';
import type { TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { CallToolResult, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import type { McpTaskAccess } from './engine.js';
import { describeView, refusalOf, toolResult, viewOf } from './results.js';

/** What `wait_for_human` records about the MCP client in the task's metadata. */
export interface McpMetadata {
  /** The authenticated identity (or configured user) that created the task as an MCP task. */
  owner?: string;
  /** Asked to be decided in the inbox only. */
  sensitive?: boolean;
}

export function mcpMetadataOf(task: HumanTask): McpMetadata {
  const mcp = task.metadata?.mcp;
  return typeof mcp === 'object' && mcp !== null ? (mcp as McpMetadata) : {};
}

const failedLimit = 100;
const failedTtlMs = 600_000;

/**
 * MCP tasks kept by the engine: an MCP task *is* the Holdpoint task (same id), and its status and
 * result are read from the engine every time — nothing lives in this process, so a task survives a
 * restart of the server and is answered by any server on the store. Only creations the engine
 * refused (invalid arguments) are kept here, briefly, as `failed` tasks holding the tool error.
 *
 * Tasks are bound to the identity that created them: with an `owner`, a task created by another
 * identity is "not found"; and every read goes through the caller's access, so a task the caller
 * may not see is "not found" too.
 */
export class EngineTaskStore implements TaskStore {
  readonly #access: McpTaskAccess;
  readonly #owner: string | undefined;
  readonly #pollIntervalMs: number;
  readonly #taskUrl: ((taskId: string) => string) | undefined;
  readonly #failed = new Map<string, { task: Task; result: CallToolResult }>();
  /** Notes for a task's status message (how the person at the client answered), this process only. */
  readonly notes = new Map<string, string>();
  /** Tasks whose person this process is asking at the client now: their MCP status is `input_required`. */
  readonly asking = new Set<string>();

  constructor(
    access: McpTaskAccess,
    options: { owner?: string; pollIntervalMs: number; taskUrl?: (taskId: string) => string },
  ) {
    this.#access = access;
    this.#owner = options.owner;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#taskUrl = options.taskUrl;
  }

  /** Whether the caller this store serves may see the task. */
  visible(task: HumanTask): boolean {
    return this.#owner === undefined || mcpMetadataOf(task).owner === this.#owner;
  }

  /** The MCP view of a Holdpoint task. */
  toMcpTask(task: HumanTask): Task {
    const decision = task.decision;
    const statusMessage =
      task.status === 'pending'
        ? [`waiting for ${task.assignees.join(', ')}`, this.notes.get(task.id)].filter(Boolean).join('; ')
        : decision
          ? `${decision.outcome} by ${decision.actor?.id ?? 'policy'}`
          : task.status.replace('_', ' ');
    return {
      taskId: task.id,
      status:
        task.status === 'pending'
          ? this.asking.has(task.id)
            ? 'input_required'
            : 'working'
          : task.status === 'canceled'
            ? 'cancelled'
            : 'completed',
      // Holdpoint tasks are durable: the result stays readable.
      ttl: null,
      createdAt: task.createdAt,
      lastUpdatedAt: task.updatedAt,
      pollInterval: this.#pollIntervalMs,
      statusMessage,
    };
  }

  /** The `tools/call` result of a task, the same as a blocking call would have returned. */
  resultOf(task: HumanTask): CallToolResult {
    const url = this.#taskUrl?.(task.id);
    const view = viewOf(task, url === undefined ? {} : { url });
    return toolResult(view, describeView(view));
  }

  /** Record a refused creation as a failed task whose result is the tool error. */
  fail(result: CallToolResult): { task: Task } {
    const now = new Date().toISOString();
    const text = result.content[0]?.type === 'text' ? result.content[0].text : 'failed';
    const task: Task = {
      taskId: `failed_${randomUUID()}`,
      status: 'failed',
      ttl: failedTtlMs,
      createdAt: now,
      lastUpdatedAt: now,
      statusMessage: text,
    };
    this.#failed.set(task.taskId, { task, result });
    if (this.#failed.size > failedLimit) this.#failed.delete(this.#failed.keys().next().value as string);
    return { task };
  }

  async createTask(): Promise<Task> {
    throw new Error('MCP tasks are created by wait_for_human');
  }

  async #read(taskId: string): Promise<HumanTask | undefined> {
    try {
      const task = await this.#access.getTask(taskId);
      return this.visible(task) ? task : undefined;
    } catch (error) {
      // Unknown, malformed, or not the caller's to see: all the same "not found", revealing nothing.
      const refusal = refusalOf(error);
      if (refusal && !refusal.retryable) return undefined;
      throw error;
    }
  }

  #failedTask(taskId: string): { task: Task; result: CallToolResult } | undefined {
    const entry = this.#failed.get(taskId);
    if (entry && Date.now() - Date.parse(entry.task.createdAt) > failedTtlMs) {
      this.#failed.delete(taskId);
      return undefined;
    }
    return entry;
  }

  async getTask(taskId: string): Promise<Task | null> {
    const failed = this.#failedTask(taskId);
    if (failed) return failed.task;
    const task = await this.#read(taskId);
    return task ? this.toMcpTask(task) : null;
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const failed = this.#failedTask(taskId);
    if (failed) return failed.result;
    const task = await this.#read(taskId);
    if (!task) throw new Error(`Task not found: ${taskId}`);
    return this.resultOf(task);
  }

  /** The result is read from the engine; nothing to store. */
  async storeTaskResult(): Promise<void> {}

  /** `tasks/cancel` cancels the Holdpoint task; other status changes are the engine's to make. */
  async updateTaskStatus(taskId: string, status: Task['status'], statusMessage?: string): Promise<void> {
    if (status !== 'cancelled') return;
    const task = await this.#read(taskId);
    if (!task) return;
    try {
      await this.#access.cancelTask(taskId, { reason: statusMessage ?? 'canceled by the MCP client' });
    } catch (error) {
      // Decided meanwhile: the task keeps its decision.
      if (!AlreadyDecidedError.isInstance(error)) throw error;
    }
  }

  async listTasks(): Promise<{ tasks: Task[]; nextCursor?: string }> {
    throw new Error('tasks/list is not offered: use the list_human_tasks tool');
  }
}
