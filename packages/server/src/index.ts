export { type ApiKeyInfo, ApiKeys, type CreateKeyOptions, type KeyScope } from './auth/api-keys.js';
export type { CallerTasks, ListFieldNames } from './auth/caller-tasks.js';
export {
  type Authenticator,
  apiKeyAuthenticator,
  localAuthenticator,
  type Principal,
  type Role,
} from './auth/principal.js';
export type { ChannelOptions } from './channels/channels.js';
export type { MailOptions } from './channels/email.js';
export type { DeadLetter, Delivery } from './channels/outbox.js';
export {
  signatureHeader,
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhookSignature,
} from './channels/signature.js';
export { type Webhook, type WebhookEventType, webhookEventTypes } from './channels/webhooks.js';
export type { ServerApp, ServerEnv } from './context.js';
export {
  createHoldpointServer,
  type HoldpointServer,
  type HoldpointServerOptions,
  type Listener,
} from './create-server.js';
export type { TaskListPage, TaskQuery } from './engine-feed.js';
export { ApiError, type ApiErrorBody, type ApiErrorCode, errorStatuses } from './errors.js';
export type { InboxOptions } from './inbox/routes.js';
export { defaultLimits, maxWaitSeconds, type ServerLimits } from './limits.js';
export type { People } from './people/people.js';
export type { User } from './people/users.js';
