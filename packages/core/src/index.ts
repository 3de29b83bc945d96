export { canonicalActorId, isAssignee, isEmailAddress, sameActorId } from './actor-id.js';
export type { AuditEvent, AuditEventType } from './audit/audit-event.js';
export type {
  AuditRejected,
  AuditSignature,
  AuditVerification,
  AuditVerified,
} from './audit/audit-export.js';
export { auditKeyFingerprint, verifyAudit } from './audit/audit-export.js';
export { canonicalJson, versionDigest } from './canonical-json.js';
export { createHoldpoint, defaultStore, type HoldpointOptions } from './create-holdpoint.js';
export { type Duration, parseDuration } from './duration.js';
export type { DecideInput, NoteTaskInput, RequestHumanOptions, SubmitOptions } from './engine/options.js';
export {
  type Notification,
  type NotificationType,
  type NotifyHook,
  notificationTypes,
} from './engine/outbox.js';
export { ClockSkewWarning } from './engine/store-clock.js';
export { resultOf as humanResultOf } from './engine/task-rules.js';
export { AlreadyDecidedError } from './errors/already-decided-error.js';
export { EngineClosedError } from './errors/engine-closed-error.js';
export { HoldpointError, type HoldpointErrorCode } from './errors/holdpoint-error.js';
export { IdempotencyConflictError } from './errors/idempotency-conflict-error.js';
export { InvalidOutcomeError } from './errors/invalid-outcome-error.js';
export { InvalidStateError } from './errors/invalid-state-error.js';
export { NotAssignedError } from './errors/not-assigned-error.js';
export { NotFoundError } from './errors/not-found-error.js';
export { StaleVersionError } from './errors/stale-version-error.js';
export { StoreUnavailableError } from './errors/store-unavailable-error.js';
export { ValidationError } from './errors/validation-error.js';
export type {
  CancelOptions,
  CancelTaskOptions,
  CompleteOptions,
  EventPage,
  EventsOptions,
  FailOptions,
  FeedEntry,
  Holdpoint,
  HoldpointAudit,
  ListTasksOptions,
  TaskCounts,
  TaskCountsOptions,
  TaskPage,
  VerifyOptions,
  WaitForHumanOptions,
} from './holdpoint.js';
export type {
  Actor,
  Decision,
  EscalationStep,
  HumanResult,
  HumanTask,
  Intent,
  IntentStatus,
  TaskStatus,
  TimeoutPolicy,
  Vote,
  WaitingReason,
} from './model.js';
export { type CreateStoreOptions, createStore } from './store/create-store.js';
export { KeyvNodeSqlite, type KeyvNodeSqliteOptions } from './store/keyv-node-sqlite.js';
export type {
  EventAppend,
  EventClaim,
  EventWrites,
  FeedEntryRef,
  FeedReadOptions,
  FeedRecord,
  IndexEntry,
  IndexRangeOptions,
  StoreBackend,
} from './store/store-backend.js';
export { type TaskType, taskTypeRules, taskTypes } from './task-types.js';
