// Shared plumbing of the fault suite: isolated stores on the real services, child processes that are
// always cleaned up, notification logs, and reading audit chains back.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditEvent,
  createStore,
  type Holdpoint,
  type HumanTask,
  type StoreBackend,
} from '@holdpoint/core';
import {
  deleteRedisPrefixes,
  dropPostgresSchemas,
  type ServiceName,
  type StoreName,
  selectedStores,
  testPostgresUrl,
  testRedisUrl,
} from '@holdpoint/test-services';
// The storage layout's names, from the engine's own module rather than spelled out here.
import { layout } from '../../packages/core/src/store/layout.js';
import { cpuTimeOf, jsonLines, runScript } from '../helpers.js';

export { type ServiceName, testPostgresUrl as postgresUrl, testRedisUrl as redisUrl };

/**
 * Whether a store is among those to test: all of them, or those listed in `HOLDPOINT_TEST_STORES`
 * (as in the core's suite). A listed store that is unreachable fails its tests; it is never skipped.
 */
export function storeSelected(name: StoreName): boolean {
  return selectedStores().includes(name);
}

/** A fresh store nobody else uses, and how to delete it afterwards. */
export interface IsolatedStore {
  spec: string;
  cleanup(): Promise<void>;
}

function unique(): string {
  return `${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** A Redis prefix, a PostgreSQL schema or a SQLite file of its own on the shared service. */
export function isolatedStore(kind: ServiceName | 'sqlite'): IsolatedStore {
  if (kind === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'holdpoint-faults-'));
    return {
      spec: `sqlite://${join(directory, 'holdpoint.db')}`,
      cleanup: async () => rmSync(directory, { recursive: true, force: true }),
    };
  }
  if (kind === 'redis') {
    const prefix = `hp-faults-${unique()}`;
    const url = new URL(testRedisUrl);
    url.searchParams.set('prefix', prefix);
    return { spec: url.toString(), cleanup: () => deleteRedisPrefix(testRedisUrl, prefix) };
  }
  const schema = `hp_faults_${unique()}`;
  const url = new URL(testPostgresUrl);
  url.searchParams.set('schema', schema);
  return {
    spec: url.toString(),
    // Unreachable: the test that used it already failed saying so.
    cleanup: () => dropPostgresSchemas(testPostgresUrl, [schema]).catch(() => {}),
  };
}

/** Delete every key of one prefix (records, claims, indexes); nothing when Redis is unreachable. */
export function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  // Unreachable: the test that used it already failed saying so.
  return deleteRedisPrefixes(url, [prefix]).catch(() => {});
}

/** A temporary directory (for notification logs), removed by `remove()`. */
export function temporaryDirectory(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'holdpoint-faults-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A child running a fixture of test/faults/fixtures, its JSON output and its stderr. */
export interface FaultChild {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  next: ReturnType<typeof jsonLines>['next'];
  stderr(): string;
}

const running = new Set<ChildProcess>();

/** Start a fault fixture; it is SIGKILLed by {@link killChildren} if still running at the end. */
export function startFixture(name: string, args: string[], options: { stdin?: boolean } = {}): FaultChild {
  const child = runScript(new URL(`./fixtures/${name}.ts`, import.meta.url), args, options);
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const output = jsonLines(child);
  return { child, lines: output.lines, next: output.next, stderr: () => stderr };
}

/** SIGKILL every fixture still running (an `afterEach` of each file, so no test leaves one behind). */
export async function killChildren(): Promise<void> {
  const left = [...running];
  for (const child of left) child.kill('SIGKILL');
  await Promise.all(left.map((child) => exited(child)));
}

/** Wait for a child to exit; its exit code or signal. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

/**
 * Wait for a child to end by itself; SIGKILL it (and say so) once it has hung: used more than
 * `limitMs` of CPU (a loop that does not end) or sat idle that long (a wait that does not end).
 * Counted in the child's own CPU time, so a busy machine that slows it down is not taken for a hang
 * (without /proc, in wall time).
 */
export async function finished(child: ChildProcess, limitMs = 10_000): Promise<number | string> {
  let hung: string | undefined;
  let cpu = cpuTimeOf(child);
  let idleSince = performance.now();
  const started = performance.now();
  const watch = setInterval(() => {
    const now = cpuTimeOf(child);
    if (now === undefined) {
      if (performance.now() - started > limitMs) hung = `still running after ${limitMs} ms`;
    } else if (now > limitMs) {
      hung = `still running after ${now} ms of CPU`;
    } else if (now !== cpu) {
      cpu = now;
      idleSince = performance.now();
    } else if (performance.now() - idleSince > limitMs) {
      hung = `idle for ${limitMs} ms without ending`;
    }
    if (hung !== undefined) {
      clearInterval(watch);
      child.kill('SIGKILL');
    }
  }, 250);
  try {
    const code = await exited(child);
    return hung ?? code;
  } finally {
    clearInterval(watch);
  }
}

/** Ask a child to stop (SIGTERM: it closes its engine and exits 0); SIGKILL if it does not in time. */
export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await exited(child);
  } finally {
    clearTimeout(timer);
  }
}

