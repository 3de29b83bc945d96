import type { HumanTask } from '@holdpoint/core';
import type { Command } from '../command.js';
import { withApi } from '../connection.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { fields, table } from '../output.js';

function jsonOption(text: string | undefined, name: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(exitCodes.usage, `--${name} must be JSON, e.g. --${name} '{"amount": 120}'`);
  }
}

function string(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export const tasksList: Command = {
  name: 'tasks list',
  summary: 'List tasks, newest first',
  usage:
    'tasks list [--status pending] [--assignee <id>] [--intent <id>] [--type <type>] [--overdue] [--limit <n>] [--cursor <c>]',
  description:
    'Prints one page; when more follow, the last line gives the --cursor for the next. A person key lists its own tasks; an agent key needs --intent.',
  options: {
    status: { type: 'string', value: '<status>', description: 'pending, decided, timed_out or canceled' },
    assignee: { type: 'string', value: '<id>', description: 'tasks this person is a current assignee of' },
    intent: { type: 'string', value: '<intent-id>', description: 'tasks of this intent' },
    type: {
      type: 'string',
      value: '<type>',
      description: 'approval, confirmation, review, … (one of the eight)',
    },
    overdue: { type: 'boolean', description: 'only pending tasks past their deadline' },
    limit: { type: 'string', value: '<n>', description: 'page size, 1–1000 (default 100)' },
    cursor: { type: 'string', value: '<cursor>', description: 'the next page, from the previous one' },
  },
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const { values } = input;
    const page = (await withApi(input, (api) =>
      api.request('GET', '/v1/tasks', {
        query: {
          status: string(values.status),
          assignee: string(values.assignee),
          intent: string(values.intent),
          type: string(values.type),
          overdue: values.overdue ? 'true' : undefined,
          limit: string(values.limit),
          cursor: string(values.cursor),
        },
      }),
    )) as { tasks: HumanTask[]; cursor?: string };
    if (input.json) {
      input.io.stdout(JSON.stringify(page));
      return exitCodes.ok;
    }
    if (page.tasks.length === 0) input.io.stdout('No tasks.');
    else
      input.io.stdout(
        table(
          ['ID', 'STATUS', 'TYPE', 'ASSIGNEES', 'DEADLINE', 'TITLE'],
          page.tasks.map((task) => [
            task.id,
            task.status,
            task.type,
            task.assignees.join(','),
            task.deadlineAt ?? '-',
            task.title,
          ]),
        ),
      );
    if (page.cursor)
      input.io.stdout(`More: holdpoint tasks list --cursor '${page.cursor}' (with the same filters)`);
    return exitCodes.ok;
  },
};

function showTask(task: HumanTask): string {
  return fields([
    ['id', task.id],
    ['intent', task.intentId],
    ['type', task.type],
    ['title', task.title],
    ['description', task.description],
    ['status', task.status],
    ['assignees', task.assignees.join(', ')],
    ['outcomes', task.allowedOutcomes.join(', ')],
    ['created', task.createdAt],
    ['deadline', task.deadlineAt],
    ['version', task.versionDigest],
    [
      'decision',
      task.decision
        ? `${task.decision.outcome} by ${task.decision.actor?.id ?? 'policy'} at ${task.decision.decidedAt}`
        : undefined,
    ],
    ['comment', task.decision?.comment],
    ['context', JSON.stringify(task.context, null, 2)],
  ]);
}

export const tasksShow: Command = {
  name: 'tasks show',
  summary: 'Show one task: what is asked, its context and version, and its decision',
  usage: 'tasks show <task-id>',
  options: {},
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const id = input.positionals[0] as string;
    const task = (await withApi(input, (api) =>
      api.request('GET', `/v1/tasks/${encodeURIComponent(id)}`),
    )) as HumanTask;
    input.io.stdout(input.json ? JSON.stringify(task) : showTask(task));
    return exitCodes.ok;
  },
};

export const tasksDecide: Command = {
  name: 'tasks decide',
  summary: 'Decide a task (as the key’s person, or as admin)',
  usage:
    'tasks decide <task-id> --outcome <outcome> [--comment <text>] [--data <json>] [--evidence <json>] [--version <digest>]',
  description:
    'The decision is recorded with the identity of the key (a person key decides as that person; an admin key — or the store opened directly — decides as admin). Refused with exit code 4 when the task is no longer pending or the version is stale, 5 when the key may not decide it.',
  options: {
    outcome: {
      type: 'string',
      value: '<outcome>',
      description: 'one of the task’s outcomes, e.g. approved or rejected',
    },
    comment: {
      type: 'string',
      value: '<text>',
      description: 'a comment (required for clarification and override)',
    },
    data: { type: 'string', value: '<json>', description: 'form data (for form tasks), as JSON' },
    evidence: { type: 'string', value: '<json>', description: 'evidence (for manual_action tasks), as JSON' },
    version: {
      type: 'string',
      value: '<digest>',
      description: 'the version you saw (tasks show); refused if the task changed',
    },
  },
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const { values } = input;
    const id = input.positionals[0] as string;
    const outcome = string(values.outcome);
    if (outcome === undefined) throw new CliError(exitCodes.usage, 'Give --outcome, e.g. --outcome approved');
    const data = jsonOption(string(values.data), 'data');
    const evidence = jsonOption(string(values.evidence), 'evidence');
    const body = {
      outcome,
      ...(values.comment === undefined ? {} : { comment: string(values.comment) }),
      ...(data === undefined ? {} : { data }),
      ...(evidence === undefined ? {} : { evidence }),
      ...(values.version === undefined ? {} : { versionDigest: string(values.version) }),
    };
    const task = (await withApi(input, (api) =>
      api.request('POST', `/v1/tasks/${encodeURIComponent(id)}/decide`, { body }),
    )) as HumanTask;
    if (input.json) input.io.stdout(JSON.stringify(task));
    else
      input.io.stdout(
        task.status === 'decided'
          ? `Decided ${task.id}: ${task.decision?.outcome} (recorded as ${task.decision?.actor?.id})`
          : `Voted on ${task.id}: ${task.votes.length} of ${task.quorum} approvals so far`,
      );
    return exitCodes.ok;
  },
};
