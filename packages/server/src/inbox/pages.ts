// The inbox's pages, as functions of what they show. Every value is escaped by `html`.
import {
  type AuditEvent,
  type HumanTask,
  type TaskCounts,
  type TaskStatus,
  taskTypeRules,
} from '@holdpoint/core';
import type { CappedCount } from '../engine-feed.js';
import type { User } from '../people/users.js';
import { decisionTimeChart, humanDuration } from './chart.js';
import { type Html, html } from './html.js';
import { schemaFields } from './schema-form.js';

/** The overview's counts, in this order. */
const statusLabels: Record<TaskStatus, string> = {
  pending: 'pending',
  decided: 'decided',
  timed_out: 'timed out',
  canceled: 'canceled',
};

const outcomeLabels: Record<string, string> = {
  approved: 'Approve',
  rejected: 'Reject',
  confirmed: 'Confirm',
  denied: 'Deny',
  changes_requested: 'Request changes',
  assigned: 'Accept',
  declined: 'Decline',
  submitted: 'Submit',
  provided: 'Provide answer',
  completed: 'Mark done',
  failed: 'Report failure',
  override_approved: 'Approve override',
};
const positive = new Set([
  'approved',
  'confirmed',
  'assigned',
  'submitted',
  'provided',
  'completed',
  'override_approved',
]);

