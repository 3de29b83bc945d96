// The one place where the server reads the engine's event feed and task lists. Written against the
// engine API of the storage-layout issue (per-entry cursors, filters, list cursors): an engine that
// has it (it has `taskCounts`) is asked directly; the engine before it is adapted here, so the
// switch is local to this file.
import type { AuditEvent, Holdpoint, HumanTask, TaskStatus, TaskType } from '@holdpoint/core';

export type { Holdpoint };

/** Which events to read. */
export interface FeedFilter {
  intentId?: string;
  taskId?: string;
  /** Events of tasks this person is (or was) assigned to. */
  assignee?: string;
}

/** One event of the feed with the cursor that reads on after it. */
export interface FeedEntry {
  cursor: string;
  event: AuditEvent;
}

/** A page of the feed; `cursor` reads on (always present). */
export interface FeedPage {
  entries: FeedEntry[];
  cursor: string;
}

/** Which tasks to list. */
export interface TaskQuery {
  assignee?: string;
  status?: TaskStatus;
  intentId?: string;
  type?: TaskType;
  overdue?: boolean;
  limit?: number;
  cursor?: string;
}

/** A page of tasks; `cursor` is present when more may follow. */
export interface TaskListPage {
  tasks: HumanTask[];
  cursor?: string;
}

/** Whether the engine has the feed with filters and the lists with cursors. */
function hasFeedAndLists(hp: Holdpoint): boolean {
  return typeof (hp as { taskCounts?: unknown }).taskCounts === 'function';
}

// The current engine's cursors are `<time>|<intent>:<seq>`; this one sorts before every event.
const feedStart = '0|0';

function cursorOf(event: AuditEvent): string {
  return `${Date.parse(event.at)}|${event.intentId}:${event.seq}`;
}

/**
 * Read the feed after `since` (`'now'`: after the newest event; absent: from the start), at most
 * `limit` entries that pass the filter.
 */
export async function readFeed(
  hp: Holdpoint,
  options: FeedFilter & { since?: string; limit: number },
): Promise<FeedPage> {
  if (hasFeedAndLists(hp))
    return (hp as unknown as { events(options: object): Promise<FeedPage> }).events(options);
  const { since, limit } = options;
  let position = since === undefined || since === 'now' ? feedStart : since;
  const entries: FeedEntry[] = [];
  const tasks = new Map<string, HumanTask | undefined>();
  const assigned = async (event: AuditEvent, assignee: string): Promise<boolean> => {
    if (event.taskId === undefined) return false;
    if (!tasks.has(event.taskId))
      tasks.set(event.taskId, await hp.getTask(event.taskId).catch(() => undefined));
    const task = tasks.get(event.taskId);
    return (
      task !== undefined && (task.assignees.includes(assignee) || task.originalAssignees.includes(assignee))
    );
  };
  for (;;) {
    const page = await hp.events({ since: position, limit: since === 'now' ? 1000 : limit });
    for (const event of page.events) {
      const cursor = cursorOf(event);
      position = cursor;
      if (since === 'now') continue;
      if (options.intentId !== undefined && event.intentId !== options.intentId) continue;
      if (options.taskId !== undefined && event.taskId !== options.taskId) continue;
      if (options.assignee !== undefined && !(await assigned(event, options.assignee))) continue;
      entries.push({ cursor, event });
      if (entries.length === limit) return { entries, cursor };
    }
    if (page.events.length === 0 || page.cursor === undefined) return { entries, cursor: position };
  }
}

/** List tasks, newest first. */
export async function listTasks(hp: Holdpoint, query: TaskQuery): Promise<TaskListPage> {
  if (hasFeedAndLists(hp)) {
    return (hp as unknown as { listTasks(options: object): Promise<TaskListPage> }).listTasks(query);
  }
  const limit = query.limit ?? 100;
  const tasks = await hp.listTasks({
    ...(query.assignee === undefined ? {} : { assignee: query.assignee }),
    ...(query.status === undefined ? {} : { status: query.status }),
    limit: 10_000,
  });
  const now = Date.now();
  const matching = tasks.filter(
    (task) =>
      (query.intentId === undefined || task.intentId === query.intentId) &&
      (query.type === undefined || task.type === query.type) &&
      (query.overdue === undefined ||
        query.overdue ===
          (task.status === 'pending' && task.deadlineAt !== undefined && Date.parse(task.deadlineAt) < now)),
  );
  const offset = query.cursor === undefined ? 0 : Number(query.cursor);
  const page = matching.slice(offset, offset + limit);
  return {
    tasks: page,
    ...(offset + limit < matching.length ? { cursor: String(offset + limit) } : {}),
  };
}

/**
 * A cursor moved back by `ms`, for readers that must not miss an event (the channels' outbox): the
 * current engine indexes an event in its feed just after recording it, by its recording time, so an
 * entry can land a moment behind a cursor that already passed that time (a concurrent append, or
 * another process's clock). Reading again from a little earlier — and skipping what was seen —
 * catches those. An engine with the storage-layout feed (exactly once, in order) needs no rewind:
 * the cursor is returned as is.
 */
export function rewindCursor(hp: Holdpoint, cursor: string, ms: number): string {
  if (hasFeedAndLists(hp)) return cursor;
  const match = /^(\d+)\|/.exec(cursor);
  if (!match) return cursor;
  // `!` sorts before every feed member (`<intentId>:<seq>`), so the rewound cursor is before them all.
  return `${Math.max(0, Number(match[1]) - ms)}|!`;
}
