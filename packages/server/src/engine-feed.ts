// The one place where the server reads the engine's event feed and task lists: both pass straight
// through to the engine (`events()` with filters and per-entry cursors, `listTasks()` with filters
// and a cursor), so the routes, the streams and the inbox depend on these few types only.
import type { AuditEvent, Holdpoint, HumanTask, TaskStatus, TaskType } from '@holdpoint/core';

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

/**
 * The cursor from which a reader that must not miss an event (the channels' outbox) reads on. The
 * engine's feed gives every event exactly once, in the order the store made it readable, so a cursor
 * never needs moving back: it is returned as is. (Kept so the readers that ask stay unchanged.)
 */
export function rewindCursor(_hp: Holdpoint, cursor: string, _ms: number): string {
  return cursor;
}