function when(iso: string | undefined): Html {
  if (!iso) return html``;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 16)} UTC</time>`;
}

function overdue(task: HumanTask, now: number): boolean {
  return task.status === 'pending' && task.deadlineAt !== undefined && Date.parse(task.deadlineAt) < now;
}

function chips(task: HumanTask, now: number): Html {
  return html`<span class="chip">${task.type.replace('_', ' ')}</span>${
    task.escalationLevel > 0 ? html`<span class="chip warn">escalated</span>` : ''
  }${overdue(task, now) ? html`<span class="chip warn">overdue</span>` : ''}${
    task.status === 'pending' ? '' : html`<span class="chip ok">${task.status.replace('_', ' ')}</span>`
  }`;
}

/** `/`: the person's pending tasks (an admin's: everyone's). */
export function listPage(user: User, tasks: HumanTask[], now: number): Html {
  return html`<h1>${user.admin ? 'Pending tasks (everyone)' : 'Your pending tasks'}</h1>
  ${
    tasks.length === 0
      ? html`<p class="notice">Nothing waits for you. New tasks appear here by themselves.</p>`
      : html`<ul class="tasks" aria-label="Pending tasks">${tasks.map(
          (task) => html`<li>
        <a class="title" href="/tasks/${encodeURIComponent(task.id)}">${task.title}</a>
        <div>${chips(task, now)}</div>
        <div class="meta">asked ${when(task.createdAt)}${task.deadlineAt ? html` · due ${when(task.deadlineAt)}` : ''} · for ${task.assignees.join(', ')}</div>
      </li>`,
        )}</ul>`
  }`;
}

/** One entry of a timeline. */
export interface TimelineEntry {
  at: string;
  what: string;
  who?: string;
  detail?: string;
}

const eventWords: Partial<Record<AuditEvent['type'], string>> = {
  'intent-submitted': 'intent submitted',
  'intent-completed': 'intent completed',
  'intent-failed': 'intent failed',
  'intent-canceled': 'intent canceled',
  'task-created': 'task created',
  'task-reminded': 'reminder sent',
  'task-escalated': 'escalated',
  'task-voted': 'vote',
  'task-decided': 'decided',
  'task-timed-out': 'timed out',
  'task-canceled': 'task canceled',
  'task-decision-refused': 'decision refused (not assigned)',
  'task-timer-failed': 'timer failed',
};

/** A timeline entry for an audit event. */
export function timelineEntryOf(event: AuditEvent): TimelineEntry {
  const raw = event.data as Record<string, unknown>;
  // A decision's outcome and comment are in `data.decision`; a vote's at the top.
  const data = { ...raw, ...((raw.decision as Record<string, unknown> | undefined) ?? {}) } as {
    outcome?: unknown;
    comment?: unknown;
    assignee?: unknown;
    assignees?: unknown;
    title?: unknown;
  };
  const details = [
    typeof data.title === 'string' && event.type === 'task-created' ? `“${data.title}”` : undefined,
    typeof data.outcome === 'string' ? data.outcome : undefined,
    typeof data.comment === 'string' ? `“${data.comment}”` : undefined,
    Array.isArray(data.assignees) ? `to ${data.assignees.join(', ')}` : undefined,
    typeof data.assignee === 'string' ? `to ${data.assignee}` : undefined,
  ].filter((part) => part !== undefined);
  return {
    at: event.at,
    what: eventWords[event.type] ?? event.type,
    who: event.actor
      ? event.actor.name
        ? `${event.actor.name} <${event.actor.id}>`
        : event.actor.id
      : 'engine',
    ...(details.length > 0 ? { detail: details.join(' · ') } : {}),
  };
}

/** What the task page shows about the intent's audit trail. */
export interface AuditSummary {
  ok: boolean;
  trusted: boolean;
  signer?: string;
  events?: number;
  reason?: string;
}

/** What a refused or incomplete decision left for the page to show. */
export interface DecideState {
  error?: string;
  posted?: Record<string, string>;
  notice?: string;
}

function decisionForm(task: HumanTask, csrf: string, state: DecideState): Html {
  const rule = taskTypeRules[task.type];
  const posted = state.posted ?? {};
  const commentRequired = rule.requires === 'comment';
  return html`<form class="decide" method="post" action="/tasks/${encodeURIComponent(task.id)}/decide" aria-labelledby="decide-heading">
    <h2 id="decide-heading">Your decision</h2>
    <input type="hidden" name="csrf" value="${csrf}">
    <input type="hidden" name="versionDigest" value="${task.versionDigest}">
    ${state.error ? html`<div class="alert" role="alert" id="decide-error">${state.error}</div>` : ''}
    ${task.type === 'form' ? schemaFields(task.schema, posted) : ''}
    ${
      rule.requires === 'evidence'
        ? html`<label for="evidence">Evidence * <span class="meta">(a link, a note, what shows the work was done)</span></label>
      <textarea id="evidence" name="evidence" required>${posted.evidence ?? ''}</textarea>`
        : ''
    }
    <label for="comment">${commentRequired ? (task.type === 'override' ? 'Justification *' : 'Answer *') : 'Comment'}</label>
    <textarea id="comment" name="comment" ${commentRequired ? html`required` : ''}>${posted.comment ?? ''}</textarea>
    <div class="buttons">
      ${task.allowedOutcomes.map(
        (outcome) =>
          html`<button type="submit" name="outcome" value="${outcome}" class="${positive.has(outcome) ? 'primary' : 'danger'}">${outcomeLabels[outcome] ?? outcome}</button>`,
      )}
    </div>
  </form>`;
}

/** `/tasks/:id`: the context, its version, the decision form, the timeline and the audit. */
export function taskPage(options: {
  task: HumanTask;
  mayDecide: boolean;
  csrf: string;
  timeline: TimelineEntry[];
  audit: AuditSummary;
  state: DecideState;
  now: number;
}): Html {
  const { task, timeline, audit, state } = options;
  const decision = task.decision;
  return html`<p><a href="/">← Inbox</a></p>
  <h1>${task.title}</h1>
  <div>${chips(task, options.now)}</div>
  ${state.notice ? html`<div class="notice" role="status">${state.notice}</div>` : ''}
  ${task.description ? html`<p>${task.description}</p>` : ''}
  <p class="meta">For ${task.assignees.join(', ')} · asked ${when(task.createdAt)}${task.deadlineAt ? html` · due ${when(task.deadlineAt)}` : ''}</p>
  <h2>What you are deciding on</h2>
  <pre id="context" tabindex="0" aria-label="Context">${JSON.stringify(task.context, null, 2) ?? 'null'}</pre>
  <p class="meta">Version <code class="digest" id="version">${task.versionDigest}</code> — your decision is bound to this version; if the context changes, it is refused.</p>
  ${
    task.status === 'pending'
      ? options.mayDecide
        ? decisionForm(task, options.csrf, state)
        : html`<p class="notice">You can see this task but not decide it.</p>`
      : html`${state.error ? html`<div class="alert" role="alert" id="decide-error">${state.error}</div>` : ''}<h2>Decision</h2><p id="decision"><strong>${decision?.outcome ?? task.status.replace('_', ' ')}</strong>${
          decision?.actor
            ? html` by ${decision.actor.name ?? decision.actor.id}`
            : decision?.decidedBy === 'policy'
              ? ' by policy'
              : ''
        } ${when(decision?.decidedAt ?? task.updatedAt)}${decision?.comment ? html` — “${decision.comment}”` : ''}</p>`
  }
  <h2 id="timeline-heading">Timeline</h2>
  <ol class="timeline" aria-labelledby="timeline-heading" id="timeline">
    ${timeline.map(
      (entry) =>
        html`<li>${when(entry.at)} — <strong>${entry.what}</strong>${entry.who ? html` · ${entry.who}` : ''}${entry.detail ? html` · ${entry.detail}` : ''}</li>`,
    )}
  </ol>
  <h2>Audit trail</h2>
  <p id="audit-result">${
    audit.ok
      ? html`<span class="chip ok">verified</span> ${audit.events} events, signed by <code>${audit.signer}</code>, ${
          audit.trusted
            ? html`<strong>the server’s trusted key</strong>`
            : html`<strong class="chip warn">an untrusted key</strong>`
        }.`
      : html`<span class="chip warn">not verified</span> ${audit.reason ?? ''}${audit.signer ? html` (signer <code>${audit.signer}</code>, ${audit.trusted ? 'trusted' : 'not trusted'})` : ''}`
  }</p>
  <p><a href="/intents/${encodeURIComponent(task.intentId)}/audit" download="${task.intentId}.audit.jsonl">Export audit (JSONL)</a></p>`;
}

/** One row of the overview: an assignee's pending tasks (exact, from the counters), overdue and escalated (counted up to a cap). */
export interface AssigneeRow {
  assignee: string;
  pending: number;
  overdue: CappedCount;
  escalated: CappedCount;
}

/** `1,234`, or `1,000+` for a count that stopped at its cap. */
function countText(count: CappedCount): string {
  return `${count.count.toLocaleString('en-US')}${count.more ? '+' : ''}`;
}

/** `/overview`: the counts per status, pending, overdue and escalated per assignee, and how long decisions took. */
export function overviewPage(options: {
  user: User;
  rows: AssigneeRow[];
  totals: TaskCounts;
  durationsMs: number[];
  /** The durations are those of the newest decisions only. */
  decisionsCapped: boolean;
}): Html {
  const { rows, totals, durationsMs } = options;
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const median = sorted.length ? (sorted[Math.floor((sorted.length - 1) / 2)] as number) : undefined;
  const p90 = sorted.length ? (sorted[Math.floor((sorted.length - 1) * 0.9)] as number) : undefined;
  return html`<h1>Overview${options.user.admin ? '' : ' (your tasks)'}</h1>
  <p id="task-counts">${(Object.keys(statusLabels) as TaskStatus[]).map(
    (status, at) =>
      html`${at === 0 ? '' : ' · '}<strong>${totals[status].toLocaleString('en-US')}</strong> ${statusLabels[status]}`,
  )}</p>
  <h2>Pending per assignee</h2>
  ${
    rows.length === 0
      ? html`<p class="notice">No pending tasks.</p>`
      : html`<table><thead><tr><th scope="col">Assignee</th><th scope="col" class="num">Pending</th><th scope="col" class="num">Overdue</th><th scope="col" class="num">Escalated</th></tr></thead>
    <tbody>${rows.map(
      (row) =>
        html`<tr><td>${row.assignee}</td><td class="num">${row.pending.toLocaleString('en-US')}</td><td class="num">${countText(row.overdue)}</td><td class="num">${countText(row.escalated)}</td></tr>`,
    )}</tbody></table>`
  }
  <h2>How long decisions take</h2>
  ${
    sorted.length === 0
      ? html`<p class="notice">No decisions yet.</p>`
      : html`<p>${sorted.length} ${options.decisionsCapped ? 'newest ' : ''}decisions · median ${humanDuration(median as number)} · 90th percentile ${humanDuration(p90 as number)}</p>
    ${decisionTimeChart(sorted)}`
  }`;
}

/** A page that only says something (errors, "check your mail"). */
export function messagePage(heading: string, message: string, extra: Html = html``): Html {
  return html`<h1>${heading}</h1><p>${message}</p>${extra}`;
}

/** `/sign-in`: ask for a link by email. */
export function requestLinkPage(formToken: string, canMail: boolean, next: string): Html {
  return html`<h1>Sign in</h1>
  ${
    canMail
      ? html`<p>Enter your email address and we send you a sign-in link.</p>
    <form method="post" action="/sign-in">
      <input type="hidden" name="form" value="${formToken}">
      <input type="hidden" name="next" value="${next}">
      <label for="email">Email address</label>
      <input type="email" id="email" name="email" autocomplete="email" required>
      <div class="buttons"><button class="primary" type="submit">Email me a link</button></div>
    </form>`
      : html`<p>This server sends no email. Ask an admin for a sign-in link (<code>holdpoint users link &lt;email&gt;</code>).</p>`
  }`;
}

/** `/sign-in/:token`: the link works; confirm with a POST (mail scanners only GET). */
export function confirmPage(formToken: string, userId: string): Html {
  return html`<h1>Sign in as ${userId}?</h1>
  <p>This link signs you in once. Continue to open your inbox.</p>
  <form method="post">
    <input type="hidden" name="form" value="${formToken}">
    <div class="buttons"><button class="primary" type="submit" id="confirm" autofocus>Sign in</button></div>
  </form>`;
}
