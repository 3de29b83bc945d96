import { ValidationError } from '../errors/validation-error.js';

// Which server errors a retry cannot fix. Everything else — a connection that is refused, drops or
// times out, a server that is starting, shutting down, out of connections or memory, a deadlock —
// stays a retryable StoreUnavailableError.

function message(error: unknown): string {
  const text = (error as { message?: unknown })?.message;
  return typeof text === 'string' ? text : String(error);
}

function configuration(store: string, what: string, change: string, cause: unknown): ValidationError {
  return new ValidationError({
    field: 'store',
    message: `The ${store} store cannot be used: ${what}. ${change}`,
    cause,
  });
}

/**
 * A PostgreSQL error that retrying does not fix, by SQLSTATE: a value the server cannot take
 * (class 22, data exception — NUL in text, an invalid byte sequence; class 54, program limit — an
 * index row over ~2.7 KB) or a configuration to change (a database that does not exist, failed
 * authentication, missing privileges or objects). Undefined for anything a retry may fix.
 */
export function postgresRefusal(error: unknown): ValidationError | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  const detail = `${message(error)} (SQLSTATE ${code})`;
  if (code.startsWith('22') || code.startsWith('54')) {
    return new ValidationError({
      field: 'store',
      message: `PostgreSQL refused the value: ${detail}. The same value fails again; it must change.`,
      cause: error,
    });
  }
  if (code === '3D000') {
    return configuration(
      'postgres',
      detail,
      'Create the database (createdb NAME) or name one that exists in the URL.',
      error,
    );
  }
  if (code.startsWith('28')) {
    return configuration('postgres', detail, 'Check the user and password in the URL.', error);
  }
  if (code === '42501') {
    return configuration(
      'postgres',
      detail,
      'Grant the user CREATE on the database and its schema, or connect as a user who has it.',
      error,
    );
  }
  if (code.startsWith('42') || code.startsWith('3F') || code === '0A000') {
    return configuration(
      'postgres',
      detail,
      'Check the schema in the URL (?schema=NAME) and that nothing else changed its tables.',
      error,
    );
  }
  return undefined;
}

/** Whether an error is a reply of the server (node-redis `ErrorReply`, `SimpleError`, `BlobError`), by its class chain. */
function isErrorReply(error: unknown): boolean {
  for (
    let prototype = error;
    prototype !== null && typeof prototype === 'object';
    prototype = Object.getPrototypeOf(prototype)
  ) {
    if ((prototype as { constructor?: { name?: unknown } }).constructor?.name === 'ErrorReply') return true;
  }
  return false;
}

/** Redis error replies that mean "try again later". */
const retryableReplies =
  /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|READONLY|CLUSTERDOWN|OOM|ERR max number of clients)/;

/**
 * A Redis error that retrying does not fix: an error reply from the server (wrong password, no
 * permission, a database index out of range, a key of another type under our prefix), except the
 * replies that mean "busy, try again". Socket errors and timeouts are left retryable.
 */
export function redisRefusal(error: unknown): ValidationError | undefined {
  // node-redis wraps the first connection's failure; the server's reply is inside.
  const original = (error as { originalError?: unknown })?.originalError ?? error;
  if (!isErrorReply(original)) return undefined;
  const reply = message(original);
  if (retryableReplies.test(reply)) return undefined;
  if (/^(WRONGPASS|NOAUTH|NOPERM|ERR AUTH|ERR invalid password|ERR Client sent AUTH)/.test(reply)) {
    return configuration(
      'redis',
      reply,
      'Check the user and password in the URL (redis://user:password@host).',
      error,
    );
  }
  if (/DB index is out of range/.test(reply)) {
    return configuration(
      'redis',
      reply,
      'Name a database the server has in the URL (redis://host:6379/0).',
      error,
    );
  }
  if (/^WRONGTYPE/.test(reply)) {
    return configuration(
      'redis',
      reply,
      'Another application writes keys under the same prefix: give Holdpoint a prefix of its own (?prefix=NAME).',
      error,
    );
  }
  return new ValidationError({
    field: 'store',
    message: `Redis refused the command: ${reply}.`,
    cause: error,
  });
}
