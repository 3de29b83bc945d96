import type { HumanTask, Intent } from '../model.js';
import { layout } from '../store/layout.js';
import { emptyIntentState, type IntentHeader, type IntentState, taskIdBlock } from './intent-state.js';

// The records an intent's state is kept in, beside its chain (`StoreBackend.appendEvent` writes them
// in the event's own transaction, so they are always exactly the fold of the chain): a header, one
// record per task, and the task ids in blocks. An event rewrites the header and the records of the
// tasks it changed — never the rest — so what it writes does not grow with the intent's history.

/** What the header record of an intent holds: everything of its state but the tasks and the older task ids. */
interface HeaderRecord {
  intent: IntentHeader;
  headHash: string | null;
  recentEventIds: string[];
  pendingTaskIds: string[];
  taskCount: number;
  newTaskIds: string[];
}

/** What a task's record holds: the task and its once-marks. */
interface TaskRecord {
  task: HumanTask;
  marks?: string[];
}

/** The text of an intent's header record. */
export function headerText(state: IntentState): string {
  const header: HeaderRecord = {
    intent: state.intent,
    headHash: state.headHash,
    recentEventIds: state.recentEventIds,
    pendingTaskIds: state.pendingTaskIds,
    taskCount: state.taskCount,
    newTaskIds: state.newTaskIds,
  };
  return JSON.stringify(header);
}

/** The text of a task's record in a state that holds it. */
export function taskText(state: IntentState, taskId: string): string {
  const marks = state.marks[taskId];
  const record: TaskRecord = { task: state.tasks[taskId] as HumanTask, ...(marks ? { marks } : {}) };
  return JSON.stringify(record);
}

/**
 * The records an event writes, from the state before and after it: the header, the tasks it
 * created or changed, and the block of task ids it filled. After a state rebuilt the old way
 * (`allTaskIds`), everything: the intent's first event recorded by this engine writes every task.
 */
export function recordWrites(
  previous: IntentState | undefined,
  next: IntentState,
): { records: Array<{ key: string; value: string }>; header: string } {
  const intentId = next.intent.id;
  const header = headerText(next);
  const records = [{ key: layout.intentRecord(intentId), value: header }];
  const full = previous?.allTaskIds !== undefined;
  const taskIds = full ? Object.keys(next.tasks) : next.changed;
  for (const taskId of new Set(taskIds))
    if (next.tasks[taskId]) records.push({ key: layout.taskRecord(taskId), value: taskText(next, taskId) });
  if (full) {
    const all = next.allTaskIds as string[];
    for (let block = 0; (block + 1) * taskIdBlock <= all.length; block++) {
      const ids = all.slice(block * taskIdBlock, (block + 1) * taskIdBlock);
      records.push({ key: layout.taskIdsRecord(intentId, block), value: JSON.stringify(ids) });
    }
  } else if (previous && next.taskCount > previous.taskCount && next.taskCount % taskIdBlock === 0) {
    const block = next.taskCount / taskIdBlock - 1;
    const ids = [...previous.newTaskIds, next.changed[0] as string];
    records.push({ key: layout.taskIdsRecord(intentId, block), value: JSON.stringify(ids) });
  }
  return { records, header };
}

/** A state from an intent's header record and the records of some of its tasks (`undefined` where none). */
export function stateFromRecords(
  header: string,
  tasks: ReadonlyMap<string, string | undefined>,
): IntentState {
  const record = JSON.parse(header) as HeaderRecord;
  const state: IntentState = {
    intent: record.intent,
    tasks: {},
    marks: {},
    headHash: record.headHash,
    recentEventIds: record.recentEventIds,
    pendingTaskIds: record.pendingTaskIds,
    taskCount: record.taskCount,
    newTaskIds: record.newTaskIds,
    changed: [],
  };
  for (const [taskId, text] of tasks) {
    if (text === undefined) continue;
    const { task, marks } = JSON.parse(text) as TaskRecord;
    state.tasks[taskId] = task;
    if (marks) state.marks[taskId] = marks;
  }
  return state;
}

/** A task from its record. */
export function taskFromRecord(text: string): HumanTask {
  return (JSON.parse(text) as TaskRecord).task;
}

/**
 * A state from a snapshot written by an engine before the records (the whole state, Keyv
 * `intent:<id>`): every task held, `allTaskIds` set, the once-marks sorted by task.
 */
export function stateFromSnapshot(snapshot: {
  intent: Intent;
  tasks: Record<string, HumanTask>;
  headHash: string | null;
  recentEventIds: string[];
  once?: string[];
}): IntentState {
  const { taskIds, ...intent } = snapshot.intent;
  const marks: Record<string, string[]> = {};
  for (const mark of snapshot.once ?? []) {
    // `noted:<task>:<n>`, `refused:<task>:<actor>`, `timer-failed:<task>|<kind>|<count>`: task ids hold neither `:` nor `|`.
    const taskId = mark.slice(mark.indexOf(':') + 1).split(/[:|]/)[0] as string;
    marks[taskId] = [...(marks[taskId] ?? []), mark];
  }
  return {
    intent,
    tasks: snapshot.tasks,
    marks,
    headHash: snapshot.headHash,
    recentEventIds: snapshot.recentEventIds,
    pendingTaskIds: taskIds.filter((id) => snapshot.tasks[id]?.status === 'pending'),
    taskCount: taskIds.length,
    newTaskIds: taskIds.slice(taskIds.length - (taskIds.length % taskIdBlock)),
    changed: [],
    allTaskIds: taskIds,
  };
}

/** An empty state rebuilt the old way: the start of a fold of a chain that has no records. */
export function emptyOldState(intentId: string): IntentState {
  return { ...emptyIntentState(intentId), allTaskIds: [] };
}
