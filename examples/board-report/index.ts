// The quarterly board report, as a LangGraph agent with two Holdpoint gates.
//
// An agent drafts the summary from internal figures (a deterministic stand-in for the model), legal
// reviews the wording — asking for a change, which loops back to a revision, a new version whose
// old digest is refused — and the CFO approves the distribution. Each wait lasts 48 hours with
// reminders and an escalation to a delegate. The graph pauses at each gate (interrupt) and the
// resumer continues it when the human acts. At the end the audit export shows who approved which
// version when, and verifies.
//
//   BOARD_REPORT_HOUR=1s        how long one of the story's hours lasts (default 1h): 1s runs it in under a minute
//   BOARD_REPORT_SCENARIO=escalation   the CFO never answers; the deputy CFO is reminded after the escalation and approves
//   HOLDPOINT_STORE=…           the store (default sqlite://./.holdpoint/board-report.db)
//
// Standalone, scripted humans act on the notifications (people.ts). Against a running Holdpoint
// server the same graph and resumer run on the server's store, and people act in its inbox.
import { randomUUID } from 'node:crypto';
import {
  type AuditEvent,
  createHoldpoint,
  createStore,
  type HumanTask,
  parseDuration,
} from '@holdpoint/core';
import { HoldpointSaver, startResumer } from '@holdpoint/langgraph';
import { boardReportGraph, ledger, people } from './graph.js';
import { type Script, scriptedHumans } from './people.js';

const hour = parseDuration(process.env.BOARD_REPORT_HOUR ?? '1h', 'BOARD_REPORT_HOUR');
const scenario = process.env.BOARD_REPORT_SCENARIO === 'escalation' ? 'escalation' : 'story';
const script: Script =
  scenario === 'escalation'
    ? { legal: 'approve', cfo: 'silent', deputyCfo: 'approve-when-reminded' }
    : { legal: 'request-changes-then-approve', cfo: 'approve-after-reminder', deputyCfo: 'silent' };
const started = Date.now();
const clock = () => `${(((Date.now() - started) / hour) | 0).toString().padStart(3)}h`;
const say = (line: string) => console.log(`[${clock()}] ${line}`);

const store = await createStore(process.env.HOLDPOINT_STORE ?? 'sqlite://./.holdpoint/board-report.db');
let humans: ReturnType<typeof scriptedHumans> | undefined;
const hp = await createHoldpoint({
  store,
  notify: (notification) => {
    const { task } = notification;
    say(`notify ${task.assignees.join(', ')}: ${notification.type} — ${task.title}`);
    humans?.notice(notification);
  },
});
humans = scriptedHumans(hp, script);

const distributions: Array<{ version: number; approvedBy: string | undefined }> = [];
let finished: () => void = () => {};
const done = new Promise<void>((resolve) => {
  finished = resolve;
});
const graph = boardReportGraph({
  holdpoint: hp,
  checkpointer: new HoldpointSaver(store),
  hour,
  distribute: async (report) => {
    distributions.push({ version: report.version, approvedBy: report.approval.actor?.id });
    say(`distributed v${report.version} to the board (approved by ${report.approval.actor?.id})`);
    await hp.complete(report.intentId, { result: { distributed: true, version: report.version } });
  },
});

say(
  `scenario: ${scenario}; one hour lasts ${hour} ms${hour >= 3_600_000 ? ' (set BOARD_REPORT_HOUR=1s to run it in under a minute)' : ''}`,
);
const run = randomUUID().slice(0, 8);
const intent = await hp.submit({
  type: 'board-report',
  input: { quarter: ledger.quarter },
  idempotencyKey: `board-report/${ledger.quarter}/${run}`,
});
const thread = { configurable: { thread_id: `board-report-${run}` } };
const resumer = await startResumer({
  holdpoint: hp,
  graph,
  onResume: (event) => say(`resumed the graph (${event.interrupts.length} answer)`),
});

