// The one place that knows the engine's shape: what the tools ask of it, and how the engine
// answers `list_human_tasks`.
import type {
  Actor,
  DecideInput,
  Holdpoint,
  HumanTask,
  NoteTaskInput,
  RequestHumanOptions,
  TaskStatus,
  TaskType,
} from '@holdpoint/core';

export type { Holdpoint };

/** Which tasks `list_human_tasks` asks for. */
export interface TaskFilter {
  /** Tasks this person is a current assignee of. */
  assignee?: string;
  status?: TaskStatus;
  intentId?: string;
  type?: TaskType;
  /** `true`: pending and past the current deadline; `false`: the others. */
  overdue?: boolean;
  limit?: number;
  /** From the previous page. */
  cursor?: string;
}

/** A page of tasks, newest first; `cursor` is present when more may follow. */
export interface TaskPage {
  tasks: HumanTask[];
  cursor?: string;
}

/**
 * The task calls the tools make, as one caller may make them. Without authentication they go to
 * the engine as they are (the person at the client decides as `user`); an HTTP server that
 * authenticates keys gives each caller its own — `@holdpoint/server`'s `server.tasksFor(principal)`
 * is one, applying the rules of its HTTP API, so a key may do over MCP exactly what it may do there.
 *
 * A refusal is thrown as a `HoldpointError`, or as an error with a string `code` and an HTTP
 * `status` from 400 to 499 (such as the server's `ApiError`): the model reads its code and message
 * as a tool error. Anything else is an internal error.
 */
export interface McpTaskAccess {
  /** Whether this caller's decisions can be recorded at all; when `false` nobody is asked in the client. @default true */
  readonly mayDecide?: boolean;
  requestHuman(options: RequestHumanOptions): Promise<HumanTask>;
  getTask(taskId: string): Promise<HumanTask>;
  listTasks(filter: TaskFilter): Promise<TaskPage>;
  /** Decide as the caller. */
  decide(taskId: string, input: Omit<DecideInput, 'actor' | 'asAdmin'>): Promise<HumanTask>;
  /** A note by the caller (declined or dismissed a question in the client). */
  noteTask(taskId: string, input: Omit<NoteTaskInput, 'actor' | 'asAdmin'>): Promise<HumanTask>;
  cancelTask(taskId: string, options?: { reason?: string }): Promise<HumanTask>;
}

/**
 * List tasks with the engine's `listTasks`, which answers every filter from its own index with a
 * cursor of its own (opaque; a cursor that is not one is refused with `VALIDATION`). Twenty per page
 * unless `limit` says otherwise.
 */
export async function listTaskPage(hp: Holdpoint, filter: TaskFilter): Promise<TaskPage> {
  return hp.listTasks({ ...filter, limit: filter.limit ?? 20 });
}

/** The engine as it is, for a caller who holds it (stdio, or HTTP without authentication). */
export function engineAccess(hp: Holdpoint, user: Actor | undefined): McpTaskAccess {
  const noUser = (action: string) =>
    new Error(`${action}: no person at the client is known (give the 'user' option)`);
  return {
    requestHuman: (options) => hp.requestHuman(options),
    getTask: (taskId) => hp.getTask(taskId),
    listTasks: (filter) => listTaskPage(hp, filter),
    decide: async (taskId, input) => {
      if (!user) throw noUser('decide');
      return hp.decide(taskId, { ...input, actor: user });
    },
    noteTask: async (taskId, input) => {
      if (!user) throw noUser('noteTask');
      return hp.noteTask(taskId, { ...input, actor: user });
    },
    cancelTask: (taskId, options = {}) =>
      hp.cancelTask(taskId, {
        ...(options.reason === undefined ? {} : { reason: options.reason }),
        ...(user === undefined ? {} : { actor: user }),
      }),
  };
}