/** How often each `deliveryId` reached a notify hook, over the append-only logs the fixtures wrote. */
export function readDeliveries(files: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      // A process killed in the middle of a write leaves at most a partial last line.
      if (!line.endsWith('}')) continue;
      const { deliveryId } = JSON.parse(line) as { deliveryId: string };
      counts.set(deliveryId, (counts.get(deliveryId) ?? 0) + 1);
    }
  }
  return counts;
}

/** The events of an intent's exported audit chain, and whether the export verifies. */
export async function chainOf(
  hp: Holdpoint,
  intentId: string,
): Promise<{ events: AuditEvent[]; verified: boolean; reason?: string }> {
  const jsonl = await hp.audit.export(intentId);
  const verification = await hp.audit.verify(jsonl);
  const events = jsonl
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as AuditEvent | { type: 'signature' })
    .filter((line): line is AuditEvent => line.type !== 'signature');
  return verification.ok
    ? { events, verified: true }
    : { events, verified: false, reason: `seq ${verification.seq}: ${verification.reason}` };
}

/** How many times each reminder (by number) and each escalation (by level) of a task was recorded. */
export function timerFires(
  events: readonly AuditEvent[],
  taskId: string,
): { reminders: Map<number, number>; escalations: Map<number, number> } {
  const reminders = new Map<number, number>();
  const escalations = new Map<number, number>();
  for (const event of events) {
    if (event.taskId !== taskId) continue;
    if (event.type === 'task-reminded') {
      const number = event.data.reminder as number;
      reminders.set(number, (reminders.get(number) ?? 0) + 1);
    } else if (event.type === 'task-escalated') {
      const level = event.data.level as number;
      escalations.set(level, (escalations.get(level) ?? 0) + 1);
    }
  }
  return { reminders, escalations };
}

/** Fires recorded more than once for the same reminder number or escalation level. */
export function duplicateFires(fires: ReturnType<typeof timerFires>): number {
  let duplicates = 0;
  for (const count of [...fires.reminders.values(), ...fires.escalations.values()]) duplicates += count - 1;
  return duplicates;
}

/**
 * When each reminder of a task fell due, and whether it had to fire. Reminder N+1 falls due `every`
 * after reminder N went out (the engine's rule after a late reminder), so it follows from the recorded
 * times. A task that ran out of time must have had every reminder that fell due clearly before its
 * last deadline: one due within `raceWindowMs` of it may lose to it, one due after it never goes out.
 * A later reminder is only scheduled once the one before it went out.
 */
