export { type ApiKeyInfo, ApiKeys, type CreateKeyOptions, type KeyScope } from './auth/api-keys.js';
export type { CallerTasks, ListFieldNames } from './auth/caller-tasks.js';
export {
  type Authenticator,
  apiKeyAuthenticator,
  localAuthenticator,
  type Principal,
  type Role,
} from './auth/principal.js';
export type { ServerApp, ServerEnv } from './context.js';
export {
  createHoldpointServer,
  type HoldpointServer,
  type HoldpointServerOptions,
  type Listener,
} from './create-server.js';
export type { TaskListPage, TaskQuery } from './engine-feed.js';
export { ApiError, type ApiErrorBody, type ApiErrorCode, errorStatuses } from './errors.js';
export { defaultLimits, maxWaitSeconds, type ServerLimits } from './limits.js';
