/**
 * Exit codes of `holdpoint`, stable for scripts. A failed request maps by its HTTP status (the same
 * for a server and for the store opened directly, which answers through the same API).
 */
export const exitCodes = {
  /** Done. */
  ok: 0,
  /** Something unexpected failed (a bug: the message says what). */
  failure: 1,
  /** The command line or the input is wrong: unknown command or flag, missing argument, 400. */
  usage: 2,
  /** No such task, intent or key (404). */
  notFound: 3,
  /** Refused in the current state: already decided, stale version, idempotency conflict, intent closed (409). */
  refused: 4,
  /** No key, a wrong key, or a key that may not do this (401, 403). */
  notAllowed: 5,
  /** The server or the store cannot be reached (connection refused, 503): try again later. */
  unavailable: 6,
  /** `audit verify`: the export does not verify, or is not signed by the trusted key. */
  notVerified: 7,
} as const;

/** The exit code for an HTTP status of a failed request. */
export function exitCodeOfStatus(status: number): number {
  if (status === 401 || status === 403) return exitCodes.notAllowed;
  if (status === 404) return exitCodes.notFound;
  if (status === 409) return exitCodes.refused;
  if (status === 503) return exitCodes.unavailable;
  if (status >= 400 && status < 500) return exitCodes.usage;
  return exitCodes.failure;
}

/** An error that ends the command with an exit code and a message for stderr. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The server's error body, printed as is with --json. */
  readonly body: unknown;

  constructor(exitCode: number, message: string, body?: unknown) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.body = body;
  }
}
