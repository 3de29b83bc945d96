// Where one gate lifecycle's SQLite work goes: the SQL statements and transactions the engine's
// SQLite store runs per lifecycle, grouped by statement, with the time spent in each (the time the
// synchronous node:sqlite call ran) — beside the hand-written approvals table (hand-written.ts).
//
//   node scripts/dev.mjs run bench/sqlite-work.ts [--lifecycles 2000]
//
// It counts by wrapping node:sqlite's `StatementSync` run/get/all/iterate and `DatabaseSync.exec` in
// this process; nothing in the engine is changed. Lifecycles run one at a time after 200 unmeasured.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync, StatementSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { createStore } from '@holdpoint/core';
import { openEngineGate } from './gate-lifecycle.js';
import { openHandWrittenSqlite, type PeerGate } from './hand-written.js';

const { values } = parseArgs({ options: { lifecycles: { type: 'string', default: '2000' } } });
const lifecycles = Number(values.lifecycles);

interface Tally {
  calls: number;
  ms: number;
}
const tallies = new Map<string, Tally>();
let recording = false;
/** Inside BEGIN … COMMIT (the engine and the hand-written version use one connection each). */
let inTransaction = false;
/** Writes made outside BEGIN … COMMIT: each is a commit of its own. */
let autocommits = 0;

/** A statement's SQL on one line, its first words: enough to tell the statements apart. */
function label(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 90);
}

function wrap(target: object, method: string, labelOf: (self: unknown, args: unknown[]) => string): void {
  const original = (target as Record<string, (...args: unknown[]) => unknown>)[method] as (
    ...args: unknown[]
  ) => unknown;
  (target as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
    if (!recording) return original.apply(this, args);
    const began = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const key = labelOf(this, args);
      const tally = tallies.get(key) ?? { calls: 0, ms: 0 };
      tally.calls++;
      tally.ms += performance.now() - began;
      tallies.set(key, tally);
    }
  };
}
for (const method of ['run', 'get', 'all', 'iterate']) {
  wrap(StatementSync.prototype, method, (self) => {
    const sql = label((self as StatementSync).sourceSQL);
    if (!inTransaction && /^(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql)) autocommits++;
    return sql;
  });
}
wrap(DatabaseSync.prototype, 'exec', (_self, args) => {
  const sql = label(String(args[0]));
  if (/^BEGIN\b/i.test(sql)) inTransaction = true;
  if (/^(COMMIT|ROLLBACK)\b/i.test(sql)) inTransaction = false;
  return `exec: ${sql}`;
});

async function measure(name: string, gate: PeerGate): Promise<void> {
  for (let i = 0; i < 200; i++) await gate.lifecycle(`warm.${i}`);
  tallies.clear();
  autocommits = 0;
  recording = true;
  const began = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < lifecycles; i++) await gate.lifecycle(`run.${i}`);
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - began;
  recording = false;
  await gate.check();
  let statements = 0;
  let inSqlite = 0;
  const rows = [...tallies].sort((a, b) => b[1].ms - a[1].ms);
  for (const [, tally] of rows) {
    statements += tally.calls;
    inSqlite += tally.ms;
  }
  const per = (value: number) => (value / lifecycles).toFixed(2);
  const commits = (tallies.get('exec: COMMIT')?.calls ?? 0) + autocommits;
  console.log(`## ${name}\n`);
  console.log(
    `${lifecycles} lifecycles one at a time: ${per(statements)} SQLite calls and ${per(commits)} commits per lifecycle (${per(autocommits)} of them single statements outside BEGIN … COMMIT); ` +
      `${per(inSqlite)} ms per lifecycle inside them, of ${per(wall)} ms wall and ${per((used.user + used.system) / 1000)} ms CPU.\n`,
  );
  console.log('| statement | per lifecycle | µs each | ms per lifecycle |\n|---|--:|--:|--:|');
  for (const [key, tally] of rows) {
    console.log(
      `| \`${key}\` | ${per(tally.calls)} | ${((tally.ms / tally.calls) * 1000).toFixed(1)} | ${per(tally.ms)} |`,
    );
  }
  console.log('');
  await gate.close();
}

const directory = mkdtempSync(join(tmpdir(), 'holdpoint-bench-sqlite-work-'));
try {
  await measure(
    'Holdpoint engine, SQLite file',
    await openEngineGate(await createStore(`sqlite://${join(directory, 'engine.db')}`), { notify: false }),
  );
  await measure(
    'hand-written approvals + 3 audit rows, node:sqlite',
    openHandWrittenSqlite(join(directory, 'hand.db')),
  );
} finally {
  rmSync(directory, { recursive: true, force: true });
}
