// The one place that knows the engine's shape. The engine's API is being extended (an interface
// `Holdpoint`, `listTasks` returning pages): what changes is confined to this file.
import type { Holdpoint, HumanTask, TaskStatus } from '@holdpoint/core';

export type { Holdpoint };

/** Which tasks `list_human_tasks` asks for. */
export interface TaskFilter {
  assignee?: string;
  status?: TaskStatus;
  limit: number;
}

/** A page of tasks, newest first; `cursor` is present when more may follow. */
export interface TaskPage {
  tasks: HumanTask[];
  cursor?: string;
}

/** List tasks, whether the engine answers with an array or a page. */
export async function listTaskPage(hp: Holdpoint, filter: TaskFilter): Promise<TaskPage> {
  const page: unknown = await hp.listTasks(filter);
  return Array.isArray(page) ? { tasks: page as HumanTask[] } : (page as TaskPage);
}
