// The one place that knows the engine's shape: what the tools ask of it, and how the engine of
// today answers `list_human_tasks`.
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

/** How many tasks the engine's list is read to, at most, for the filters it cannot apply itself. */
export const listWindow = 10_000;

function overdue(task: HumanTask, now: number): boolean {
  return task.status === 'pending' && task.deadlineAt !== undefined && Date.parse(task.deadlineAt) < now;
}

/** A cursor of {@link listTaskPage}: `<createdAt ms>|<task id>`; anything else reads from the start. */
function parseCursor(cursor: string): { createdMs: number; id: string } {
  const bar = cursor.indexOf('|');
  const createdMs = Number(cursor.slice(0, bar));
  return bar > 0 && Number.isFinite(createdMs)
    ? { createdMs, id: cursor.slice(bar + 1) }
    : { createdMs: Number.POSITIVE_INFINITY, id: '' };
}

/**
 * List tasks with the engine's public `listTasks`. It answers `assignee` and `status` from its
 * indexes; `intentId`, `type` and `overdue` it cannot filter yet, so they are applied here to the
 * newest {@link listWindow} tasks it returns for the rest of the filter. The cursor names the last
 * task of the page (its creation time and id): the next page starts after it, so tasks created
 * meanwhile do not shift it.
 */
export async function listTaskPage(hp: Holdpoint, filter: TaskFilter): Promise<TaskPage> {
  const limit = filter.limit ?? 20;
  const narrowed =
    filter.intentId !== undefined ||
    filter.type !== undefined ||
    filter.overdue !== undefined ||
    filter.cursor !== undefined;
  const read = await hp.listTasks({
    ...(filter.assignee === undefined ? {} : { assignee: filter.assignee }),
    ...(filter.status === undefined ? {} : { status: filter.status }),
    limit: narrowed ? listWindow : limit + 1,
  });
  let start = 0;
  if (filter.cursor !== undefined) {
    const { createdMs, id } = parseCursor(filter.cursor);
    const at = read.findIndex((task) => task.id === id);
    // The task the cursor names left this list (it ended, under a status filter): read on from the
    // tasks created before it.
    start = at >= 0 ? at + 1 : read.findIndex((task) => Date.parse(task.createdAt) < createdMs);
    if (start < 0) start = read.length;
  }
  const now = Date.now();
  const matching: HumanTask[] = [];
  let more = false;
  for (const task of read.slice(start)) {
    if (filter.intentId !== undefined && task.intentId !== filter.intentId) continue;
    if (filter.type !== undefined && task.type !== filter.type) continue;
    if (filter.overdue !== undefined && overdue(task, now) !== filter.overdue) continue;
    if (matching.length === limit) {
      more = true;
      break;
    }
    matching.push(task);
  }
  const last = matching.at(-1);
  return { tasks: matching, ...(more && last ? { cursor: `${Date.parse(last.createdAt)}|${last.id}` } : {}) };
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
