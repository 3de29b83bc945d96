import type { Tool } from 'ai';
import type { Verdict } from './verdict.js';
import { isOwnDenial } from './verdict.js';

/** What `toModelOutput` returns (the SDK's ToolResultOutput). */
type ModelOutput = Awaited<ReturnType<NonNullable<Tool['toModelOutput']>>>;

type JsonValue = (ModelOutput & { type: 'json' })['value'];

/** A value as plain JSON, as the SDK sends tool outputs (`undefined` as null). */
function toJson(value: unknown): JsonValue {
  const json = value === undefined ? undefined : JSON.stringify(value);
  return json === undefined ? null : JSON.parse(json);
}

/** The SDK's default: strings as text, anything else as JSON. */
function defaultModelOutput(output: unknown): ModelOutput {
  return typeof output === 'string'
    ? { type: 'text', value: output }
    : { type: 'json', value: toJson(output) };
}

/** What changed, field by field for objects (`amount: 250 → 180`), else the whole value. */
function changes(requested: unknown, ran: unknown): string {
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!isRecord(requested) || !isRecord(ran)) return `${JSON.stringify(requested)} → ${JSON.stringify(ran)}`;
  const keys = [...new Set([...Object.keys(requested), ...Object.keys(ran)])];
  return keys
    .filter((key) => JSON.stringify(requested[key]) !== JSON.stringify(ran[key]))
    .map(
      (key) =>
        `${key}: ${JSON.stringify(requested[key]) ?? '(none)'} → ${JSON.stringify(ran[key]) ?? '(none)'}`,
    )
    .join(', ');
}

/** One sentence telling the model that a person changed the arguments, and what ran. */
export function editNote(verdict: Verdict): string {
  const who = verdict.actor ? (verdict.actor.name ?? verdict.actor.id) : 'a person';
  const comment = verdict.comment?.trim() ? ` Their comment: ${verdict.comment.trim()}` : '';
  return `${who} approved this call with changed arguments (${changes(verdict.requestedInput, verdict.input)}); it ran with the changed ones.${comment}`;
}

/**
 * The model output of a gated tool: a denial reads as a denied execution (as with the SDK's own
 * approvals); a run with changed arguments carries a note saying what ran.
 */
export async function gatedModelOutput(
  tool: Tool,
  options: { toolCallId: string; input: unknown; output: unknown },
  edit: Verdict | undefined,
): Promise<ModelOutput> {
  if (isOwnDenial(options.output)) return { type: 'execution-denied', reason: options.output.reason };
  const input = edit ? edit.input : options.input;
  const inner = tool.toModelOutput
    ? await tool.toModelOutput({ ...options, input })
    : defaultModelOutput(options.output);
  if (!edit) return inner;
  const note = editNote(edit);
  switch (inner.type) {
    case 'text':
      return { ...inner, value: `${note}\n\n${inner.value}` };
    case 'json':
      return {
        ...inner,
        value: { approvedWithChanges: note, ranWith: toJson(edit.input), output: inner.value },
      };
    case 'content':
      return { ...inner, value: [{ type: 'text', text: note }, ...inner.value] };
    default:
      return inner;
  }
}
