import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Holdpoint, HumanTask, ListTasksOptions } from '@holdpoint/core';

/** A fresh SQLite store URL in a temporary folder. */
export function tempSqlite(name = 'holdpoint.db'): string {
  return `sqlite://${join(mkdtempSync(join(tmpdir(), 'holdpoint-test-')), name)}`;
}

/** A fixture script from test/fixtures, run by this Node.js with tsx. */
export function runFixture(name: string, args: string[]): ChildProcess {
  return runScript(new URL(`./fixtures/${name}.ts`, import.meta.url), args);
}

/**
 * A TypeScript script run by this Node.js with tsx, stdout and stderr piped. With `stdin: true` the
 * child's stdin is a pipe too (to tell it when to start); otherwise it reads nothing.
 */
export function runScript(script: URL, args: string[], options: { stdin?: boolean } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(script), ...args], {
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
}

/** The child's stdout as parsed JSON lines, as they arrive. */
export function jsonLines(child: ChildProcess): {
  lines: Array<Record<string, unknown>>;
  /**
   * The first line that matches, now or when it arrives. Rejects when the child exits first, or sits
   * idle (uses no CPU) for `idleMs` (default 20 s) without printing it.
   */
  next: (
    match: (line: Record<string, unknown>) => boolean,
    idleMs?: number,
  ) => Promise<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const waiting: Array<{
    match: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }> = [];
  let buffer = '';
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdout?.on('data', (chunk) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const text = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (!text.trim()) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      for (const waiter of [...waiting]) {
        if (waiter.match(line)) {
          waiting.splice(waiting.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  return {
    lines,
    next: (match, idleMs = 20_000) => {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        // A child that is still working (loading TypeScript, catching up on a busy machine) is given
        // the time it needs; one that sits idle for `idleMs` without the line has stalled.
        let cpu = cpuTimeOf(child);
        let idleSince = performance.now();
        const watch = setInterval(() => {
          const now = cpuTimeOf(child);
          if (now !== undefined && now !== cpu) {
            cpu = now;
            idleSince = performance.now();
          } else if (performance.now() - idleSince > idleMs) {
            stop();
            reject(new Error(`the child sat idle ${idleMs} ms without a matching line; stderr: ${stderr}`));
          }
        }, 250);
        const onClose = (code: number | null) => {
          stop();
          reject(new Error(`the child exited with ${code} before the expected line; stderr: ${stderr}`));
        };
        const stop = () => {
          clearInterval(watch);
          child.off('close', onClose);
        };
        waiting.push({
          match,
          resolve: (line) => {
            stop();
            resolve(line);
          },
        });
        child.once('close', onClose);
      });
    },
  };
}

/**
 * CPU time (user + system, in ms) a child has used so far, from /proc on Linux (100 clock ticks a
 * second); `undefined` where that cannot be read (the child is then taken as idle).
 */
export function cpuTimeOf(child: ChildProcess): number | undefined {
  if (child.pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Wait for a child to exit; returns its exit code or signal. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * An example (`examples/…` from the repository root) run by this Node.js with tsx in a scratch
 * folder (its default SQLite file lands there; the folder is deleted after), with `CI=1` and `env`.
 * Resolves with its exit code and its output, stdout and stderr together.
 */
export function runExample(
  file: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'holdpoint-example-'));
  // tsx is resolved here: the scratch folder has no node_modules.
  const tsx = import.meta.resolve('tsx');
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, join(root, file)], {
      cwd,
      env: { ...process.env, CI: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  }).finally(() => rmSync(cwd, { recursive: true, force: true }));
}

/** The JSON lines a process appended to a file so far (none when the file does not exist yet). */
export function readJsonLines(file: string): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * The tasks `listTasks` returns, as a list: the engine returns a list now and a page
 * (`{ tasks, cursor }`) after issue 6's next step — the one place these tests name that shape.
 */
export async function taskList(hp: Holdpoint, options?: ListTasksOptions): Promise<HumanTask[]> {
  const listed: unknown = await hp.listTasks(options);
  return Array.isArray(listed) ? (listed as HumanTask[]) : (listed as { tasks: HumanTask[] }).tasks;
}
