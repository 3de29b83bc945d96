import { taskTypes } from '@holdpoint/core';
import { z } from 'zod';

// Input and output schemas of the four tools. The inputs mirror `waitForHuman`'s options (same
// names), so an engine refusal that names a field names the tool argument too.

const duration = z
  .union([z.string(), z.number()])
  .describe("Milliseconds, or a string such as '30s', '15m', '48h', '7d'");
const person = z.string().trim().min(1).max(500);

export const waitForHumanInput = z
  .object({
    task: z
      .enum(taskTypes)
      .optional()
      .describe(
        "Kind of task (default 'approval'): approval (approved/rejected), confirmation (confirmed/denied), review (approved/changes_requested/rejected), assignment (assigned/declined), form (submitted; needs schema), clarification (provided/declined; the answer is the comment), manual_action (completed/failed; needs evidence), override (override_approved/rejected; needs a justification).",
      ),
    title: z.string().trim().min(1).max(500).optional().describe('One line the human reads first.'),
    description: z.string().max(20_000).optional().describe('What is asked and why.'),
    assignee: person
      .optional()
      .describe("Who must decide, e.g. 'cfo@acme.test'. Give assignee or assignees."),
    assignees: z.array(person).min(1).max(100).optional().describe('Several people who may decide.'),
    quorum: z
      .union([z.int().min(1), z.literal('all')])
      .optional()
      .describe("How many of assignees must approve (default 1), or 'all'. Any rejection rejects."),
    context: z
      .unknown()
      .optional()
      .describe(
        'What the human decides on, as JSON (the draft, the tool call and its arguments). The decision is bound to this exact version.',
      ),
    allowedOutcomes: z
      .array(z.string().trim().min(1).max(200))
      .min(1)
      .max(20)
      .optional()
      .describe("Outcomes the human may choose (default: the task type's); the first is the positive one."),
    schema: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("JSON Schema (2020-12) of the data a 'form' task asks for."),
    timeout: duration
      .optional()
      .describe('How long the assignee has before escalation or the timeout policy.'),
    remind: z
      .object({
        after: duration,
        every: duration.optional(),
        max: z.int().min(1).max(100).optional(),
      })
      .strict()
      .optional()
      .describe('Reminders to the assignees: first after `after`, then every `every`, at most `max`.'),
    escalateTo: z
      .union([
        person,
        z
          .array(z.union([person, z.object({ assignee: person, timeout: duration.optional() }).strict()]))
          .max(20),
      ])
      .optional()
      .describe('Delegates who take over in turn when a step times out (needs timeout).'),
    reassign: z
      .boolean()
      .optional()
      .describe('When true an escalation takes the task away from earlier assignees.'),
    onTimeout: z
      .enum(['fail', 'reject', 'approve'])
      .optional()
      .describe(
        "What happens after the last timeout: 'fail' (default), 'reject' or 'approve' (recorded as a policy decision).",
      ),
    idempotencyKey: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .optional()
      .describe(
        'Recommended. Calling again with the same key returns the same task (or its decision) instead of asking twice — use it to resume a wait.',
      ),
    sensitive: z
      .boolean()
      .optional()
      .describe(
        'The decision involves secrets or personal data: the person decides in the inbox, never in a form in this client.',
      ),
    wait: z
      .boolean()
      .optional()
      .describe(
        "Default true: wait for the decision. false: return at once with the task id (status 'pending'); then call get_human_task.",
      ),
  })
  .strict();

export const taskIdInput = z
  .object({
    taskId: z.string().trim().min(1).max(200).describe("The task id ('tsk_…') from wait_for_human."),
  })
  .strict();

export const cancelInput = z
  .object({
    taskId: z.string().trim().min(1).max(200).describe("The task id ('tsk_…') to cancel."),
    reason: z.string().max(2_000).optional().describe('Why the task is no longer needed.'),
  })
  .strict();

export const listInput = z
  .object({
    assignee: person.optional().describe('Only tasks this person may decide now.'),
    status: z
      .enum(['pending', 'decided', 'timed_out', 'canceled'])
      .optional()
      .describe('Only tasks in this status.'),
    intentId: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .optional()
      .describe("Only the tasks of this intent ('int_…', from wait_for_human's intentId)."),
    type: z.enum(taskTypes).optional().describe('Only tasks of this type.'),
    overdue: z
      .boolean()
      .optional()
      .describe('true: only pending tasks past their deadline; false: all others.'),
    limit: z.int().min(1).max(100).optional().describe('At most this many tasks (default 20), newest first.'),
    cursor: z.string().min(1).max(2_000).optional().describe('The cursor of the previous page, to read on.'),
  })
  .strict();

const actor = z.object({ id: z.string(), name: z.string().optional() });

/** What every tool says about one task. */
export const taskView = z.object({
  status: z
    .enum(['pending', 'decided', 'timed_out', 'canceled'])
    .describe("'pending' while the human has not decided."),
  taskId: z.string(),
  intentId: z.string(),
  type: z.enum(taskTypes),
  title: z.string(),
  assignees: z.array(z.string()).describe('Who may decide now.'),
  allowedOutcomes: z.array(z.string()),
  outcome: z.string().optional().describe('The outcome chosen (decided tasks).'),
  comment: z.string().optional(),
  data: z.unknown().optional().describe('Form data of the decision.'),
  evidence: z.unknown().optional(),
  actor: actor.nullable().optional().describe('Who decided; null when a policy did.'),
  decidedBy: z.enum(['human', 'policy']).optional(),
  decidedAt: z.string().optional().describe('When the task ended (ISO time).'),
  votes: z
    .array(z.object({ actor, outcome: z.string(), comment: z.string().optional(), at: z.string() }))
    .optional(),
  versionDigest: z.string().describe('Digest of the context the decision is bound to.'),
  createdAt: z.string(),
  deadlineAt: z.string().optional(),
  url: z.string().optional().describe('Where the human decides (the inbox).'),
  description: z.string().optional(),
  context: z.unknown().optional(),
  elicitation: z
    .enum(['accept', 'decline', 'cancel'])
    .optional()
    .describe('How the person at this client answered when asked here.'),
  next: z.string().optional().describe('What to do next when the task is still pending.'),
});

export const listOutput = z.object({
  tasks: z.array(taskView),
  cursor: z.string().optional().describe('Pass back to read on (when more may follow).'),
});

export type WaitForHumanInput = z.infer<typeof waitForHumanInput>;
export type TaskView = z.infer<typeof taskView>;
