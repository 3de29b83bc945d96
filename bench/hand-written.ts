// The hand-written floor of issue 6: what an application that needs one approval gate would write
// itself, without Holdpoint — an approvals table, an audit table with three rows per approval
// (submitted, created, decided), the human told in-process, the waiting agent woken in-process.
//
// One lifecycle: ask (one transaction: the approval row, pending, and two audit rows) → the human,
// told of it, approves (one transaction: the row updated only while it is pending, and the third
// audit row) → the agent's waiter reads the row back and resumes with its status. Both stores
// write the same rows with the same indexes (the inbox: assignee + status + time; the pending
// deadlines). What it leaves out is everything else the engine does: a hash chain, idempotency,
// timers that fire, an event feed, lists, counters, validation, several processes on one store.
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';

/** A gate lifecycle, run by a peer. */
export interface PeerGate {
  lifecycle(id: string): Promise<void>;
  /** After the run: check that the work was really done, and say what was checked. */
  check(): Promise<string>;
  close(): Promise<void>;
}

const assignee = 'approver@bench.test';

function contextOf(id: string): string {
  return JSON.stringify({
    run: id,
    refund: { order: `ord-${id}`, amount: 129.5, currency: 'EUR', reason: 'damaged in transit' },
  });
}

/** Waiters and the human, in-process, as both stores use them. */
function wiring() {
  const waiters = new Map<string, (status: string) => void>();
  return {
    wait(id: string): Promise<string> {
      return new Promise((resolve) => waiters.set(id, resolve));
    },
    wake(id: string, status: string) {
      waiters.get(id)?.(status);
      waiters.delete(id);
    },
  };
}

