// The one place where the server reads the engine's event feed and task lists: both pass straight
// through to the engine (`events()` with filters and per-entry cursors, `listTasks()` with filters
// and a cursor), so the routes, the streams and the inbox depend on these few types only.
import type { AuditEvent, Holdpoint, HumanTask, TaskCounts, TaskStatus, TaskType } from '@holdpoint/core';

export type { Holdpoint };

/** Which events to read. */
export interface FeedFilter {
  intentId?: string;
  taskId?: string;
  /** Events of tasks this person was assigned to when the event was recorded. */
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

/**
 * Read the feed after `since` (`'now'`: after the newest event; absent: from the start), at most
 * `limit` entries that pass the filter. A malformed `since` is refused by the engine (`VALIDATION`).
 */
export async function readFeed(
  hp: Holdpoint,
  options: FeedFilter & { since?: string; limit: number },
): Promise<FeedPage> {
  const { entries, cursor } = await hp.events(options);
  return { entries, cursor };
}

/** List tasks, newest first (most overdue first with `overdue: true`). */
export async function listTasks(hp: Holdpoint, query: TaskQuery): Promise<TaskListPage> {
  return hp.listTasks(query);
}

/** How many tasks are in each status (of one assignee's, with `assignee`): read from the engine's counters, not counted. */
export async function countTasks(hp: Holdpoint, query: { assignee?: string } = {}): Promise<TaskCounts> {
  return hp.taskCounts(query);
}

/** A count that stopped at a cap: `more` when tasks beyond `count` were not read. */
export interface CappedCount {
  count: number;
  more: boolean;
}

/**
 * Count the tasks a query lists, reading at most `cap` of them, and those only (the query's own
 * index: an assignee's overdue tasks, for one, are a range of their deadlines). `where` counts a
 * subset of what is read.
 */
export async function countListed(
  hp: Holdpoint,
  query: Omit<TaskQuery, 'limit' | 'cursor'>,
  cap: number,
  where: (task: HumanTask) => boolean = () => true,
): Promise<CappedCount> {
  let count = 0;
  let read = 0;
  let cursor: string | undefined;
  do {
    const page = await hp.listTasks({
      ...query,
      limit: Math.min(1000, cap - read),
      ...(cursor ? { cursor } : {}),
    });
    read += page.tasks.length;
    count += page.tasks.filter(where).length;
    cursor = page.cursor;
  } while (cursor !== undefined && read < cap);
  // A cursor says more *may* follow: one more task read tells.
  const more = cursor !== undefined && (await hp.listTasks({ ...query, limit: 1, cursor })).tasks.length > 0;
  return { count, more };
}

/**
 * The cursor from which a reader that must not miss an event (the channels' outbox) reads on. The
 * engine's feed gives every event exactly once, in the order the store made it readable, so a cursor
 * never needs moving back: it is returned as is. (Kept so the readers that ask stay unchanged.)
 */
export function rewindCursor(_hp: Holdpoint, cursor: string, _ms: number): string {
  return cursor;
}
