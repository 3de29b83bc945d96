import {
  type Actor,
  type DecideInput,
  type HumanTask,
  type NoteTaskInput,
  type RequestHumanOptions,
  sameActorId,
} from '@holdpoint/core';
import { type Holdpoint, listTasks, type TaskListPage, type TaskQuery } from '../engine-feed.js';
import { ApiError } from '../errors.js';
import { type Authority, requireRole } from './authority.js';
import { scopedKey, withClientKey } from './idempotency.js';
import type { Principal } from './principal.js';

/**
 * The task calls one authenticated caller may make, under the rules of the HTTP API: the routes
 * under `/v1/tasks` make them, and so does any other front end on the same keys (the CLI mounts
 * MCP's `/mcp` with them), so a key may do exactly the same wherever it is used. Refusals are
 * {@link ApiError}s (`FORBIDDEN`, …) or the engine's errors; a stranger learns nothing about a task.
 */
export interface CallerTasks {
  /** The caller's identity, recorded for what it does. */
  readonly actor: Actor;
  /** Whether this caller may decide tasks at all (person and admin keys; an agent key may not). */
  readonly mayDecide: boolean;
  /**
   * Ask a human (agent and admin keys). The idempotency key is in the caller's own namespace, and the
   * caller becomes the owner of the task's intent.
   */
  requestHuman(options: RequestHumanOptions): Promise<HumanTask>;
  /** A task the caller may see: an admin any, an agent those of its intents, a person those it involves. */
  getTask(taskId: string): Promise<HumanTask>;
  /** Tasks, newest first: a person only its own, an agent those of one of its intents (`intentId` required), an admin any. */
  listTasks(query: TaskQuery): Promise<TaskListPage>;
  /** Decide as the caller (a current assignee, or an admin deciding as admin). */
  decide(taskId: string, input: Omit<DecideInput, 'actor' | 'asAdmin'>): Promise<HumanTask>;
  /** A note by the caller, with the same rule as deciding (see `noteTask` in the engine). */
  noteTask(taskId: string, input: Omit<NoteTaskInput, 'actor' | 'asAdmin'>): Promise<HumanTask>;
  /** Cancel a task of one of the caller's intents (or any, as an admin). */
  cancelTask(taskId: string, options?: { reason?: string }): Promise<HumanTask>;
}

/** How a front end names the filters of a list in its errors (the API: `query.intent`). */
export interface ListFieldNames {
  assignee: string;
  intentId: string;
}

const apiListFields: ListFieldNames = { assignee: 'query.assignee', intentId: 'query.intent' };

function shortName(field: string): string {
  return field.slice(field.lastIndexOf('.') + 1);
}

/** The filters a caller may list with: people see their own tasks, agents those of their intents. */
async function allowedQuery(
  principal: Principal,
  query: TaskQuery,
  authority: Authority,
  fields: ListFieldNames,
): Promise<TaskQuery> {
  if (principal.role === 'person') {
    if (query.assignee !== undefined && !sameActorId(query.assignee, principal.actor.id)) {
      throw new ApiError(
        'FORBIDDEN',
        `A person key lists only its own tasks: leave out ${shortName(fields.assignee)} or give your own id.`,
        { field: fields.assignee },
      );
    }
    return { ...query, assignee: principal.actor.id };
  }
  if (principal.role === 'agent') {
    if (query.intentId === undefined) {
      throw new ApiError(
        'FORBIDDEN',
        `An agent key lists the tasks of one of its intents: give ${shortName(fields.intentId)}.`,
        { field: fields.intentId },
      );
    }
    await authority.assertOwns(principal, query.intentId, `list the tasks of intent ${query.intentId}`);
  }
  return query;
}

/**
 * The task calls of `principal` over `hp`.
 * @param fields how the caller's front end names the list filters, for its error messages.
 */
export function callerTasks(
  hp: Holdpoint,
  authority: Authority,
  principal: Principal,
  fields: ListFieldNames = apiListFields,
): CallerTasks {
  const actor = principal.actor;
  const asAdmin = principal.role === 'admin' ? { asAdmin: true } : {};
  return {
    actor,
    mayDecide: principal.role === 'person' || principal.role === 'admin',

    async requestHuman(options) {
      requireRole(principal, ['agent', 'admin'], 'ask humans');
      if (options.intentId !== undefined) {
        await hp.getIntent(options.intentId);
        await authority.assertOwns(principal, options.intentId, `add a task to intent ${options.intentId}`);
      }
      const key = options.idempotencyKey;
      const task = await hp.requestHuman({
        ...options,
        ...(key === undefined ? {} : { idempotencyKey: scopedKey(principal, key) }),
      });
      await authority.recordOwner(task.intentId, principal);
      return withClientKey(task);
    },

    async getTask(taskId) {
      const task = await hp.getTask(taskId);
      await authority.assertMayRead(principal, task);
      return withClientKey(task);
    },

    async listTasks(query) {
      const page = await listTasks(hp, await allowedQuery(principal, query, authority, fields));
      return { ...page, tasks: page.tasks.map(withClientKey) };
    },

    async decide(taskId, input) {
      requireRole(principal, ['person', 'admin'], 'decide tasks');
      // The engine checks assignment first: someone not assigned gets NOT_ASSIGNED and nothing else
      // about the task, and the attempt is recorded in the intent's audit (task-decision-refused).
      return withClientKey(await hp.decide(taskId, { ...input, actor, ...asAdmin }));
    },

    async noteTask(taskId, input) {
      requireRole(principal, ['person', 'admin'], 'note on tasks');
      return withClientKey(await hp.noteTask(taskId, { ...input, actor, ...asAdmin }));
    },

    async cancelTask(taskId, options = {}) {
      const task = await hp.getTask(taskId);
      await authority.assertOwns(principal, task.intentId, `cancel task ${taskId}`);
      return withClientKey(
        await hp.cancelTask(taskId, {
          ...(options.reason === undefined ? {} : { reason: options.reason }),
          actor,
        }),
      );
    },
  };
}
