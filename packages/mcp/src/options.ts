import { readFileSync } from 'node:fs';
import { type Actor, type Duration, parseDuration, ValidationError } from '@holdpoint/core';
import { z } from 'zod';

/** Options of {@link createMcpServer} (and of `serveStdio` and the HTTP handler, which pass them on). */
export interface HoldpointMcpOptions {
  /**
   * The person at the client: their id as the engine knows them (`'alice@acme.test'` or `{ id, name }`).
   * A gate assigned to them is asked through elicitation when the client supports it, and their
   * answer is recorded as their decision. Over HTTP the authenticated identity takes this place.
   * Without it no one is asked in the client: every assignee is reached through the engine's delivery.
   */
  user?: string | Actor;
  /**
   * Base URL of the Holdpoint inbox (e.g. `https://holdpoint.acme.test`), for links in results and
   * URL-mode elicitation: a task's link is `${inboxUrl}/tasks/${taskId}` unless `taskUrl` says otherwise.
   */
  inboxUrl?: string;
  /** The link to one task in the inbox. @default (taskId) => `${inboxUrl}/tasks/${taskId}` */
  taskUrl?: (taskId: string) => string;
  /** How often a blocking `wait_for_human` sends a progress notification, when the client sent a progress token. @default '5s' */
  progressInterval?: Duration;
  /**
   * How long a blocking `wait_for_human` without a progress token waits before it returns
   * `status: 'pending'` with the task id — under the 60-second request timeout of most clients.
   * @default '50s'
   */
  blockWithoutProgress?: Duration;
  /** The poll interval suggested to clients that run `wait_for_human` as an MCP task. @default '5s' */
  taskPollInterval?: Duration;
  /** Whether a gate assigned to the person at the client is asked through elicitation. @default true */
  elicitation?: boolean;
  /** How long an elicitation request waits for the person's answer. @default '10m' */
  elicitationTimeout?: Duration;
  /** Contexts whose JSON is longer than this many characters are shown in the inbox (URL mode), not in a form. @default 2000 */
  maxFormContext?: number;
  /** The name and version this server reports to clients. @default { name: 'holdpoint', version: <this package's version> } */
  serverInfo?: { name: string; version: string };
}

let packageVersion: string | undefined;

/** The version of `@holdpoint/mcp`, from its package.json (one level above `src/` and `dist/`). */
export function mcpPackageVersion(): string {
  packageVersion ??= (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return packageVersion;
}

/** Options after validation: durations in milliseconds, defaults filled in. */
export interface ResolvedOptions {
  user?: Actor;
  taskUrl?: (taskId: string) => string;
  progressIntervalMs: number;
  blockWithoutProgressMs: number;
  taskPollIntervalMs: number;
  elicitation: boolean;
  elicitationTimeoutMs: number;
  maxFormContext: number;
  serverInfo: { name: string; version: string };
}

const duration = z.union([z.number(), z.string()]);
const actor = z.union([
  z.string().trim().min(1),
  z.object({ id: z.string().trim().min(1), name: z.string().optional() }).strict(),
]);

/** The option names of {@link HoldpointMcpOptions}, for transports that take these and their own. */
export const mcpOptionShape = {
  user: actor.optional(),
  inboxUrl: z.url({ protocol: /^https?$/ }).optional(),
  taskUrl: z.function().optional(),
  progressInterval: duration.optional(),
  blockWithoutProgress: duration.optional(),
  taskPollInterval: duration.optional(),
  elicitation: z.boolean().optional(),
  elicitationTimeout: duration.optional(),
  maxFormContext: z.int().min(0).optional(),
  serverInfo: z.object({ name: z.string().min(1), version: z.string().min(1) }).optional(),
};

/** Refuse options that cannot be used, naming the field; the message says what to give instead. */
export function checkOptions<T>(schema: z.ZodType<T>, options: unknown, where: string): T {
  if (options === undefined) options = {};
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const path = issue.path.join('.');
  const field = path ? `${where}.${path}` : where;
  const message =
    issue.code === 'unrecognized_keys'
      ? `${where}: unknown option ${issue.keys.map((key) => `'${key}'`).join(', ')}`
      : `${field}: ${issue.message}`;
  throw new ValidationError({ field, message, cause: result.error });
}

function positiveDuration(value: Duration | undefined, fallback: number, field: string): number {
  const ms = value === undefined ? fallback : parseDuration(value, field);
  if (ms < 10) throw new ValidationError({ field, message: `${field} must be at least '10ms'` });
  return ms;
}

/** Validate {@link HoldpointMcpOptions} and fill in defaults. @throws ValidationError */
export function resolveOptions(options: HoldpointMcpOptions | undefined, where: string): ResolvedOptions {
  const parsed = checkOptions(z.object(mcpOptionShape).strict(), options, where) as HoldpointMcpOptions;
  const user = typeof parsed.user === 'string' ? { id: parsed.user.trim() } : parsed.user;
  const base = parsed.inboxUrl?.replace(/\/+$/, '');
  const taskUrl =
    parsed.taskUrl ??
    (base === undefined ? undefined : (taskId: string) => `${base}/tasks/${encodeURIComponent(taskId)}`);
  return {
    ...(user === undefined ? {} : { user }),
    ...(taskUrl === undefined ? {} : { taskUrl }),
    progressIntervalMs: positiveDuration(parsed.progressInterval, 5_000, `${where}.progressInterval`),
    blockWithoutProgressMs: positiveDuration(
      parsed.blockWithoutProgress,
      50_000,
      `${where}.blockWithoutProgress`,
    ),
    taskPollIntervalMs: positiveDuration(parsed.taskPollInterval, 5_000, `${where}.taskPollInterval`),
    elicitation: parsed.elicitation ?? true,
    elicitationTimeoutMs: positiveDuration(parsed.elicitationTimeout, 600_000, `${where}.elicitationTimeout`),
    maxFormContext: parsed.maxFormContext ?? 2_000,
    serverInfo: parsed.serverInfo ?? { name: 'holdpoint', version: mcpPackageVersion() },
  };
}
