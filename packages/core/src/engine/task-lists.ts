import type { AuditEvent } from '../audit/audit-event.js';
import type { HumanTask } from '../model.js';
import { layout, taskEntry } from '../store/layout.js';
import type { EventWrites, FeedRecord } from '../store/store-backend.js';
import type { IntentState } from './intent-state.js';

// What an event writes besides itself, as pure functions of the intent's state before and after it:
// its feed record, and the changes to the task lists and counts. The chain hands both to the store's
// `appendEvent`, which writes them in the event's own transaction — so the lists and counts are
// exactly those of the tasks' current states, whatever crashes.

/** One entry of a task list. */
export interface ListEntry {
  index: string;
  member: string;
  score: number;
}

/** Everyone a task is or was assigned to: its first assignees, its current ones, each escalation step reached. */
export function everAssigned(task: HumanTask): string[] {
  return [
    ...new Set([
      ...task.originalAssignees,
      ...task.assignees,
      ...task.escalateTo.slice(0, task.escalationLevel).map((step) => step.assignee),
    ]),
  ];
}

/** Who a task counts for in the per-assignee lists of its status: its assignees while pending, after that everyone it was assigned to. */
function assigneesOf(task: HumanTask): string[] {
  return task.status === 'pending' ? [...new Set(task.assignees)] : everAssigned(task);
}

/** The list entries a task in this state has. */
export function listEntries(task: HumanTask): ListEntry[] {
  const { member, score } = taskEntry(task);
  const entry = (index: string): ListEntry => ({ index, member, score });
  const entries = [
    entry(layout.listAll),
    entry(layout.listStatus(task.status)),
    entry(layout.listType(task.type)),
    entry(layout.listTypeStatus(task.type, task.status)),
    ...everAssigned(task).map((assignee) => entry(layout.listAssignee(assignee))),
    ...assigneesOf(task).map((assignee) => entry(layout.listAssigneeStatus(task.status, assignee))),
  ];
  if (task.status === 'pending' && task.deadlineAt !== undefined) {
    const deadline = Date.parse(task.deadlineAt);
    entries.push(
      { index: layout.listDeadline, member, score: deadline },
      ...assigneesOf(task).map((assignee) => ({
        index: layout.listAssigneeDeadline(assignee),
        member,
        score: deadline,
      })),
    );
  }
  return entries;
}

/** The counters a task in this state adds one to. */
export function taskCounters(task: HumanTask): string[] {
  return [
    layout.countStatus(task.status),
    ...assigneesOf(task).map((assignee) => layout.countAssigneeStatus(task.status, assignee)),
  ];
}

/**
 * The tasks an event changed (`next.changed`; states are copied on write, so an unchanged task is
 * the same object). The state an event is appended to holds every task the event changes.
 */
function changedTasks(
  previous: IntentState | undefined,
  next: IntentState,
): Array<{ before?: HumanTask; after: HumanTask }> {
  const changed: Array<{ before?: HumanTask; after: HumanTask }> = [];
  for (const taskId of new Set(next.changed)) {
    const after = next.tasks[taskId];
    const before = previous?.tasks[taskId];
    if (after !== undefined && before !== after)
      changed.push(before === undefined ? { after } : { before, after });
  }
  return changed;
}

/** The list entries and counters that change with an event, from the intent's state before and after it. */
export function listWrites(previous: IntentState | undefined, next: IntentState): EventWrites {
  const indexAdd: ListEntry[] = [];
  const indexRemove: Array<{ index: string; member: string }> = [];
  const deltas = new Map<string, number>();
  for (const { before, after } of changedTasks(previous, next)) {
    const old = new Map((before ? listEntries(before) : []).map((entry) => [entry.index, entry]));
    const now = new Map(listEntries(after).map((entry) => [entry.index, entry]));
    for (const [index, entry] of now) if (old.get(index)?.score !== entry.score) indexAdd.push(entry);
    for (const [index, entry] of old) if (!now.has(index)) indexRemove.push({ index, member: entry.member });
    for (const counter of before ? taskCounters(before) : [])
      deltas.set(counter, (deltas.get(counter) ?? 0) - 1);
    for (const counter of taskCounters(after)) deltas.set(counter, (deltas.get(counter) ?? 0) + 1);
  }
  const counters = [...deltas]
    .filter(([, delta]) => delta !== 0)
    .map(([counter, delta]) => ({ counter, delta }));
  return { indexAdd, indexRemove, counters };
}

/**
 * An event's feed record: its intent, position in the chain and task, and — for the assignee
 * filter — everyone assigned to a task the event changed (so an intent's cancellation shows in the
 * feed of each person whose task it ended).
 */
export function feedRecordOf(
  previous: IntentState | undefined,
  next: IntentState,
  event: AuditEvent,
): FeedRecord {
  const assignees = new Set<string>();
  for (const { after } of changedTasks(previous, next))
    for (const assignee of everAssigned(after)) assignees.add(assignee);
  const task = event.taskId === undefined ? undefined : next.tasks[event.taskId];
  if (task) for (const assignee of everAssigned(task)) assignees.add(assignee);
  return {
    intentId: event.intentId,
    seq: event.seq,
    ...(event.taskId === undefined ? {} : { taskId: event.taskId }),
    assignees: [...assignees],
  };
}
