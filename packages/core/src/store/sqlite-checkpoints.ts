import type { DatabaseSync, StatementSync } from 'node:sqlite';
// The real clock, even under a test's fake timers: checkpoints are plumbing, not logic time.
import { clearTimeout, setTimeout } from 'node:timers';
import type { Worker } from 'node:worker_threads';

// WAL checkpoints off the event loop. In WAL mode a commit appends the pages it changed to the
// `-wal` file; a checkpoint copies them back into the database file and syncs both files. SQLite
// runs one on the committing connection whenever the WAL passes 1,000 pages, inside that commit: on
// the SQLite file one gate lifecycle in 20 or so waited several milliseconds for the copy and two
// `fsync`s (p99 13–15 ms at one gate in flight; bench/RESULTS.md). A connection opened by
// `openSqliteDatabase` turns that off and leaves checkpoints to a worker thread (one per process,
// started with the first checkpoint) that has connections of its own: in WAL mode a checkpoint does
// not block writers, so commits go on while it copies.
//
// When: a commit tells the worker that the WAL grew ({@link walGrew}: at most one request per
// connection in flight); the worker checkpoints that file at most every `pauseMs` and answers. It
// also checkpoints every file it was asked about every `sweepMs`, which copies the writes of paths
// that do not ask. A checkpoint with nothing to copy costs no `fsync`.
//
// The WAL starts over from its beginning only when a write transaction begins with all of it
// copied, and commits go on while the worker copies; so once the worker reports that it copied all
// it saw of a WAL past `restartFrames`, the connection itself copies the few pages committed since,
// between two of its transactions ({@link restartIfLong}). That bounds the WAL.
//
// Durability does not change: a commit is as durable as before (`synchronous=NORMAL`: the WAL
// survives a crash of the process), and a checkpoint cut short by a crash is redone by the next.
// Closing waits for the worker to let go of the file, so the caller's connection is the last to
// close, and copies the rest and removes the WAL as before. Should the worker not start or die,
// every connection goes back to checkpointing for itself.

/** The worker: plain JavaScript run with `eval`, so it needs no file of its own beside the module. */
const workerSource = `
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
const { existsSync } = process.getBuiltinModule('node:fs');
const { pauseMs, sweepMs } = workerData;
const files = new Map();
function connection(file) {
  if (file.db === undefined) {
    // Opening a missing file would create it, with the default mode: the caller's file is gone.
    if (!existsSync(file.path)) throw new Error('the database file is gone');
    file.db = new DatabaseSync(file.path);
    file.db.exec('PRAGMA busy_timeout = 0');
    file.db.exec('PRAGMA synchronous = NORMAL');
    file.passive = file.db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  }
  return file;
}
function checkpoint(file) {
  file.last = Date.now();
  try {
    let row = connection(file).passive.get();
    // Commits that came while it copied: a round or two more, each shorter.
    for (let round = 0; round < 2 && row.busy === 0 && row.checkpointed < row.log; round++) row = file.passive.get();
    return { ok: true, log: row.log, checkpointed: row.checkpointed };
  } catch (error) {
    // Busy (another process is checkpointing) or the file is gone: the next request tries again.
    return { ok: false, message: String(error && error.message || error) };
  }
}
function answer(file) {
  file.timer = undefined;
  const result = checkpoint(file);
  for (const id of file.waiting.splice(0)) parentPort.postMessage({ id, ...result });
}
parentPort.on('message', ({ id, op, path }) => {
  let file = files.get(path);
  if (op === 'forget') {
    if (file !== undefined) {
      clearTimeout(file.timer);
      files.delete(path);
      try { file.db?.close(); } catch {}
      for (const waiting of file.waiting) parentPort.postMessage({ id: waiting, ok: false, message: 'forgotten' });
    }
    parentPort.postMessage({ id, ok: true });
    return;
  }
  if (file === undefined) {
    file = { path, db: undefined, last: 0, timer: undefined, waiting: [] };
    files.set(path, file);
  }
  file.waiting.push(id);
  if (file.timer === undefined) file.timer = setTimeout(answer, Math.max(0, file.last + pauseMs - Date.now()), file);
});
setInterval(() => {
  for (const file of files.values()) if (file.timer === undefined && Date.now() - file.last >= sweepMs) checkpoint(file);
}, sweepMs);
`;

