import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeWakeUp, encodeWakeUp, intentIdOfTask, layout, newId, newTaskId } from '../src/store/layout.js';
import { postgresUrl } from './helpers/stores.js';

// Intent and task ids start with their creation time, so that later ids sort later: the rows and
// index entries of new gates go to the end of each B-tree, beside each other. These tests pin the
// order the stores see — bytewise (SQLite, Redis, the memory store) and under PostgreSQL's own
// collation — and that the ids stay what the rest of the engine takes them for. Then the wake-up
// message every append publishes: what it carries, and what a message from an older engine means.

afterEach(() => {
  vi.useRealTimers();
});

/** Ids made at each of `times` (ms since the epoch), in the order made. */
function idsAt(times: readonly number[]): string[] {
  vi.useFakeTimers();
  return times.map((time) => {
    vi.setSystemTime(time);
    return newTaskId(newId('int'));
  });
}

/** Times from 1970 to the year 10000, close pairs (1 ms apart) and ones a bit apart at every digit. */
const times = [
  0, 1, 31, 32, 33, 1023, 1024, 1_000_000, 1_700_000_000_000, 1_700_000_000_001, 1_764_633_600_000,
  1_764_633_600_031, 1_764_633_600_032, 2_000_000_000_000, 4_102_444_800_000, 253_402_300_799_999,
];

describe('intent and task ids', () => {
  it('sort bytewise in the order of their creation time', () => {
    const ids = idsAt(times);
    expect([...ids].sort()).toEqual(ids);
    const intentIds = ids.map((id) => intentIdOfTask(id));
    expect([...intentIds].sort()).toEqual(intentIds);
  });

  it('made in one millisecond are all different and all of one form', () => {
    const ids = idsAt(Array.from({ length: 2_000 }, () => 1_764_633_600_000));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^tsk_[0-9a-z]{10}[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{7}$/);
      expect(intentIdOfTask(id)).toMatch(/^int_[0-9a-z]{10}[A-Za-z0-9_-]{12}$/);
      expect(id.slice(4, 14)).toBe(intentIdOfTask(id)?.slice(4, 14));
    }
  });

  it("sort in the order of their creation time under PostgreSQL's collations", async () => {
    const ids = idsAt(times);
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      // The database's default collation (what a text column takes unless it says `COLLATE "C"`),
      // and the linguistic ones this server has, under which punctuation and case sort apart from
      // byte order. Only the time part is compared: the random part's order is not promised.
      const { rows: collations } = await client.query<{ name: string }>(
        `SELECT collname AS name FROM pg_collation
         WHERE collname IN ('und-x-icu', 'en-x-icu', 'en_US.utf8', 'en_US.UTF-8', 'de_DE.utf8')`,
      );
      for (const collation of ['default', ...collations.map((row) => row.name)]) {
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM unnest($1::text[]) AS id ORDER BY left(id, 14) COLLATE "${collation}"`,
          [[...ids].reverse()],
        );
        expect(
          rows.map((row) => row.id),
          collation,
        ).toEqual(ids);
      }
    } finally {
      await client.end();
    }
  });
});

describe('the wake-up message', () => {
  it('carries every field there and back', () => {
    const wakeUp = {
      engineId: 'e1',
      intentId: 'int_a',
      seq: 3,
      firstSeq: 2,
      taskId: 'tsk_a.b',
      due: 1_764_633_600_000,
      outbox: true,
      firesNoTimers: true,
    };
    expect(decodeWakeUp(encodeWakeUp(wakeUp))).toEqual(wakeUp);
    expect(decodeWakeUp(encodeWakeUp({ engineId: 'e1', intentId: 'int_a', seq: 1 }))).toEqual({
      engineId: 'e1',
      intentId: 'int_a',
      seq: 1,
    });
  });

  it('from an engine before `firesNoTimers`, or with a mangled mark, counts as from one that fires timers', () => {
    expect(decodeWakeUp('{"i":"int_a","s":1,"e":"e1"}')?.firesNoTimers).toBeUndefined();
    for (const mark of ['true', '"1"', '0', '2', 'null'])
      expect(decodeWakeUp(`{"i":"int_a","s":1,"e":"e1","n":${mark}}`)?.firesNoTimers).toBeUndefined();
  });

  it('that is not one is ignored', () => {
    for (const message of ['', 'not json', 'null', '[]', '{"i":1,"s":1,"e":"e"}', '{"i":"int_a","e":"e"}'])
      expect(decodeWakeUp(message)).toBeUndefined();
  });
});

describe('docs/engine.md', () => {
  it('names every key, record, index and counter of the layout as the layout writes them', () => {
    const docs = readFileSync(fileURLToPath(new URL('../../../docs/engine.md', import.meta.url)), 'utf8');
    const part = '\u0000';
    const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // Each name as the docs write it: in backticks, its variable parts as `<placeholder>`s.
    const missing = Object.entries(layout)
      .map(([name, value]) => {
        const text =
          typeof value === 'string' ? value : (value as (...parts: string[]) => string)(part, part);
        return { name, pattern: new RegExp(`\`${text.split(part).map(literally).join('<[^>`]+>')}\``) };
      })
      .filter(({ pattern }) => !pattern.test(docs))
      .map(({ name }) => name);
    expect(missing).toEqual([]);
  });

  it('gives every key of the wake-up message', () => {
    const docs = readFileSync(fileURLToPath(new URL('../../../docs/engine.md', import.meta.url)), 'utf8');
    const full = encodeWakeUp({
      engineId: 'eng',
      intentId: 'int',
      seq: 2,
      firstSeq: 1,
      taskId: 'tsk',
      due: 1,
      outbox: true,
      firesNoTimers: true,
    });
    const keys = Object.keys(JSON.parse(full));
    expect(keys).toHaveLength(8);
    expect(keys.filter((key) => !docs.includes(`\`${key}\` `))).toEqual([]);
  });
});
