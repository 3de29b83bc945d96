/** The eight kinds of human task (DESIGN §1). */
export const taskTypes = [
  'approval',
  'confirmation',
  'review',
  'assignment',
  'form',
  'clarification',
  'manual_action',
  'override',
] as const;

/** One of the eight kinds of human task. */
export type TaskType = (typeof taskTypes)[number];

interface TaskTypeRule {
  /** Outcomes offered when the request names none. The first is the positive one. */
  outcomes: readonly string[];
  /** The outcome a timeout policy of `'reject'` records. */
  rejectOutcome: string;
  /** What a decision must carry besides an allowed outcome. */
  requires?: 'comment' | 'evidence' | 'data';
}

/** Default outcomes and rules per task type. */
export const taskTypeRules: Record<TaskType, TaskTypeRule> = {
  approval: { outcomes: ['approved', 'rejected'], rejectOutcome: 'rejected' },
  confirmation: { outcomes: ['confirmed', 'denied'], rejectOutcome: 'denied' },
  review: { outcomes: ['approved', 'changes_requested', 'rejected'], rejectOutcome: 'rejected' },
  assignment: { outcomes: ['assigned', 'declined'], rejectOutcome: 'declined' },
  form: { outcomes: ['submitted'], rejectOutcome: 'submitted', requires: 'data' },
  clarification: { outcomes: ['provided', 'declined'], rejectOutcome: 'declined', requires: 'comment' },
  manual_action: { outcomes: ['completed', 'failed'], rejectOutcome: 'failed', requires: 'evidence' },
  override: { outcomes: ['override_approved', 'rejected'], rejectOutcome: 'rejected', requires: 'comment' },
};