/** How the worker paces its checkpoints; the defaults are what the module uses. */
export interface CheckpointPacing {
  /** Least time between two checkpoints of one file asked for by its commits, in ms. */
  pauseMs: number;
  /** How often every known file is checkpointed whether or not a commit asked, in ms. */
  sweepMs: number;
  /** WAL pages past which the connection itself copies the last few so that the WAL starts over. */
  restartFrames: number;
}

const defaultPacing: CheckpointPacing = { pauseMs: 100, sweepMs: 5_000, restartFrames: 4_096 };

/** What the worker answers to a request. */
export interface CheckpointAnswer {
  ok: boolean;
  /** Pages in the WAL, and how many of them are copied into the database file (when ok). */
  log?: number;
  checkpointed?: number;
  message?: string;
}

interface Tracked {
  db: DatabaseSync;
  path: string;
  /** Whether a request is with the worker: the next commit does not send another. */
  asked: boolean;
  /** Callers of {@link checkpointNow} waiting for the answer to the request in flight. */
  listeners: Array<(answer: CheckpointAnswer) => void>;
  /** The worker has copied a long WAL while a transaction was open: the next commit copies the rest. */
  restartDue: boolean;
  passive?: StatementSync;
}

const tracked = new Map<DatabaseSync, Tracked>();
const replies = new Map<number, (answer: CheckpointAnswer) => void>();
/** Files the worker was asked about: it has a connection to each, to let go of at close. */
const filesAsked = new Set<string>();
/** Requests whose callers wait for the worker (closing): the worker keeps the process alive meanwhile. */
const awaited = new Set<number>();
let worker: Worker | undefined;
/** Set once the worker could not start or died: connections checkpoint for themselves from then on. */
let failed = false;
let nextId = 1;
let pacing = defaultPacing;

/** Change how checkpoints are paced (tests and benches); the worker's part applies to a worker started after. */
export function setCheckpointPacing(change: Partial<CheckpointPacing>): void {
  pacing = { ...defaultPacing, ...change };
}

/** SQLite's own checkpoints back on, for each connection, when the worker is gone. */
function fallBack(): void {
  failed = true;
  worker = undefined;
  for (const entry of tracked.values()) {
    try {
      if (entry.db.isOpen) entry.db.exec('PRAGMA wal_autocheckpoint = 1000');
    } catch {
      // Closed meanwhile: nothing to restore.
    }
    entry.asked = false;
    for (const listener of entry.listeners.splice(0)) listener({ ok: false, message: 'no worker' });
  }
  tracked.clear();
  for (const reply of replies.values()) reply({ ok: false, message: 'no worker' });
  replies.clear();
  awaited.clear();
  filesAsked.clear();
}

function theWorker(): Worker | undefined {
  if (worker !== undefined || failed) return worker;
  try {
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    const started = new Worker(workerSource, { eval: true, workerData: pacing });
    // It keeps the process alive only while a close waits for it (see ask): a checkpoint left undone
    // is done by the next one, or at close.
    started.unref();
    started.on('message', (answer: CheckpointAnswer & { id: number }) => {
      const reply = replies.get(answer.id);
      replies.delete(answer.id);
      if (awaited.delete(answer.id) && awaited.size === 0) started.unref();
      reply?.(answer);
    });
    started.on('error', fallBack);
    started.on('exit', () => {
      if (worker === started) fallBack();
    });
    worker = started;
  } catch {
    fallBack();
  }
  return worker;
}

function ask(op: 'checkpoint' | 'forget', path: string, reply: (answer: CheckpointAnswer) => void): boolean {
  const running = theWorker();
  if (running === undefined) return false;
  const id = nextId++;
  replies.set(id, reply);
  if (op === 'forget') {
    awaited.add(id);
    running.ref();
  }
  running.postMessage({ id, op, path });
  return true;
}

/**
 * Hand a file connection's checkpoints to the worker: SQLite's automatic checkpoint is turned off on
 * it. Nothing changes when the worker cannot start (the connection keeps checkpointing itself).
 */
