import type { HumanResult, RequestHumanOptions } from '@holdpoint/core';
import { toJsonSchema } from '@langchain/core/utils/json_schema';

/** Where an interrupt the graph raised itself was raised. */
export interface InterruptOrigin {
  threadId: string;
  /** LangGraph's id of the interrupt (what `Command({ resume: { [id]: value } })` answers). */
  interruptId: string;
}

/**
 * How the resumer serves a graph that calls `interrupt()` itself: which Holdpoint tasks an
 * interrupt's value asks for, and what to resume it with once they have all ended.
 */
export interface InterruptMapping {
  /**
   * The tasks to ask for this interrupt value (one or more), or `undefined` when this mapping does
   * not apply to it. Idempotency keys and `metadata.langgraph` are filled in by the resumer.
   */
  tasks(
    value: unknown,
    origin: InterruptOrigin,
  ): Array<Omit<RequestHumanOptions, 'idempotencyKey'>> | undefined;
  /** The value to resume the interrupt with, from the results of its tasks (same order). */
  resume(results: HumanResult[], value: unknown): unknown;
}

/** LangChain v1 `humanInTheLoopMiddleware`: one action the model wants to take. */
export interface ActionRequest {
  name: string;
  args: Record<string, unknown>;
  description?: string;
}

/** LangChain v1 `humanInTheLoopMiddleware`: which decisions a reviewer may take on an action. */
export interface ReviewConfig {
  actionName: string;
  allowedDecisions: Array<'approve' | 'edit' | 'reject'>;
  /** JSON Schema of the action's arguments, for edits. */
  argsSchema?: Record<string, unknown>;
}

/** LangChain v1 `humanInTheLoopMiddleware`: the interrupt value (`HITLRequest`). */
export interface HITLRequest {
  actionRequests: ActionRequest[];
  reviewConfigs: ReviewConfig[];
}

/** LangChain v1 `humanInTheLoopMiddleware`: one decision. */
export type HITLDecision =
  | { type: 'approve' }
  | { type: 'edit'; editedAction: { name: string; args: Record<string, unknown> } }
  | { type: 'reject'; message?: string };

/** LangChain v1 `humanInTheLoopMiddleware`: the resume value (`HITLResponse`). */
export interface HITLResponse {
  decisions: HITLDecision[];
}

/** Options of {@link humanInTheLoop}: who reviews, and how long they have (the engine's request options). */
export interface HumanInTheLoopOptions
  extends Omit<
    RequestHumanOptions,
    'task' | 'context' | 'allowedOutcomes' | 'schema' | 'idempotencyKey' | 'title' | 'description'
  > {
  /**
   * The agent's tools: an edit is checked against the tool's input schema (zod or JSON Schema) when
   * the middleware's review config gives no `argsSchema`.
   */
  tools?: Array<{ name: string; schema?: unknown }>;
  /** The line the reviewer sees. @default `Approve <tool>` */
  title?: (action: ActionRequest) => string;
}

/** Holdpoint outcomes of a reviewed action, and the LangChain decision each stands for. */
export const hitlOutcomes = {
  /** Run the tool call as the model made it. */
  approved: 'approve',
  /** Run it with the arguments in the decision's `data` (checked against the tool's schema). */
  edited: 'edit',
  /** Do not run it; the comment goes to the model as the tool's answer. */
  rejected: 'reject',
  /** Do not run it, and answer in its place: the comment is the answer the model gets. */
  responded: 'reject',
} as const;

function isHitlRequest(value: unknown): value is HITLRequest {
  const candidate = value as Partial<HITLRequest> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    Array.isArray(candidate.actionRequests) &&
    Array.isArray(candidate.reviewConfigs) &&
    candidate.actionRequests.every((action) => typeof action?.name === 'string')
  );
}

/** A schema as the engine takes it: JSON Schema without a `$schema` of another draft. */
function argsSchemaOf(schema: unknown): Record<string, unknown> | undefined {
  if (schema === undefined || schema === null) return undefined;
  const json = toJsonSchema(schema as Parameters<typeof toJsonSchema>[0]) as Record<string, unknown>;
  const { $schema: _draft, ...rest } = json;
  return rest;
}

/**
 * The ready mapping for LangChain v1's `humanInTheLoopMiddleware`: each action the agent wants
 * reviewed becomes one Holdpoint task (`approved`, `edited`, `rejected`, `responded` — as the
 * middleware's `allowedDecisions` allow), and once all have ended the agent is resumed with
 * `{ decisions }` in the order of the actions. An edit's `data` holds the new arguments, checked
 * by the engine against the tool's schema when the decision is taken. A task that timed out or was
 * canceled is answered with a rejection that says so (a timeout policy's decision is used as made).
 *
 * @example
 * startResumer({ holdpoint: hp, graph: agent, interrupts: [humanInTheLoop({ assignee: 'ops@acme.test', tools })] });
 */
export function humanInTheLoop(options: HumanInTheLoopOptions): InterruptMapping {
  const { tools = [], title, ...request } = options;
  const toolSchemas = new Map(tools.map((tool) => [tool.name, tool.schema]));
  return {
    tasks(value) {
      if (!isHitlRequest(value)) return undefined;
      return value.actionRequests.map((action, index) => {
        const review =
          value.reviewConfigs.find((config) => config.actionName === action.name) ??
          value.reviewConfigs[index];
        const allowed = review?.allowedDecisions ?? ['approve', 'edit', 'reject'];
        const outcomes = (Object.keys(hitlOutcomes) as Array<keyof typeof hitlOutcomes>).filter((outcome) =>
          allowed.includes(hitlOutcomes[outcome]),
        );
        const schema = allowed.includes('edit')
          ? (review?.argsSchema ?? argsSchemaOf(toolSchemas.get(action.name)))
          : undefined;
        return {
          ...request,
          task: 'approval' as const,
          title: title?.(action) ?? `Approve ${action.name}`,
          ...(action.description === undefined ? {} : { description: action.description }),
          context: { tool: action.name, args: action.args },
          allowedOutcomes: outcomes,
          ...(schema === undefined ? {} : { schema }),
        };
      });
    },
    resume(results, value): HITLResponse {
      const actions = (value as HITLRequest).actionRequests;
      return {
        decisions: results.map((result, index): HITLDecision => {
          const action = actions[index] as ActionRequest;
          if (result.status !== 'decided') {
            const what = result.status === 'timed_out' ? 'timed out' : 'was canceled';
            return { type: 'reject', message: `No one decided on ${action.name}: the review ${what}.` };
          }
          switch (result.outcome) {
            case 'approved':
              return { type: 'approve' };
            case 'edited':
              return {
                type: 'edit',
                editedAction: { name: action.name, args: (result.data ?? {}) as Record<string, unknown> },
              };
            default: {
              const who =
                result.decidedBy === 'policy' ? 'the timeout policy' : (result.actor?.id ?? 'a reviewer');
              return { type: 'reject', message: result.comment ?? `${who} rejected ${action.name}.` };
            }
          }
        }),
      };
    },
  };
}
