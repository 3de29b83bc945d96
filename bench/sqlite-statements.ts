// A side measurement for RESULTS.md: what the SQL behind one SQLite store call costs on this
// machine, beside the variants that would cost less. The statements and tables are those of
// packages/core/src/store/sqlite-store.ts and keyv-node-sqlite.ts as of 2026-11-25 (copied here,
// since the variants need other tables); the file is opened as the store opens it (WAL,
// synchronous=NORMAL). Each statement runs 20,000 times with random keys, as the engine's ids are.
//
// Run: node scripts/dev.mjs run bench/sqlite-statements.ts
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KeyvNodeSqlite } from '@holdpoint/core';

const runs = 20_000;
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-sqlite-statements-'));
// The project's adapter opens the file: WAL, synchronous=NORMAL, busy timeout; its table is `keyv`.
const adapter = new KeyvNodeSqlite({ uri: join(directory, 'statements.db') });
const db = adapter.db;
db.exec(`
  CREATE TABLE claims (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER) WITHOUT ROWID;
  CREATE TABLE claims_rowid (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER);
  CREATE TABLE entries (name TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL,
    PRIMARY KEY (name, member)) WITHOUT ROWID;
  CREATE INDEX entries_by_score ON entries (name, score, member);
  CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, origin TEXT NOT NULL,
    message TEXT NOT NULL, at INTEGER NOT NULL);
  CREATE INDEX messages_by_time ON messages (at);
  CREATE TABLE messages_plain (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, origin TEXT NOT NULL,
    message TEXT NOT NULL, at INTEGER NOT NULL);
`);

const randomId = () => randomBytes(12).toString('base64url');
// The size of a task-created event, the largest claim of a lifecycle (about 1.1 KB).
const event = 'x'.repeat(1_100);

function measure(label: string, work: () => void): void {
  for (let warm = 0; warm < 1_000; warm++) work();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let run = 0; run < runs; run++) work();
  const cpu = process.cpuUsage(cpuBefore);
  const wallMicroseconds = ((performance.now() - started) * 1000) / runs;
  const cpuMicroseconds = (cpu.user + cpu.system) / runs;
  console.log(`| ${label} | ${wallMicroseconds.toFixed(1)} | ${cpuMicroseconds.toFixed(1)} |`);
}

const upsert = db.prepare(
  `INSERT INTO keyv (key, value, expires) VALUES (?, ?, ?)
   ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
);
const claimSql = (table: string) =>
  db.prepare(
    `INSERT INTO ${table} (key, value, expires) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires
     WHERE ${table}.expires IS NOT NULL AND ${table}.expires <= ? RETURNING key`,
  );
const claim = claimSql('claims');
const claimRowid = claimSql('claims_rowid');
const indexAdd = db.prepare(
  `INSERT INTO entries (name, member, score) VALUES (?, ?, ?)
   ON CONFLICT (name, member) DO UPDATE SET score = excluded.score`,
);
const publish = db.prepare('INSERT INTO messages (channel, origin, message, at) VALUES (?, ?, ?, ?)');
const publishPlain = db.prepare(
  'INSERT INTO messages_plain (channel, origin, message, at) VALUES (?, ?, ?, ?)',
);
const wake = 'y'.repeat(120);

console.log(`SQLite ${String(db.prepare('SELECT sqlite_version() AS v').get()?.v)}, ${runs} runs each\n`);
console.log('| statement (each its own commit unless said) | µs wall | µs CPU |');
console.log('|---|--:|--:|');
measure('Keyv set: upsert of 1.1 KB into `keyv` (rowid table)', () =>
  upsert.run(`ns:${randomId()}`, event, null),
);
measure('claim of 1.1 KB into `holdpoint_claims` (WITHOUT ROWID), as shipped', () =>
  claim.all(`hp:ev:int_${randomId()}:2`, event, null, Date.now()),
);
measure('claim of 1.1 KB into the same table as a rowid table', () =>
  claimRowid.all(`hp:ev:int_${randomId()}:2`, event, null, Date.now()),
);
measure('indexAdd of one entry (BEGIN IMMEDIATE … COMMIT), as shipped', () => {
  db.exec('BEGIN IMMEDIATE');
  indexAdd.run('hp:tasks', `tsk_${randomId()}`, Date.now());
  db.exec('COMMIT');
});
measure('indexAdd of one entry, autocommit', () => indexAdd.run('hp:tasks', `tsk_${randomId()}`, Date.now()));
measure('publish: insert into `holdpoint_messages` (AUTOINCREMENT, index on at), as shipped', () =>
  publish.run('hp', 'origin', wake, Date.now()),
);
measure('publish into a plain rowid table without the index', () =>
  publishPlain.run('hp', 'origin', wake, Date.now()),
);
measure('six index entries of a task, one commit each (as the engine writes them)', () => {
  for (let index = 0; index < 6; index++) indexAdd.run(`hp:index-${index}`, `tsk_${randomId()}`, Date.now());
});
measure('six index entries of a task in one transaction', () => {
  db.exec('BEGIN IMMEDIATE');
  for (let index = 0; index < 6; index++) indexAdd.run(`hp:index-${index}`, `tsk_${randomId()}`, Date.now());
  db.exec('COMMIT');
});

await adapter.disconnect();
rmSync(directory, { recursive: true, force: true });
