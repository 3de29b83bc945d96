import type { ModelMessage } from 'ai';

/** A `tool-approval-request` in a conversation, with the tool call it is for. */
export interface ApprovalRequestInfo {
  approvalId: string;
  toolCallId: string;
  toolName: string;
  input: unknown;
  /** The text the model wrote before the call, in the same message. */
  modelText?: string;
  /** Approved or denied by the SDK on the spot (an `approved`/`denied` status), not by a person. */
  isAutomatic: boolean;
  /** A `tool-approval-response` or a tool result answers it somewhere in the conversation. */
  answered: boolean;
}

/** Every approval request in the conversation, oldest first. */
export function approvalRequests(messages: readonly ModelMessage[]): ApprovalRequestInfo[] {
  const calls = new Map<string, { toolName: string; input: unknown; modelText?: string }>();
  const requests: Array<Omit<ApprovalRequestInfo, 'answered'>> = [];
  const answeredApprovals = new Set<string>();
  const answeredCalls = new Set<string>();
  for (const message of messages) {
    if (typeof message.content === 'string') continue;
    if (message.role === 'assistant') {
      let text = '';
      for (const part of message.content) {
        if (part.type === 'text') text += part.text;
        else if (part.type === 'tool-call') {
          calls.set(part.toolCallId, {
            toolName: part.toolName,
            input: part.input,
            ...(text.trim() === '' ? {} : { modelText: text.trim() }),
          });
        } else if (part.type === 'tool-approval-request') {
          const call = calls.get(part.toolCallId);
          if (call === undefined) continue;
          requests.push({
            approvalId: part.approvalId,
            toolCallId: part.toolCallId,
            ...call,
            // `isAutomatic` is AI SDK 7's; 6 has no automatic approvals.
            isAutomatic: (part as { isAutomatic?: boolean }).isAutomatic === true,
          });
        } else if (part.type === 'tool-result') answeredCalls.add(part.toolCallId);
      }
    } else if (message.role === 'tool') {
      for (const part of message.content) {
        if (part.type === 'tool-approval-response') answeredApprovals.add(part.approvalId);
        else if (part.type === 'tool-result') answeredCalls.add(part.toolCallId);
      }
    }
  }
  return requests.map((request) => ({
    ...request,
    answered: answeredApprovals.has(request.approvalId) || answeredCalls.has(request.toolCallId),
  }));
}

/**
 * The request a continuation answers for this tool call: the SDK continues a conversation whose last
 * message is a tool message holding `tool-approval-response` parts; this finds the request among them
 * that belongs to `toolCallId`. Undefined for a call the model has just made.
 */
export function answeredRequestFor(
  messages: readonly ModelMessage[],
  toolCallId: string,
): ApprovalRequestInfo | undefined {
  const last = messages.at(-1);
  if (last?.role !== 'tool') return undefined;
  const answered = new Set(
    last.content.flatMap((part) => (part.type === 'tool-approval-response' ? [part.approvalId] : [])),
  );
  if (answered.size === 0) return undefined;
  return approvalRequests(messages).find(
    (request) =>
      request.toolCallId === toolCallId && answered.has(request.approvalId) && !request.isAutomatic,
  );
}
