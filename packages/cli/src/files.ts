import { readFileSync, type WriteFileOptions, writeFileSync } from 'node:fs';
import { CliError, exitCodes } from './exit-codes.js';

/** What a failed read or write of a file the user named says, by its error code. */
const reasons: Record<string, { read?: string; write?: string; both?: string }> = {
  ENOENT: { read: 'no such file', write: 'no such directory' },
  EISDIR: { both: 'it is a directory' },
  ENOTDIR: { both: 'a part of the path is not a directory' },
  EACCES: { both: 'permission denied' },
  EPERM: { both: 'operation not permitted' },
  EEXIST: { both: 'it exists' },
  EROFS: { both: 'read-only file system' },
  ENOSPC: { both: 'no space left on device' },
  ENAMETOOLONG: { both: 'the name is too long' },
  ELOOP: { both: 'too many symbolic links' },
};

/**
 * A failed read or write of a file the user named (a system error, such as ENOENT or EISDIR) as an
 * input error: exit code 2 and one line naming the file. Anything else is returned as it is.
 */
export function fileError(error: unknown, action: 'read' | 'write', file: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (!(error instanceof Error) || typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return error;
  const known = reasons[code];
  const reason =
    known?.both ??
    known?.[action] ??
    // Node's own text, without the code in front and the syscall and path after it.
    error.message.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/s, '');
  return new CliError(exitCodes.usage, `cannot ${action} ${file}: ${reason}`);
}

/** Read a file the user named (`-`: stdin), as text; failing, a CliError with exit code 2. */
export function readUserFile(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw fileError(error, 'read', file === '-' ? 'stdin' : file);
  }
}

/** Write a file the user named; failing, a CliError with exit code 2. */
export function writeUserFile(file: string, data: string, options?: WriteFileOptions): void {
  try {
    writeFileSync(file, data, options);
  } catch (error) {
    throw fileError(error, 'write', file);
  }
}