/** On a `node:sqlite` file: WAL, `synchronous=NORMAL`, as Holdpoint's SQLite store opens its file. */
export function openHandWrittenSqlite(file: string): PeerGate {
  const db = new DatabaseSync(file);
  db.exec(`
    PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
    CREATE TABLE approvals (
      id TEXT PRIMARY KEY, assignee TEXT NOT NULL, status TEXT NOT NULL, context TEXT NOT NULL,
      deadline INTEGER, created_at INTEGER NOT NULL, decided_by TEXT, decided_at INTEGER);
    CREATE INDEX approvals_inbox ON approvals (assignee, status, created_at);
    CREATE INDEX approvals_deadline ON approvals (deadline) WHERE status = 'pending';
    CREATE TABLE audit (
      id INTEGER PRIMARY KEY, approval_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
      at INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (approval_id, seq));
  `);
  const insertApproval = db.prepare(
    `INSERT INTO approvals (id, assignee, status, context, deadline, created_at) VALUES (?, ?, 'pending', ?, ?, ?)`,
  );
  const insertAudit = db.prepare(
    'INSERT INTO audit (approval_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?)',
  );
  const approve = db.prepare(
    `UPDATE approvals SET status = 'approved', decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'`,
  );
  const readStatus = db.prepare('SELECT status FROM approvals WHERE id = ?');
  const countAudit = db.prepare('SELECT count(*) AS n FROM audit WHERE approval_id = ?');
  const { wait, wake } = wiring();
  let last: string | undefined;

  const transaction = (work: () => void) => {
    db.exec('BEGIN IMMEDIATE');
    try {
      work();
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  };
  const ask = (id: string) => {
    const now = Date.now();
    const context = contextOf(id);
    transaction(() => {
      insertApproval.run(id, assignee, context, now + 3_600_000, now);
      insertAudit.run(id, 1, 'submitted', now, context);
      insertAudit.run(id, 2, 'created', now, JSON.stringify({ assignee, deadline: now + 3_600_000 }));
    });
  };
  const decide = (id: string) => {
    const now = Date.now();
    transaction(() => {
      if (approve.run(assignee, now, id).changes !== 1) throw new Error(`approval ${id} was not pending`);
      insertAudit.run(id, 3, 'decided', now, JSON.stringify({ outcome: 'approved', actor: assignee }));
    });
    const row = readStatus.get(id) as { status: string };
    wake(id, row.status);
  };
  return {
    async lifecycle(run) {
      const id = `apr_${randomBytes(12).toString('base64url')}`;
      const waiting = wait(id);
      ask(id);
      // The human is told of the new approval (in-process) and approves it.
      await Promise.resolve();
      decide(id);
      const status = await waiting;
      if (status !== 'approved') throw new Error(`lifecycle ${run}: the waiter got ${status}`);
      last = id;
    },
    async check() {
      if (last === undefined) throw new Error('no lifecycle completed');
      const { n } = countAudit.get(last) as { n: number };
      const row = readStatus.get(last) as { status: string };
      if (n !== 3 || row.status !== 'approved')
        throw new Error(`approval ${last}: ${row.status}, ${n} audit rows`);
      return 'last approval: approved, 3 audit rows';
    },
    async close() {
      db.close();
    },
  };
}

/**
 * On PostgreSQL through a node-postgres pool (10 connections, pg's default and the engine's). Each
 * step is one statement (a data-modifying CTE), so one round trip and one commit: the fewest a
 * careful hand-written version makes.
 */
export async function openHandWrittenPostgres(url: string, schema: string): Promise<PeerGate> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => {});
  const s = `"${schema}"`;
  await pool.query(`
    CREATE SCHEMA IF NOT EXISTS ${s};
    CREATE TABLE ${s}.approvals (
      id text PRIMARY KEY, assignee text NOT NULL, status text NOT NULL, context jsonb NOT NULL,
      deadline timestamptz, created_at timestamptz NOT NULL, decided_by text, decided_at timestamptz);
    CREATE INDEX ON ${s}.approvals (assignee, status, created_at);
    CREATE INDEX ON ${s}.approvals (deadline) WHERE status = 'pending';
    CREATE TABLE ${s}.audit (
      id bigserial PRIMARY KEY, approval_id text NOT NULL, seq int NOT NULL, type text NOT NULL,
      at timestamptz NOT NULL, data jsonb NOT NULL, UNIQUE (approval_id, seq));
  `);
  const askSql = `
    WITH a AS (
      INSERT INTO ${s}.approvals (id, assignee, status, context, deadline, created_at)
      VALUES ($1, $2, 'pending', $3, now() + interval '1 hour', now()) RETURNING id)
    INSERT INTO ${s}.audit (approval_id, seq, type, at, data)
    SELECT a.id, v.seq, v.type, now(), v.data FROM a,
      (VALUES (1, 'submitted', $3::jsonb), (2, 'created', $4::jsonb)) AS v (seq, type, data)`;
  const decideSql = `
    WITH u AS (
      UPDATE ${s}.approvals SET status = 'approved', decided_by = $2, decided_at = now()
      WHERE id = $1 AND status = 'pending' RETURNING id)
    INSERT INTO ${s}.audit (approval_id, seq, type, at, data)
    SELECT u.id, 3, 'decided', now(), $3::jsonb FROM u`;
  const { wait, wake } = wiring();
  let last: string | undefined;
  return {
    async lifecycle(run) {
      const id = `apr_${randomBytes(12).toString('base64url')}`;
      const waiting = wait(id);
      const asked = await pool.query(askSql, [id, assignee, contextOf(id), JSON.stringify({ assignee })]);
      if (asked.rowCount !== 2) throw new Error(`approval ${id}: ${asked.rowCount} audit rows written`);
      const decided = await pool.query(decideSql, [
        id,
        assignee,
        JSON.stringify({ outcome: 'approved', actor: assignee }),
      ]);
      if (decided.rowCount !== 1) throw new Error(`approval ${id} was not pending`);
      const row = await pool.query(`SELECT status FROM ${s}.approvals WHERE id = $1`, [id]);
      wake(id, row.rows[0]?.status);
      const status = await waiting;
      if (status !== 'approved') throw new Error(`lifecycle ${run}: the waiter got ${status}`);
      last = id;
    },
    async check() {
      if (last === undefined) throw new Error('no lifecycle completed');
      const { rows } = await pool.query(
        `SELECT a.status, (SELECT count(*)::int FROM ${s}.audit WHERE approval_id = a.id) AS n FROM ${s}.approvals a WHERE id = $1`,
        [last],
      );
      if (rows[0]?.status !== 'approved' || rows[0]?.n !== 3)
        throw new Error(`approval ${last}: ${JSON.stringify(rows[0])}`);
      return 'last approval: approved, 3 audit rows';
    },
    async close() {
      await pool.end();
    },
  };
}