export function checkpointInBackground(db: DatabaseSync, path: string): void {
  if (failed || tracked.has(db)) return;
  // A connection closed without stopCheckpoints: the worker lets go of its file.
  for (const closed of [...tracked.keys()].filter((other) => !other.isOpen)) void stopCheckpoints(closed);
  // The worker starts with the first checkpoint asked for (a short-lived process may never ask);
  // should it fail to start then, this connection's own checkpoints are turned back on.
  db.exec('PRAGMA wal_autocheckpoint = 0');
  tracked.set(db, { db, path, asked: false, listeners: [], restartDue: false });
}

/**
 * The WAL starts over from its beginning only when a write begins with every page of it copied, and
 * commits go on while the worker copies: so once the worker has copied what it saw of a long WAL, the
 * connection copies the few pages committed meanwhile itself (two `fsync`s), between transactions.
 */
function restartIfLong(entry: Tracked, answer: CheckpointAnswer): void {
  if (!answer.ok || (answer.log ?? 0) < pacing.restartFrames || answer.checkpointed !== answer.log) return;
  // Closed meanwhile (the answer can come after): nothing to copy, and a closed connection throws;
  // copyTheRest looks before it touches the connection.
  copyTheRest(entry);
}

/**
 * Checkpoint on the connection itself, between its transactions (see {@link restartIfLong}); inside
 * one, at the next commit instead.
 */
function copyTheRest(entry: Tracked): void {
  const { db } = entry;
  entry.restartDue = false;
  if (!tracked.has(db) || !db.isOpen) return;
  if (db.isTransaction) {
    entry.restartDue = true;
    return;
  }
  try {
    entry.passive ??= db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    entry.passive.get();
  } catch {
    // Busy (another process checkpoints): a later answer tries again.
  }
}

function send(entry: Tracked): void {
  entry.asked = true;
  filesAsked.add(entry.path);
  const sent = ask('checkpoint', entry.path, (answer) => {
    entry.asked = false;
    restartIfLong(entry, answer);
    for (const listener of entry.listeners.splice(0)) listener(answer);
  });
  if (!sent) entry.asked = false;
}

/** A commit on `db` added pages to its WAL: ask the worker to copy them back, unless it already was. */
export function walGrew(db: DatabaseSync): void {
  const entry = tracked.get(db);
  if (entry === undefined) return;
  if (entry.restartDue) copyTheRest(entry);
  if (!entry.asked) send(entry);
}

/** Checkpoint `db`'s file in the worker now (after the request in flight, if any) and say how it went. */
export function checkpointNow(db: DatabaseSync): Promise<CheckpointAnswer> {
  const entry = tracked.get(db);
  if (entry === undefined)
    return Promise.resolve({ ok: false, message: 'not checkpointed in the background' });
  if (entry.asked) return new Promise((resolve) => entry.listeners.push(() => resolve(checkpointNow(db))));
  return new Promise((resolve) => {
    entry.listeners.push(resolve);
    send(entry);
  });
}

/**
 * Close a connection that failed while opening, at once: its checkpoints stop without waiting for
 * the worker (which was never asked about its file by this connection).
 */
export function discardConnection(db: DatabaseSync): void {
  void stopCheckpoints(db);
  if (db.isOpen) db.close();
}

/**
 * Stop checkpointing `db` in the background, and wait (up to `timeoutMs`) until the worker has closed
 * its connection to the file: the caller's connection, closed next, is then the last one, which
 * copies the rest of the WAL into the file and removes it.
 */
export function stopCheckpoints(db: DatabaseSync, timeoutMs = 10_000): Promise<void> {
  const entry = tracked.get(db);
  if (entry === undefined) return Promise.resolve();
  tracked.delete(db);
  // Another connection of this process to the same file keeps the worker's connection.
  for (const other of tracked.values()) if (other.path === entry.path) return Promise.resolve();
  if (!filesAsked.delete(entry.path) || worker === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    const sent = ask('forget', entry.path, () => {
      clearTimeout(timer);
      resolve();
    });
    if (!sent) {
      clearTimeout(timer);
      resolve();
    }
  });
}
