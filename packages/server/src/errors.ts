import { HoldpointError, type HoldpointErrorCode } from '@holdpoint/core';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { unscopedKey } from './auth/scoped-key.js';

/**
 * Error codes of the HTTP API: the engine's codes and the server's own. Every error response is
 * `{ error: { code, message, details } }` with one of these codes.
 */
export type ApiErrorCode =
  | HoldpointErrorCode
  // The server's own.
  | 'INVALID_JSON'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'HEADERS_TOO_LARGE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'ROUTE_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'TOO_MANY_STREAMS'
  | 'INTERNAL'
  // People and channels.
  | 'SIGN_IN_LINK_INVALID'
  | 'CSRF_TOKEN_INVALID'
  | 'TOO_MANY_REQUESTS';

/**
 * The one table from error codes to HTTP statuses. Everything a client can get wrong is a 4xx;
 * a 5xx means the store is down (503, retry) or a bug in the server (500).
 */
export const errorStatuses: Record<ApiErrorCode, ContentfulStatusCode> = {
  VALIDATION: 400,
  INVALID_JSON: 400,
  INVALID_OUTCOME: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CSRF_TOKEN_INVALID: 403,
  NOT_ASSIGNED: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ALREADY_DECIDED: 409,
  STALE_VERSION: 409,
  IDEMPOTENCY_CONFLICT: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SIGN_IN_LINK_INVALID: 410,
  TOO_MANY_STREAMS: 429,
  TOO_MANY_REQUESTS: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  ENGINE_CLOSED: 503,
  STORE_UNAVAILABLE: 503,
};

/** The body of every error response. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details: Record<string, unknown> };
}

/** An error the server answers with its status from {@link errorStatuses}. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ApiErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }

  get status(): ContentfulStatusCode {
    return errorStatuses[this.code];
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

// The engine names fields by call (`requestHuman.assignee`); the API names them by where they are
// in the request. Parameters whose API name differs from the engine's are listed.
const engineCalls: Record<string, { in: 'body' | 'query' | 'path'; rename?: Record<string, string> }> = {
  submit: { in: 'body' },
  requestHuman: { in: 'body' },
  decide: { in: 'body' },
  complete: { in: 'body' },
  fail: { in: 'body' },
  cancel: { in: 'body' },
  cancelTask: { in: 'body' },
  listTasks: { in: 'query', rename: { intentId: 'intent' } },
  events: { in: 'query', rename: { since: 'after', intentId: 'intent', taskId: 'task' } },
};

/** Where an engine's field is in the request, e.g. `requestHuman.remind.every` → `body.remind.every`. */
export function requestFieldOf(engineField: string): string {
  const dot = engineField.indexOf('.');
  if (dot < 0) {
    if (engineField === 'taskId' || engineField === 'intentId') return `path.id`;
    return engineField;
  }
  const call = engineCalls[engineField.slice(0, dot)];
  if (!call) return engineField;
  const rest = engineField.slice(dot + 1);
  const head = rest.split('.')[0] as string;
  const renamed = call.rename?.[head];
  return `${call.in}.${renamed === undefined ? rest : renamed + rest.slice(head.length)}`;
}

/** The details an engine error carries that help a client, by code; nothing about other people's tasks. */
function engineDetails(error: HoldpointError): Record<string, unknown> {
  const fields = error as unknown as Record<string, unknown>;
  const pick = (...names: string[]) =>
    Object.fromEntries(
      names.filter((name) => fields[name] !== undefined).map((name) => [name, fields[name]]),
    );
  switch (error.code) {
    case 'VALIDATION':
      return typeof fields.field === 'string' ? { field: requestFieldOf(fields.field) } : {};
    case 'NOT_FOUND':
      return pick('kind', 'id');
    case 'NOT_ASSIGNED':
      return pick('taskId');
    case 'ALREADY_DECIDED':
      return pick('taskId', 'status');
    case 'STALE_VERSION':
      return { field: 'body.versionDigest', ...pick('taskId', 'expected', 'received') };
    case 'INVALID_OUTCOME':
      return { field: 'body.outcome', ...pick('taskId', 'allowedOutcomes') };
    case 'IDEMPOTENCY_CONFLICT':
      return { field: 'header.Idempotency-Key', ...pick('existingId') };
    case 'INVALID_STATE':
      return pick('id', 'status');
    default:
      return {};
  }
}

/**
 * The engine's message as the client should read it: an idempotency key is named as the client gave
 * it, not in the caller's namespace the server keeps it in (`<length>:<actor>:<key>`).
 */
function clientMessage(error: HoldpointError): string {
  const key = (error as { idempotencyKey?: unknown }).idempotencyKey;
  if (error.code !== 'IDEMPOTENCY_CONFLICT' || typeof key !== 'string') return error.message;
  return error.message.replaceAll(`'${key}'`, `'${unscopedKey(key)}'`);
}

/** An engine error as the API's error; anything that is not one becomes `INTERNAL`. */
export function apiErrorOf(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (HoldpointError.isInstance(error)) {
    const code = (error.code in errorStatuses ? error.code : 'INTERNAL') as ApiErrorCode;
    const details = engineDetails(error);
    return new ApiError(
      code,
      clientMessage(error),
      error.retryable ? { ...details, retryable: true } : details,
    );
  }
  return new ApiError('INTERNAL', 'The server failed on this request; it has been logged.');
}
