import type { z } from '@hono/zod-openapi';
import { ErrorBody } from '../schemas.js';

const errorDescriptions: Record<number, string> = {
  400: 'The request is malformed or a field is wrong (`details.field` names it)',
  401: 'No API key, or one that is not valid',
  403: 'The key may not do this (wrong scope, not yours, not an assignee)',
  404: 'No such intent, task or key',
  409: 'Refused in the current state (already decided, stale version, idempotency conflict, intent closed)',
  413: 'The body is larger than the limit',
  415: 'The body is not of the content type the route takes',
  429: 'Too many open streams or waits for this key',
  503: 'The store is unreachable: nothing was changed, retry',
};

/** One error response. */
export function errorResponse(status: number) {
  return {
    description: errorDescriptions[status] ?? 'Error',
    content: { 'application/json': { schema: ErrorBody } },
  };
}

/** Error responses of a route, all with the error body. 400, 401, 413, 415 and 503 can happen anywhere. */
export function errors(...statuses: number[]) {
  const all = [...new Set([400, 401, ...statuses, 503])].sort();
  return Object.fromEntries(all.map((status) => [status, errorResponse(status)]));
}

/** A JSON response. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T, required = true) {
  return { body: { required, content: { 'application/json': { schema } } } };
}

/** Routes that need a key. */
export const secured = [{ apiKey: [] }];
