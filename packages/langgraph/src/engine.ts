import type { Holdpoint, HumanResult, HumanTask } from '@holdpoint/core';

/**
 * The engine methods this adapter calls: what `createHoldpoint` returns. (One place names the
 * engine's type, so that a change of it touches this line only.)
 */
export type GateEngine = Pick<Holdpoint, 'requestHuman' | 'getTask' | 'subscribe'>;

/** What the adapter records in a task's `metadata.langgraph`: where in which run the human was asked. */
export interface GateOrigin {
  threadId: string;
  /** The checkpoint namespace of the asking task (`node:taskId`, with the parents' for a subgraph). */
  checkpointNs?: string;
  /** The node that asked. */
  node?: string;
  /** Which gate of the node's run this is, from 0 (its interrupt's position). */
  position?: number;
  /** For a task made from an interrupt the graph raised itself: that interrupt, and which task of it. */
  interruptId?: string;
  index?: number;
}

/** The origin a task's metadata names, or undefined for a task no graph asked for. */
export function originOf(task: HumanTask): GateOrigin | undefined {
  const origin = task.metadata?.langgraph as GateOrigin | undefined;
  return typeof origin?.threadId === 'string' ? origin : undefined;
}

/**
 * What `waitForHuman` returns for a task that has ended: the decision — by a human, or by the
 * timeout policy (`decidedBy: 'policy'`, `actor: null`) — or the timeout or cancellation.
 * `undefined` while the task is pending.
 */
export function humanResultOf(task: HumanTask): HumanResult | undefined {
  const base = { taskId: task.id, intentId: task.intentId, versionDigest: task.versionDigest };
  switch (task.status) {
    case 'decided': {
      const decision = task.decision;
      if (decision === undefined) return undefined;
      return {
        ...base,
        status: 'decided',
        outcome: decision.outcome,
        ...(decision.comment === undefined ? {} : { comment: decision.comment }),
        ...(decision.data === undefined ? {} : { data: decision.data }),
        ...(decision.evidence === undefined ? {} : { evidence: decision.evidence }),
        actor: decision.actor,
        decidedBy: decision.decidedBy,
        decidedAt: decision.decidedAt,
        ...(decision.votes === undefined ? {} : { votes: decision.votes }),
      };
    }
    case 'timed_out':
      return { ...base, status: 'timed_out', actor: null, decidedBy: 'policy', decidedAt: task.updatedAt };
    case 'canceled':
      return { ...base, status: 'canceled', decidedAt: task.updatedAt };
    default:
      return undefined;
  }
}