export function reminderSchedule(
  task: HumanTask,
  events: readonly AuditEvent[],
  raceWindowMs: number,
): Array<{ number: number; due: number; fired: boolean; required: boolean }> {
  const remind = task.remind;
  if (!remind) return [];
  const created = Date.parse(task.createdAt);
  // The task's end as it happened, and as planned: a worker killed while it held a deadline's lease
  // delays the escalation (by the lease), which keeps the task alive longer than its plan; a reminder
  // that the plan put after the task's end is not owed because of that delay.
  const actualEnd = task.deadlineAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(task.deadlineAt);
  const plannedEnd =
    task.timeoutMs === undefined
      ? Number.POSITIVE_INFINITY
      : created + task.timeoutMs + task.escalateTo.reduce((sum, step) => sum + step.timeoutMs, 0);
  const lastDeadline = Math.min(actualEnd, plannedEnd);
  const schedule: Array<{ number: number; due: number; fired: boolean; required: boolean }> = [];
  let previous: number | undefined;
  for (let number = 1; number <= remind.max; number++) {
    const planned = created + remind.afterMs + (number - 1) * (remind.everyMs ?? 0);
    const due = previous === undefined ? planned : Math.max(planned, previous + (remind.everyMs ?? 0));
    const event = events.find(
      (candidate) => candidate.type === 'task-reminded' && candidate.data.reminder === number,
    );
    schedule.push({ number, due, fired: event !== undefined, required: due < lastDeadline - raceWindowMs });
    if (!event) break;
    previous = Date.parse(event.at);
  }
  return schedule;
}

/** Events of a chain as `type@ms` since the first (and the time), to show what happened when. */
export function timeline(events: readonly AuditEvent[]): string {
  const start = Date.parse(events[0]?.at ?? '');
  return events
    .map((event) => {
      const detail = event.data.reminder ?? event.data.level ?? '';
      return `${event.type}${detail}@${Date.parse(event.at) - start} (${event.at})`;
    })
    .join(' ');
}

/** `work` over `items` with at most `limit` running at once, results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Re-read what is still pending until nothing is, or until nothing more has ended for `stallMs`:
 * the engines get the time they need on a busy machine, and a task that is stuck is still found.
 * Resolves with what is left pending.
 */
export async function untilSettled(
  pending: readonly string[],
  stillPending: (ids: readonly string[]) => Promise<string[]>,
  { stallMs = 20_000, intervalMs = 250 }: { stallMs?: number; intervalMs?: number } = {},
): Promise<string[]> {
  let left = [...pending];
  let progressAt = performance.now();
  while (left.length > 0 && performance.now() - progressAt < stallMs) {
    await sleep(intervalMs);
    const now = await stillPending(left);
    if (now.length < left.length) progressAt = performance.now();
    left = now;
  }
  return left;
}

/** Whole milliseconds of a duration in seconds with one decimal, for summary lines. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Look into a store the way the engine lays it out: due timers and who holds their leases, and
 * which notifications were claimed for delivery. Open it beside the engines; close it at the end.
 */
export async function inspectStore(spec: string) {
  const store: StoreBackend = await createStore(spec);
  return {
    /** Timers due by `max` (all when absent), by id. */
    async dueTimers(max?: number): Promise<string[]> {
      const due = await store.indexRange(layout.dueIndex, {
        ...(max === undefined ? {} : { max }),
        limit: 10_000,
      });
      return due.map((entry) => entry.member);
    },
    /** The engine holding each timer's lease (`undefined` where none does). */
    timerLeases(timerIds: readonly string[]): Promise<(string | undefined)[]> {
      return store.readClaims(timerIds.map(layout.timerLease));
    },
    /** Whether each event's notification was claimed for delivery. */
    async notifiedClaims(eventIds: readonly string[]): Promise<boolean[]> {
      const claims = await store.readClaims(eventIds.map(layout.notified));
      return claims.map((claim) => claim !== undefined);
    },
    close: () => store.close(),
  };
}
