export { type ApiKeyInfo, ApiKeys, type CreateKeyOptions, type KeyScope } from './auth/api-keys.js';
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
export { ApiError, type ApiErrorBody, type ApiErrorCode, errorStatuses } from './errors.js';
export { defaultLimits, maxWaitSeconds, type ServerLimits } from './limits.js';
