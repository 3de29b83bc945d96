import { type HumanResult, ValidationError } from '@holdpoint/core';
import { Command } from '@langchain/langgraph';
import { type WaitForHumanOptions, waitForHuman } from './wait-for-human.js';

/** Options of {@link humanGate}. */
export interface HumanGateOptions<State> extends WaitForHumanOptions {
  /**
   * The parts of the request that depend on the run: what the human decides on (`context`), the
   * `title`, the `intentId`… Merged over the static options.
   * @example (state) => ({ context: { draft: state.draft }, intentId: state.intentId })
   */
  ask?: (state: State) => Partial<WaitForHumanOptions> | Promise<Partial<WaitForHumanOptions>>;
  /**
   * Where the run goes next, by outcome (`approved`, `rejected`, …) or, when no decision was made,
   * by status (`timed_out`, `canceled`); `default` for anything not named. Values are node names or `END`.
   * @example { approved: 'send', changes_requested: 'revise', rejected: END }
   */
  routes: Record<string, string>;
  /** The state update that goes with the route, from the result. @default no update */
  update?: (result: HumanResult, state: State) => Record<string, unknown> | undefined;
}

/** A gate node: a LangGraph node function, with the nodes it may go to (pass them as `ends`). */
export type HumanGateNode<State> = ((state: State) => Promise<Command>) & {
  /** Every node the gate may route to: `builder.addNode('cfo', gate, { ends: gate.ends })`. */
  readonly ends: string[];
};

/** The key of `routes` a result takes: its outcome when decided, its status otherwise. */
function routeOf(result: HumanResult): string {
  return result.status === 'decided' ? (result.outcome as string) : result.status;
}

/**
 * A node that asks a human and routes by the answer — the common case in one line:
 *
 * ```ts
 * const cfo = humanGate({
 *   task: 'approval', assignee: 'cfo@acme.test', timeout: '48h', escalateTo: ['deputy-cfo@acme.test'],
 *   ask: (state) => ({ context: { report: state.report } }),
 *   routes: { approved: 'distribute', rejected: END, timed_out: END },
 *   update: (result) => ({ approval: result }),
 * });
 * builder.addNode('cfo', cfo, { ends: cfo.ends });
 * ```
 *
 * It runs {@link waitForHuman} (same key, same interrupt, same resume) and returns
 * `new Command({ goto, update })`.
 *
 * @throws ValidationError when `routes` is empty; at run time, when the result has no route and
 *   there is no `default`.
 */
export function humanGate<State = Record<string, unknown>>(
  options: HumanGateOptions<State>,
): HumanGateNode<State> {
  const { ask, routes, update, ...request } = options;
  if (typeof routes !== 'object' || routes === null || Object.keys(routes).length === 0) {
    throw new ValidationError({
      field: 'humanGate.routes',
      message:
        "humanGate: give routes, the node to go to per outcome: { approved: 'send', rejected: END, timed_out: END }",
    });
  }
  const node = async (state: State): Promise<Command> => {
    const asked = ask === undefined ? {} : await ask(state);
    const result = await waitForHuman({ ...request, ...asked });
    const route = routeOf(result);
    const goto = routes[route] ?? routes.default;
    if (goto === undefined) {
      throw new ValidationError({
        field: 'humanGate.routes',
        message: `humanGate: no route for '${route}' (task ${result.taskId}); add routes.${route} or routes.default`,
      });
    }
    const changes = update?.(result, state);
    return new Command({ goto, ...(changes === undefined ? {} : { update: changes }) });
  };
  return Object.assign(node, { ends: [...new Set(Object.values(routes))] });
}
