import type { Holdpoint, HumanTask } from '@holdpoint/core';

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
