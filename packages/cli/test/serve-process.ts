// The real `holdpoint` binary as a child process, for the CLI's tests and the cross-process tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** What `holdpoint serve --json` prints when it listens. */
export interface ServeInfo {
  url: string;
  docs: string;
  store: string;
  firstAdminKey?: string;
  auditKey: { source: string; fingerprint: string; warning?: string };
  inbox: string;
  signInLink?: { email: string; url: string; expiresAt: string };
}

/** The command line that runs `holdpoint <args>`: this Node.js with tsx. */
export function holdpointCommand(args: string[]): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), bin, ...args];
}

/** An MCP client's stdio transport that runs `holdpoint <args>` (the SDK spawns it on `connect`). */
export function holdpointStdioTransport(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): StdioClientTransport {
  const [command, ...rest] = holdpointCommand(args);
  return new StdioClientTransport({
    command: command as string,
    args: rest,
    cwd: options.cwd,
    env: { ...(process.env as Record<string, string>), ...options.env },
    stderr: 'pipe',
  });
}

/** `holdpoint <args>` run by this Node.js with tsx, stdout and stderr piped. */
export function startHoldpoint(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): ChildProcess {
  const [command, ...rest] = holdpointCommand(args);
  return spawn(command as string, rest, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `holdpoint <args>` run to its end: exit code and everything it printed. */
export function runHoldpoint(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = startHoldpoint(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

/**
 * `holdpoint serve --json --port 0 <args>`, once it has printed where it listens. `lines` holds every
 * later line of its stdout as it arrives — read from the first byte, so a line printed in the same
 * chunk as the first one (or before the caller attaches anything) is never missed.
 */
export async function serveProcess(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ child: ChildProcess; info: ServeInfo; lines: string[]; stderr: () => string }> {
  const child = startHoldpoint(['serve', '--json', '--port', '0', ...args], options);
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines: string[] = [];
  const first = new Promise<string>((resolve, reject) => {
    let buffer = '';
    let seenFirst = false;
    child.stdout?.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (!seenFirst) {
          seenFirst = true;
          resolve(line);
        } else if (line.trim()) lines.push(line);
      }
    });
    child.on('exit', (code) => reject(new Error(`holdpoint serve exited with ${code}: ${stderr}`)));
  });
  const line = await first;
  return { child, info: JSON.parse(line) as ServeInfo, lines, stderr: () => stderr };
}

/** SIGTERM, and its exit code once it has exited. */
export function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}
