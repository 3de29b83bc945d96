// Pages written to the SQLite WAL per gate lifecycle: the engine's and the hand-written floor's, one
// lifecycle at a time. A count, not a time: the same on a busy machine as on a quiet one.
//   node scripts/dev.mjs run bench/wal-frames.ts [--lifecycles 200]
import { mkdtempSync, rmSync } from 'node:fs';
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

/** Frames in the WAL now, then empty it (so the writer's automatic checkpoint never runs). */
function framesAndTruncate(file: string): number {
  const db = new DatabaseSync(file);
  const [row] = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').all() as Array<{ log: number }>;
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
  framesAndTruncate(file);
  let frames = 0;
  for (let done = 0; done < lifecycles; done += batch) {
    for (let i = 0; i < batch; i++) await gate.lifecycle(`${label}-${done + i}`);
    frames += framesAndTruncate(file);
  }
  await gate.close();
  console.log(`${label}: ${(frames / lifecycles).toFixed(1)} WAL frames (pages) per lifecycle`);
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
