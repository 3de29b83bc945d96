import type { TaskType } from './task-types.js';

/** Lifecycle of an intent (DESIGN §1). */
export type IntentStatus =
  | 'CREATED'
  | 'SUBMITTED'
  | 'IN_PROGRESS'
  | 'WAITING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELED'
  | 'TIMED_OUT';

/** Why a `WAITING` intent waits. */
export type WaitingReason = 'WAITING_FOR_HUMAN' | 'WAITING_FOR_TIME';

/** Lifecycle of a human task. */
export type TaskStatus = 'pending' | 'decided' | 'timed_out' | 'canceled';

/** What to do when the last step of a task's deadline passes. */
export type TimeoutPolicy = 'fail' | 'reject' | 'approve';

/** Who acted: an identity from authentication, never from the agent. */
export interface Actor {
  /** Stable id, e.g. an email address. */
  id: string;
  /** Display name. */
  name?: string;
}

/** A durable unit of agent work. */
export interface Intent {
  id: string;
  /** Caller's label for the kind of work, e.g. `board-report`. */
  type: string;
  /** Caller's input, stored as given (JSON). */
  input: unknown;
  status: IntentStatus;
  /** Set while `status` is `WAITING`. */
  waitingReason?: WaitingReason;
  idempotencyKey?: string;
  /** Ids of the intent's human tasks, oldest first. */
  taskIds: string[];
  /** Set by `complete`. */
  result?: unknown;
  /** Set by `fail`, `cancel` or a timeout. */
  error?: string;
  createdAt: string;
  updatedAt: string;
  /** Sequence number of the intent's latest audit event. */
  seq: number;
}

/** One escalation step: who takes over, and how long they have. */
export interface EscalationStep {
  assignee: string;
  /** Milliseconds this step lasts. */
  timeoutMs: number;
}

/** One approver's vote under a quorum. */
export interface Vote {
  actor: Actor;
  outcome: string;
  comment?: string;
  at: string;
}

/** The final decision of a task. */
export interface Decision {
  outcome: string;
  comment?: string;
  data?: unknown;
  evidence?: unknown;
  /** Who decided; `null` when a policy did. */
  actor: Actor | null;
  /** `'policy'` when a timeout policy decided, never blamed on a human. */
  decidedBy: 'human' | 'policy';
  decidedAt: string;
  /** The version digest the human saw (the task's, for a policy). */
  versionDigest: string;
  /** Votes that made up a quorum decision. */
  votes?: Vote[];
}

/** What a person must do. */
export interface HumanTask {
  id: string;
  intentId: string;
  type: TaskType;
  title: string;
  description?: string;
  /** What the human is deciding on. */
  context: unknown;
  /** `sha256:` + SHA-256 of canonical JSON of `context`. */
  versionDigest: string;
  /** Who may decide now (grows with escalation, or is replaced when `reassign` is set). */
  assignees: string[];
  /** Who the task was first given to. */
  originalAssignees: string[];
  /** Positive votes needed to decide. 1 without a quorum. */
  quorum: number;
  allowedOutcomes: string[];
  /** JSON Schema (2020-12) that decision `data` must match. */
  schema?: Record<string, unknown>;
  status: TaskStatus;
  createdAt: string;
  updatedAt: string;
  /** When the current step ends (ISO), if the task has a timeout. */
  deadlineAt?: string;
  /** Milliseconds the first step lasts. */
  timeoutMs?: number;
  remind?: { afterMs: number; everyMs?: number; max: number };
  remindersSent: number;
  escalateTo: EscalationStep[];
  /** How many escalation steps have happened. */
  escalationLevel: number;
  reassign: boolean;
  onTimeout: TimeoutPolicy;
  idempotencyKey?: string;
  votes: Vote[];
  decision?: Decision;
  metadata?: Record<string, unknown>;
}

/** What `waitForHuman` resolves to. */
export interface HumanResult {
  status: 'decided' | 'timed_out' | 'canceled';
  taskId: string;
  intentId: string;
  outcome?: string;
  comment?: string;
  data?: unknown;
  evidence?: unknown;
  actor?: Actor | null;
  decidedBy?: 'human' | 'policy';
  decidedAt?: string;
  versionDigest: string;
  votes?: Vote[];
}
