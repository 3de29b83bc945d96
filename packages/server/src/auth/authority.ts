import { type HumanTask, type StoreBackend, sameActorId } from '@holdpoint/core';
import { ApiError } from '../errors.js';
import { storeCall } from '../store-call.js';
import type { Principal, Role } from './principal.js';

const ownerPrefix = 'server:owner:';

/**
 * Whether a person has to do with a task: assigned now or at first, or voted or decided on it. Email
 * addresses compare without case, as the engine compares them.
 */
export function involves(task: HumanTask, personId: string): boolean {
  const same = (id: string) => sameActorId(id, personId);
  const decider = task.decision?.actor?.id;
  return (
    task.assignees.some(same) ||
    task.originalAssignees.some(same) ||
    task.votes.some((vote) => same(vote.actor.id)) ||
    (decider !== undefined && same(decider))
  );
}

/** Refuse a caller whose role may not do this. @throws ApiError FORBIDDEN */
export function requireRole(principal: Principal, roles: readonly Role[], action: string): void {
  if (!roles.includes(principal.role)) {
    throw new ApiError(
      'FORBIDDEN',
      `${principal.role === 'agent' || principal.role === 'admin' ? 'An' : 'A'} ${principal.role} key may not ${action}; that needs ${roles.join(' or ')}.`,
      {
        role: principal.role,
        required: roles,
      },
    );
  }
}

/**
 * Who may see and change what. An intent belongs to the identity that created it (an agent, or an
 * admin); the owner is a first-writer-wins claim in the store, so it holds across every server on it.
 * People see the tasks they have to do with; admins see everything.
 */
export class Authority {
  readonly #store: StoreBackend;

  constructor(store: StoreBackend) {
    this.#store = store;
  }

  /** Record the creator of an intent (the first caller to record one keeps it). */
  async recordOwner(intentId: string, principal: Principal): Promise<void> {
    await storeCall(this.#store, 'owner.record', () =>
      this.#store.claim(ownerPrefix + intentId, principal.actor.id),
    );
  }

  /** Admins, and the agent that created the intent. @throws ApiError FORBIDDEN */
  async assertOwns(principal: Principal, intentId: string, action: string): Promise<void> {
    if (principal.role === 'admin') return;
    if (principal.role === 'agent') {
      const [owner] = await storeCall(this.#store, 'owner.read', () =>
        this.#store.readClaims([ownerPrefix + intentId]),
      );
      if (owner === principal.actor.id) return;
    }
    throw new ApiError('FORBIDDEN', `You may not ${action}: intent ${intentId} is not yours.`, {
      id: intentId,
    });
  }

  /** Admins, the agent that owns the task's intent, and the people it involves. @throws ApiError FORBIDDEN */
  async assertMayRead(principal: Principal, task: HumanTask): Promise<void> {
    if (principal.role === 'person') {
      if (involves(task, principal.actor.id)) return;
      throw new ApiError('FORBIDDEN', `Task ${task.id} is not one of yours.`, { id: task.id });
    }
    await this.assertOwns(principal, task.intentId, `see task ${task.id}`);
  }
}
