export {
  type ApprovalGate,
  type ApprovalGateOptions,
  type ApprovalMode,
  type ApprovalPolicies,
  type ApprovalResponses,
  createApprovalGate,
  type GateApprovalStatus,
  type GatedTool,
  type GatedTools,
  type GateToolApproval,
  type GenericApprovalPolicy,
  type PendingApproval,
} from './approval-gate.js';
export type {
  ApprovalPolicy,
  FromCall,
  HoldpointLike,
  TaskMetadata,
  ToolCallContext,
  ToolCallInfo,
} from './policy.js';
export { type ApprovalDenied, isApprovalDenied, type Verdict } from './verdict.js';
export { type WithApprovalOptions, withApproval } from './with-approval.js';
