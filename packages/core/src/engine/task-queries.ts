import { sameActorId } from '../actor-id.js';
import { ValidationError } from '../errors/validation-error.js';
import type { ListTasksOptions } from '../holdpoint.js';
import type { HumanTask, TaskStatus } from '../model.js';
import { layout, taskEntry } from '../store/layout.js';
import type { IndexEntry } from '../store/store-backend.js';
import { type TaskType, taskTypes } from '../task-types.js';
import { normalizeActorId, normalizeIdentifier, normalizeTaskStatus } from './options.js';
import { everAssigned } from './task-lists.js';

// How `listTasks` reads: which list answers a query, what a task must be to match it, and the
// keyset cursor that reads on. Pure functions; the engine does the reading.

/** A `listTasks` query after validation. */
export interface ListQuery {
  assignee?: string;
  status?: TaskStatus;
  intentId?: string;
  type?: TaskType;
  overdue?: boolean;
  limit: number;
  cursor?: IndexEntry;
}

/** Check `listTasks` options; each refusal says which field and what to give. */
export function normalizeListQuery(options: Partial<ListTasksOptions>): ListQuery {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new ValidationError({
      field: 'listTasks.limit',
      message: 'listTasks.limit must be an integer from 1 to 10000',
    });
  }
  const status = normalizeTaskStatus(options.status, 'listTasks.status');
  if (options.type !== undefined && !(taskTypes as readonly unknown[]).includes(options.type)) {
    throw new ValidationError({
      field: 'listTasks.type',
      message: `listTasks.type must be one of ${taskTypes.join(', ')}; got ${typeof options.type === 'string' ? JSON.stringify(options.type) : typeof options.type}`,
    });
  }
  if (options.overdue !== undefined && typeof options.overdue !== 'boolean') {
    throw new ValidationError({
      field: 'listTasks.overdue',
      message: 'listTasks.overdue must be true or false',
    });
  }
  return {
    limit,
    ...(options.assignee === undefined
      ? {}
      : { assignee: normalizeActorId(options.assignee, 'listTasks.assignee') }),
    ...(status === undefined ? {} : { status }),
    ...(options.intentId === undefined
      ? {}
      : { intentId: normalizeIdentifier(options.intentId, 'listTasks.intentId') }),
    ...(options.type === undefined ? {} : { type: options.type }),
    ...(options.overdue === undefined ? {} : { overdue: options.overdue }),
    ...(options.cursor === undefined ? {} : { cursor: decodeListCursor(options.cursor) }),
  };
}

/** Whether a pending task's deadline has passed at `now`. */
function isOverdue(task: HumanTask, now: number): boolean {
  return task.status === 'pending' && task.deadlineAt !== undefined && Date.parse(task.deadlineAt) < now;
}

/** Whether a task matches every filter of a query. */
export function taskMatches(task: HumanTask, query: ListQuery, now: number): boolean {
  if (query.status !== undefined && task.status !== query.status) return false;
  if (query.intentId !== undefined && task.intentId !== query.intentId) return false;
  if (query.type !== undefined && task.type !== query.type) return false;
  if (query.overdue !== undefined && isOverdue(task, now) !== query.overdue) return false;
  const wanted = query.assignee;
  if (wanted !== undefined) {
    // Pending: who may decide now. Otherwise: anyone the task was ever given to.
    const assignees = query.status === 'pending' ? task.assignees : everAssigned(task);
    if (!assignees.some((assignee) => sameActorId(assignee, wanted))) return false;
  }
  return true;
}

/**
 * The list that answers a query (without `intentId`, which is read from the intent's state), and
 * the highest score to read (`overdue`: deadlines before now). `index` is absent when no task can
 * match (overdue tasks in a status other than pending).
 */
export function listIndexOf(query: ListQuery, now: number): { index?: string; max?: number } {
  const { assignee, status, type } = query;
  if (query.overdue === true) {
    if (status !== undefined && status !== 'pending') return {};
    return {
      index: assignee === undefined ? layout.listDeadline : layout.listAssigneeDeadline(assignee),
      max: now,
    };
  }
  if (assignee !== undefined)
    return {
      index:
        status === undefined ? layout.listAssignee(assignee) : layout.listAssigneeStatus(status, assignee),
    };
  if (type !== undefined)
    return { index: status === undefined ? layout.listType(type) : layout.listTypeStatus(type, status) };
  return { index: status === undefined ? layout.listAll : layout.listStatus(status) };
}

/** A task's entry in the deadline lists. */
export function deadlineEntry(task: HumanTask): IndexEntry {
  return {
    member: task.id,
    score: task.deadlineAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(task.deadlineAt),
  };
}

/** The order of every list: by score, then by member (as the stores order them, byte by byte). */
export function compareEntries(a: IndexEntry, b: IndexEntry): number {
  if (a.score !== b.score) return a.score < b.score ? -1 : 1;
  return a.member < b.member ? -1 : a.member > b.member ? 1 : 0;
}

/** The cursor after a list entry: opaque text. */
export function encodeListCursor(entry: IndexEntry): string {
  return Buffer.from(JSON.stringify([entry.score, entry.member])).toString('base64url');
}

/** The list entry a cursor stands for. @throws ValidationError when it is not a cursor listTasks returned */
export function decodeListCursor(cursor: unknown): IndexEntry {
  const refuse = () =>
    new ValidationError({
      field: 'listTasks.cursor',
      message:
        'listTasks.cursor is not a cursor listTasks returned: pass the cursor of the previous page, or leave it out for the first page.',
    });
  if (typeof cursor !== 'string' || cursor.length > 2_000) throw refuse();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    !Number.isFinite(parsed[0]) ||
    typeof parsed[1] !== 'string'
  )
    throw refuse();
  return { score: parsed[0] as number, member: parsed[1] as string };
}

export { taskEntry };