// The run starts through the resumer, which holds the thread meanwhile: the legal team may answer
// before the run has even stopped at its gate.
await resumer.invoke({ quarter: ledger.quarter, intentId: intent.id }, thread);
say('the graph waits for legal');
// The run ends when the report is distributed, or when a gate routes to the end (rejected, timed out).
const ended = setInterval(async () => {
  const state = await graph.getState(thread);
  if (state.tasks.length === 0 && state.next.length === 0) finished();
}, 100);
const deadline = setTimeout(finished, 150 * hour + 30_000);
await done;
clearInterval(ended);
clearTimeout(deadline);
await resumer.close();

// The audit trail: who approved which version, when — and that it verifies.
const jsonl = await hp.audit.export(intent.id);
const events = jsonl
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as AuditEvent | { type: 'signature' })
  .filter((event): event is AuditEvent => event.type !== 'signature');
const tasks = new Map<string, HumanTask>();
const rows: string[] = [];
for (const event of events) {
  if (event.type === 'task-created') tasks.set(event.taskId as string, event.data.task as HumanTask);
  const task = event.taskId === undefined ? undefined : tasks.get(event.taskId);
  const version = (task?.context as { version?: number } | undefined)?.version;
  const what = task === undefined ? '' : `${task.type} v${version}`;
  const detail =
    event.type === 'task-decided'
      ? (() => {
          const decision = event.data.decision as { outcome: string; versionDigest: string };
          return `${decision.outcome} on ${decision.versionDigest.slice(0, 19)}…`;
        })()
      : event.type === 'task-escalated' || event.type === 'task-reminded'
        ? `to ${((event.data.assignees as string[] | undefined) ?? task?.assignees ?? []).join(', ')}`
        : '';
  rows.push(
    `${event.type} ${what} ${event.actor?.id ?? 'engine'} ${event.at} ${detail}`.replace(/\s+/g, ' '),
  );
}
console.log('\naudit trail of the board report:');
for (const row of rows) console.log(`  ${row}`);
const verification = await hp.audit.verify(jsonl);
const tampered = await hp.audit.verify(jsonl.replace(`"${people.legal}"`, '"someone-else@acme.test"'));
console.log(`audit verified: ${verification.ok}; with one actor changed: ${tampered.ok}`);

// The story checks itself.
const decisions = events
  .filter((event) => event.type === 'task-decided')
  .map((event) => {
    const task = tasks.get(event.taskId as string) as HumanTask;
    const decision = event.data.decision as {
      outcome: string;
      actor: { id: string } | null;
      versionDigest: string;
    };
    return `${task.type} v${(task.context as { version: number }).version} ${decision.outcome} by ${decision.actor?.id}`;
  });
const count = (type: string) => events.filter((event) => event.type === type).length;
const expected =
  scenario === 'escalation'
    ? [`review v1 approved by ${people.legal}`, `approval v1 approved by ${people.deputyCfo}`]
    : [
        `review v1 changes_requested by ${people.legal}`,
        `review v2 approved by ${people.legal}`,
        `approval v2 approved by ${people.cfo}`,
      ];
const problems = [
  ...(JSON.stringify(decisions) === JSON.stringify(expected)
    ? []
    : [`decisions ${JSON.stringify(decisions)}, expected ${JSON.stringify(expected)}`]),
  ...(distributions.length === 1 ? [] : [`${distributions.length} distributions, expected 1`]),
  ...(verification.ok ? [] : ['the audit trail did not verify']),
  ...(tampered.ok ? ['a changed audit trail verified'] : []),
  ...(count('intent-completed') === 1 ? [] : ['the intent was not completed once']),
  ...(scenario === 'story' && humans.refusals.length !== 1
    ? ['the approval of the old version was not refused']
    : []),
  ...(scenario === 'story' && count('task-reminded') < 1 ? ['the CFO was not reminded'] : []),
  ...(scenario === 'escalation' && count('task-escalated') !== 1
    ? ['the approval was not escalated once']
    : []),
  ...humans.errors.map((error) => `a scripted human failed: ${String(error)}`),
];
for (const refusal of humans.refusals) console.log(`refused as it should be: ${refusal}`);
await hp.close();
await store.close();
if (problems.length > 0) {
  console.error(`board report story FAILED:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`board report story OK: ${decisions.join('; ')}`);
