import { closeSync, mkdirSync, openSync, type Stats, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ValidationError } from '../errors/validation-error.js';

// The SQLite file holds every intent, task and decision, and — unless `auditKey` is given — the
// private key that signs audit exports: whoever can read the file can sign a forged trail. So the
// directory is created 0700 and the file 0600 (SQLite gives its -wal and -shm files the database
// file's mode), and an existing file that other users can read or write is refused.

/** Permission bits that let users other than the owner at the file. */
const othersMask = 0o077;

function mode(stats: Stats): string {
  return (stats.mode & 0o777).toString(8).padStart(4, '0');
}

function refuse(location: string, reason: string, cause?: unknown): ValidationError {
  return new ValidationError({
    field: 'store',
    message: `The SQLite store ${JSON.stringify(location)} cannot be used: ${reason}`,
    cause,
  });
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function checkPrivate(location: string, path: string, stats: Stats): void {
  if (process.platform === 'win32' || (stats.mode & othersMask) === 0) return;
  throw refuse(
    location,
    `${path} can be read or written by other users (mode ${mode(stats)}), and it holds the audit signing key unless auditKey is given — anyone who can read it can sign a forged audit trail. Make it private: chmod 600 ${JSON.stringify(path)}${path === location ? ` (and its -wal and -shm files, if any)` : ''}.`,
  );
}

/**
 * Make ready the file a SQLite store opens: its directory (created 0700), and the file itself —
 * created empty with mode 0600 if missing (an empty file is an empty database), refused when it is a
 * directory or not a regular file (`/dev/null`), or when other users may read or write it.
 * @throws ValidationError naming what to change.
 */
export function prepareSqliteFile(location: string): void {
  const path = resolve(location);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') {
      throw refuse(
        location,
        `a part of ${dirname(path)} is a file, not a directory; name a file in a directory.`,
        error,
      );
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw refuse(
        location,
        `its directory ${dirname(path)} cannot be created (${code}); name a file where this process may write.`,
        error,
      );
    }
    throw error;
  }
  let stats: Stats | undefined;
  try {
    stats = statOrUndefined(path);
  } catch (error) {
    throw refuse(location, `it cannot be looked at (${(error as NodeJS.ErrnoException).code}).`, error);
  }
  if (stats?.isDirectory()) {
    throw refuse(
      location,
      `it is a directory; name a database file in it, e.g. sqlite://${path}/holdpoint.db.`,
    );
  }
  if (stats && !stats.isFile()) {
    throw refuse(location, 'it is not a regular file (a device, a pipe or a socket); name a database file.');
  }
  if (stats === undefined) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Created by another process meanwhile: it is checked below like any existing file.
      if (code !== 'EEXIST') {
        throw refuse(
          location,
          `it cannot be created (${code}); name a file where this process may write.`,
          error,
        );
      }
    }
    stats = statSync(path);
  }
  checkPrivate(location, path, stats);
  for (const suffix of ['-wal', '-shm']) {
    const sidecar = statOrUndefined(`${path}${suffix}`);
    if (sidecar) checkPrivate(location, `${path}${suffix}`, sidecar);
  }
}

/** SQLite result codes (the low byte of an extended code) whose cause a retry does not remove. */
const valueCodes = new Map([
  [18, 'a value is too big for SQLite'],
  [19, 'a constraint failed'],
  [20, 'a value has the wrong type'],
  [25, 'a parameter is out of range'],
]);
const configurationCodes = new Map([
  [3, 'access is denied (permissions)'],
  [8, 'the file is read-only: make it writable by this process'],
  [11, 'the file is corrupt: restore it from a backup, or name another file'],
  [14, 'the file cannot be opened: check the path and its permissions'],
  [23, 'access is not authorised'],
  [26, 'the file is not a SQLite database: name another file, or move this one away'],
]);

/**
 * The refusal for a SQLite error that retrying does not fix, or undefined for one it may fix (the
 * file is locked past the busy timeout, the disk is full, an I/O error).
 */
export function sqliteRefusal(error: unknown, location: string): ValidationError | undefined {
  const failure = error as { errcode?: unknown; errstr?: unknown; code?: unknown; message?: unknown };
  if (failure?.code === 'ERR_INVALID_STATE') {
    return refuse(
      location,
      'its connection was closed by whoever opened it (the Keyv passed in); open the store again.',
      error,
    );
  }
  if (typeof failure?.errcode !== 'number') return undefined;
  const primary = failure.errcode & 0xff;
  const detail = typeof failure.errstr === 'string' ? ` (${failure.errstr})` : '';
  const value = valueCodes.get(primary);
  if (value) {
    return new ValidationError({
      field: 'store',
      message: `The SQLite store refused the value: ${value}${detail}.`,
      cause: error,
    });
  }
  const configuration = configurationCodes.get(primary);
  if (configuration) return refuse(location, `${configuration}${detail}.`, error);
  return undefined;
}
