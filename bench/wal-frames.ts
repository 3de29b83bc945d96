// Pages written to the SQLite WAL per gate lifecycle: the engine's and the hand-written floor's, one
// lifecycle at a time. A count, not a time: the same on a busy machine as on a quiet one. Each is
// broken down by the table or index (B-tree) the page belongs to (SQLite's dbstat).
//   node scripts/dev.mjs run bench/wal-frames.ts [--lifecycles 200]
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { createStore } from '@holdpoint/core';
import { openEngineGate } from './gate-lifecycle.js';
import { openHandWrittenSqlite } from './hand-written.js';

const { values } = parseArgs({ options: { lifecycles: { type: 'string', default: '200' } } });
const lifecycles = Number(values.lifecycles);
const batch = 5;
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-wal-'));

/** The page number of each frame in the WAL file (header 32 bytes; each frame 24 + page size). */
function walPages(file: string): number[] {
  if (!existsSync(`${file}-wal`)) return [];
  const wal = readFileSync(`${file}-wal`);
  if (wal.length < 32) return [];
  const pageSize = wal.readUInt32BE(8);
  const pages: number[] = [];
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) pages.push(wal.readUInt32BE(at));
  return pages;
}

/**
 * Frames in the WAL now, by the B-tree of their page, then empty it (so the writer's automatic
 * checkpoint never runs). Frames of earlier transactions left in the file are not counted: `log`
 * says how many belong to the WAL now, and those are its first frames.
 */
function framesAndTruncate(file: string, byTree: Map<string, number>): number {
  const pages = walPages(file);
  const db = new DatabaseSync(file);
  const [row] = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').all() as Array<{ log: number }>;
  const tree = new Map<number, string>();
  for (const { name, pageno } of db.prepare('SELECT name, pageno FROM dbstat').all() as Array<{
    name: string;
    pageno: number;
  }>)
    tree.set(pageno, name);
  for (const page of pages.slice(0, row?.log ?? 0)) {
    const name = tree.get(page) ?? (page === 1 ? 'sqlite_schema' : '(freed page)');
    byTree.set(name, (byTree.get(name) ?? 0) + 1);
  }
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  return row?.log ?? 0;
}

async function measure(
  label: string,
  file: string,
  open: () => Promise<{ lifecycle(id: string): Promise<void>; close(): Promise<void> }>,
) {
  const gate = await open();
  for (let i = 0; i < 10; i++) await gate.lifecycle(`warm-${i}`);
  framesAndTruncate(file, new Map());
  let frames = 0;
  const byTree = new Map<string, number>();
  for (let done = 0; done < lifecycles; done += batch) {
    for (let i = 0; i < batch; i++) await gate.lifecycle(`${label}-${done + i}`);
    frames += framesAndTruncate(file, byTree);
  }
  await gate.close();
  console.log(`${label}: ${(frames / lifecycles).toFixed(1)} WAL frames (pages) per lifecycle`);
  for (const [name, count] of [...byTree].sort((a, b) => b[1] - a[1]))
    console.log(`  ${(count / lifecycles).toFixed(2).padStart(6)}  ${name}`);
  return frames / lifecycles;
}

const engineFile = join(directory, 'engine.db');
const engine = await measure('engine', engineFile, async () =>
  openEngineGate(await createStore(`sqlite://${engineFile}`), { notify: false }),
);
const handFile = join(directory, 'hand.db');
const hand = await measure('hand-written', handFile, async () => openHandWrittenSqlite(handFile));
console.log(`engine / hand-written: ${(engine / hand).toFixed(1)}× the pages`);
rmSync(directory, { recursive: true, force: true });
