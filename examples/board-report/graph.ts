// The board-report graph: an agent drafts the quarterly summary, legal reviews its wording (a
// requested change loops back to a revision, which is a new version), the CFO approves the
// distribution, and only then is it sent. Each wait lasts 48 "hours" with reminders and an
// escalation to a delegate; `hour` sets how long an hour is, so the story can run in seconds.
import type { HumanResult } from '@holdpoint/core';
import { type GateEngine, humanGate } from '@holdpoint/langgraph';
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';

export const people = {
  legal: 'legal@acme.test',
  generalCounsel: 'deputy-gc@acme.test',
  cfo: 'cfo@acme.test',
  deputyCfo: 'deputy-cfo@acme.test',
};

/** The internal figures the summary is drafted from (millions). */
export const ledger = { quarter: 'Q3 2026', revenue: 12.4, lastYear: 11.5, operatingCosts: 9.1 };

const BoardReport = Annotation.Root({
  quarter: Annotation<string>,
  /** The Holdpoint intent the report's gates belong to: one audit trail for the whole story. */
  intentId: Annotation<string>,
  version: Annotation<number>,
  draft: Annotation<string>,
  feedback: Annotation<string[]>({ reducer: (left, right) => [...left, ...right], default: () => [] }),
  review: Annotation<HumanResult | undefined>,
  approval: Annotation<HumanResult | undefined>,
  distributed: Annotation<boolean>,
});
export type BoardReportState = typeof BoardReport.State;

/**
 * The deterministic stand-in for the model: the summary from the ledger, minus what legal asked to
 * drop. (The gates are the point; a real agent would call its model here.)
 */
export function writeSummary(feedback: readonly string[]): string {
  const growth = ((ledger.revenue / ledger.lastYear - 1) * 100).toFixed(1);
  const margin = ((1 - ledger.operatingCosts / ledger.revenue) * 100).toFixed(1);
  const sentences = [
    `${ledger.quarter}: revenue $${ledger.revenue}M (+${growth}% year on year), operating margin ${margin}%.`,
    'A record quarter for the company.',
    'We expect revenue to keep growing at this pace next year.',
  ];
  const dropForwardLooking = feedback.some((line) => /forward-looking/i.test(line));
  return sentences.filter((sentence) => !(dropForwardLooking && /we expect/i.test(sentence))).join(' ');
}

export interface BoardReportOptions {
  holdpoint: GateEngine;
  checkpointer: BaseCheckpointSaver;
  /** Milliseconds in one of the story's hours. */
  hour: number;
  /** Sends the approved report (called once per report). */
  distribute: (report: {
    intentId: string;
    version: number;
    draft: string;
    approval: HumanResult;
  }) => Promise<void>;
}

export function boardReportGraph(options: BoardReportOptions) {
  const { holdpoint, hour } = options;
  const hours = (count: number) => count * hour;
  // Both gates: 48 hours, reminders after a day and then every 16 hours, then 48 hours more with a
  // delegate beside the assignee.
  const waiting = (delegate: string) => ({
    holdpoint,
    timeout: hours(48),
    remind: { after: hours(24), every: hours(16), max: 3 },
    escalateTo: [{ assignee: delegate, timeout: hours(48) }],
  });
  const legal = humanGate<BoardReportState>({
    ...waiting(people.generalCounsel),
    task: 'review',
    assignee: people.legal,
    ask: (state) => ({
      intentId: state.intentId,
      title: `Review the wording of the ${state.quarter} summary (v${state.version})`,
      context: { version: state.version, draft: state.draft },
    }),
    routes: { approved: 'cfo', changes_requested: 'revise', rejected: END, timed_out: END, canceled: END },
    update: (review) => ({ review, feedback: review.comment === undefined ? [] : [review.comment] }),
  });
  const cfo = humanGate<BoardReportState>({
    ...waiting(people.deputyCfo),
    task: 'approval',
    assignee: people.cfo,
    ask: (state) => ({
      intentId: state.intentId,
      title: `Distribute the ${state.quarter} summary to the board (v${state.version})`,
      context: { version: state.version, draft: state.draft, recipients: ['board@acme.test'] },
    }),
    routes: { approved: 'distribute', rejected: END, timed_out: END, canceled: END },
    update: (approval) => ({ approval }),
  });
  return new StateGraph(BoardReport)
    .addNode('write', () => ({ version: 1, draft: writeSummary([]) }))
    .addNode('legal', legal, { ends: legal.ends })
    .addNode('revise', (state: BoardReportState) => ({
      version: state.version + 1,
      draft: writeSummary(state.feedback),
    }))
    .addNode('cfo', cfo, { ends: cfo.ends })
    .addNode('distribute', async (state: BoardReportState) => {
      await options.distribute({
        intentId: state.intentId,
        version: state.version,
        draft: state.draft,
        approval: state.approval as HumanResult,
      });
      return { distributed: true };
    })
    .addEdge(START, 'write')
    .addEdge('write', 'legal')
    .addEdge('revise', 'legal')
    .addEdge('distribute', END)
    .compile({ checkpointer: options.checkpointer });
}
