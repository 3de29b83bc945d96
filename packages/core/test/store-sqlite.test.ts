import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from '@holdpoint/test-services';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from '../src/store/create-store.js';
import { closeSqliteDatabase, openSqliteDatabase } from '../src/store/keyv-node-sqlite.js';
import { checkpointNow, setCheckpointPacing, walGrew } from '../src/store/sqlite-checkpoints.js';
import type { StoreBackend } from '../src/store/store-backend.js';

const run = promisify(execFile);
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-sqlite-processes-'));
const createStoreUrl = pathToFileURL(resolve(import.meta.dirname, '../src/store/create-store.ts')).href;
const opened: StoreBackend[] = [];

/**
 * Another engine process on the same file. With a key: claims it as "child", adds an index entry
 * and publishes a message. With `race NAME`: claims race:0 … race:49 as NAME and counts its wins.
 */
const childScript = join(directory, 'child.mts');
writeFileSync(
  childScript,
  `import { createStore } from ${JSON.stringify(createStoreUrl)};
const [spec, key, name] = process.argv.slice(2);
const store = await createStore(spec);
if (key === 'race') {
  let won = 0;
  for (let index = 0; index < 50; index++) if (await store.claim('race:' + index, name)) won++;
  process.stdout.write(JSON.stringify({ won }));
} else {
  const won = await store.claim(key, 'child');
  await store.indexAdd('due', [{ member: 'from-child', score: 1 }]);
  await store.publish('hello from the child');
  process.stdout.write(JSON.stringify({ won }));
}
await store.close();
`,
);

async function inChild<T>(...parameters: string[]): Promise<T> {
  // tsx, as the examples run, so the child can import the TypeScript sources.
  const { stdout } = await run(process.execPath, ['--import', 'tsx', childScript, ...parameters], {
    cwd: resolve(import.meta.dirname, '..'),
    timeout: 20_000,
  });
  return JSON.parse(stdout) as T;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('the sqlite store across processes', () => {
  it('makes a second process lose a claim this one holds, and win one it does not, and wakes this one', async () => {
    const spec = `sqlite://${join(directory, 'shared.db')}`;
    const store = await createStore(spec);
    opened.push(store);
    const messages: string[] = [];
    store.subscribe((message) => messages.push(message));
    expect(await store.claim('decision:t1', 'parent')).toBe(true);

    expect(await inChild(spec, 'decision:t1')).toEqual({ won: false });
    expect(await store.readClaims(['decision:t1'])).toEqual(['parent']);

    expect(await inChild(spec, 'decision:t2')).toEqual({ won: true });
    expect(await store.claim('decision:t2', 'parent')).toBe(false);
    expect(await store.readClaims(['decision:t2'])).toEqual(['child']);
    expect(await store.indexRange('due', { limit: 10 })).toEqual([{ member: 'from-child', score: 1 }]);

    await expect.poll(() => messages, { timeout: 1_000, interval: 20 }).toContain('hello from the child');
  });

  it('gives each of 50 keys to exactly one of three processes claiming them at once', async () => {
    const spec = `sqlite://${join(directory, 'race.db')}`;
    const store = await createStore(spec);
    opened.push(store);
    const [first, second] = await Promise.all([
      inChild<{ won: number }>(spec, 'race', 'first'),
      inChild<{ won: number }>(spec, 'race', 'second'),
      (async () => {
        for (let index = 0; index < 50; index += 7) await store.claim(`race:${index}`, 'parent');
      })(),
    ]);
    const holders = await store.readClaims(Array.from({ length: 50 }, (_, index) => `race:${index}`));
    expect(holders.every((holder) => holder !== undefined)).toBe(true);
    const parentWins = holders.filter((holder) => holder === 'parent').length;
    expect(first.won + second.won + parentWins).toBe(50);
    expect(holders.filter((holder) => holder === 'first')).toHaveLength(first.won);
  });
});

describe("the sqlite store's wake-up messages", () => {
  afterEach(() => vi.useRealTimers());

  it('prunes the old ones by id, keeps the newest, never gives a new one an id a reader passed', async () => {
    const file = join(directory, 'messages.db');
    const writer = await createStore(`sqlite://${file}`);
    const reader = await createStore(`sqlite://${file}`);
    opened.push(writer, reader);
    const received: string[] = [];
    reader.subscribe((message) => received.push(message));
    const rows = () => {
      const db = new DatabaseSync(file);
      try {
        return db.prepare('SELECT id, message FROM holdpoint_messages ORDER BY id').all() as Array<{
          id: number;
          message: string;
        }>;
      } finally {
        db.close();
      }
    };
    // Only Date moves: the reader's polling runs on the real clock.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-01-01T00:00:00Z') });
    const newest: number[] = [];
    for (let minute = 0; minute < 6; minute++) {
      // Two messages a minute, the second a second later; pruning runs at most once a minute.
      await writer.publish(`m${minute}a`);
      vi.setSystemTime(Date.now() + 1_000);
      await writer.publish(`m${minute}b`);
      newest.push(rows().at(-1)?.id ?? 0);
      // The reader, polling every 50 ms, gets each message once and in order, before it is pruned.
      await eventually(() => expect(received).toHaveLength(2 * (minute + 1)));
      vi.setSystemTime(Date.now() + 60_000);
    }
    vi.useRealTimers();
    // The last pruning (minute 5) dropped what came before the row it marked at minute 4.
    expect(rows().map((row) => row.message)).toEqual(['m4a', 'm4b', 'm5a', 'm5b']);
    // Ids only grow: the newest row always stays, so no id is handed out twice.
    expect(rows().map((row) => row.id)).toEqual([9, 10, 11, 12]);
    expect(newest).toEqual([2, 4, 6, 8, 10, 12]);
    expect(received).toEqual(Array.from({ length: 6 }, (_, minute) => [`m${minute}a`, `m${minute}b`]).flat());
  });
});

describe("the sqlite store's group commits", () => {
  /** Frames in the file's WAL now (read by another connection), then the WAL emptied. */
  function walFrames(file: string): number {
    const db = new DatabaseSync(file);
    try {
      // The store's checkpoint worker may be copying the same WAL: wait for it rather than skip the reset.
      db.exec('PRAGMA busy_timeout = 5000');
      const [row] = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').all() as Array<{ log: number }>;
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      return row?.log ?? 0;
    } finally {
      db.close();
    }
  }
  const event = (intentId: string, seq: number) => ({
    key: `ev:${intentId}:${seq}`,
    value: `{"${intentId}":${seq}}`,
    feed: { intentId, seq, taskId: `tsk_${intentId}`, assignees: ['ann'] },
  });
  const writes = (intentId: string) => ({
    indexAdd: ['list:all', 'list:status:pending', 'list:assignee:ann'].map((index) => ({
      index,
      member: `tsk_${intentId}`,
      score: 1,
    })),
    counters: [{ counter: 'count:pending', delta: 1 }],
  });

  it('commits events recorded in one turn together, each durable once its call answers, a held key failing alone', async () => {
    const file = join(directory, 'groups.db');
    const store = await createStore(`sqlite://${file}`);
    opened.push(store);
    const append = (intentId: string, seq = 1) =>
      (store.appendEvents as NonNullable<StoreBackend['appendEvents']>)(
        [event(intentId, seq)],
        writes(intentId),
      );
    // Warm up (and once more, so both runs start at a grown file), then 12 appends one turn apart.
    for (let round = 0; round < 40; round++) await append(`int_warm${round}`);
    walFrames(file);
    for (let index = 0; index < 12; index++) await append(`int_one${index}`);
    const oneByOne = walFrames(file);
    // 12 appends started in one turn, one of them for a key already held.
    const answers = await Promise.all([
      ...Array.from({ length: 12 }, (_, index) => append(`int_group${index}`)),
      append('int_one0'),
    ]);
    const grouped = walFrames(file);
    expect(answers).toEqual([...Array.from({ length: 12 }, () => true), false]);
    // Pages the appends all touch (the list ends, the feed, the counters) are written once per group.
    expect(grouped).toBeLessThan(oneByOne / 2);
    // Every answered event is in the file, as another connection reads it; the refused one is not.
    const other = new DatabaseSync(file);
    try {
      const keys = other
        .prepare(
          "SELECT key FROM holdpoint_claims WHERE key LIKE '%ev:int_group%' OR key LIKE '%ev:int_one0:%'",
        )
        .all()
        .map((row) => String(row.key).slice(String(row.key).indexOf('ev:')));
      expect(keys.sort()).toEqual(
        [...Array.from({ length: 12 }, (_, index) => `ev:int_group${index}:1`), 'ev:int_one0:1'].sort(),
      );
      const [value] = other
        .prepare("SELECT value FROM holdpoint_claims WHERE key LIKE '%ev:int_one0:1'")
        .all()
        .map((row) => row.value);
      expect(value).toBe('{"int_one0":1}');
    } finally {
      other.close();
    }
  });

  it('lets another connection of the process write while a group is open, without waiting for its lock', async () => {
    const file = join(directory, 'groups-two.db');
    const first = await createStore(`sqlite://${file}`);
    const second = await createStore(`sqlite://${file}`);
    opened.push(first, second);
    const appendOn = (store: StoreBackend, intentId: string) =>
      (store.appendEvents as NonNullable<StoreBackend['appendEvents']>)(
        [event(intentId, 1)],
        writes(intentId),
      );
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => appendOn(index % 2 === 0 ? first : second, `int_two${index}`)),
    );
    expect(answers.every(Boolean)).toBe(true);
    // A connection that waited for the other's lock would block the event loop for the busy timeout (5 s).
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(await second.claim('plain', 'x')).toBe(true);
  });
});

describe("the sqlite store's checkpoints", () => {
  const append = (store: StoreBackend, intentId: string) =>
    (store.appendEvents as NonNullable<StoreBackend['appendEvents']>)(
      [
        {
          key: `ev:${intentId}:1`,
          value: JSON.stringify({ intentId, padding: 'x'.repeat(600) }),
          feed: { intentId, seq: 1, taskId: `tsk_${intentId}`, assignees: ['ann'] },
        },
      ],
      {
        indexAdd: ['list:all', 'list:status:pending', 'list:assignee:ann'].map((index) => ({
          index,
          member: `tsk_${intentId}`,
          score: -Number(intentId.replace(/\D/g, '')),
        })),
        counters: [{ counter: 'count:pending', delta: 1 }],
      },
    );
  const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);

  it('leaves them to a worker thread, which copies the WAL into the file while the store writes', async () => {
    const file = join(directory, 'checkpoints-worker.db');
    const db = openSqliteDatabase(file);
    try {
      // SQLite's own checkpoint, inside a commit, is off on the connection.
      expect(db.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
      db.exec('CREATE TABLE t (v TEXT)');
      walGrew(db);
      for (let row = 0; row < 50; row++) db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(3000));
      const answer = await checkpointNow(db);
      expect(answer).toMatchObject({ ok: true });
      expect(answer.log).toBeGreaterThanOrEqual(50);
      expect(answer.checkpointed).toBe(answer.log);
      // Copied into the database file by the worker's connection, not this one.
      expect(size(file)).toBeGreaterThan(50 * 3000);
    } finally {
      await closeSqliteDatabase(db);
    }
    // This connection closed last: it copied the rest and removed the WAL, as SQLite does.
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('takes an answer that comes after its connection closed, while another connection keeps the file', async () => {
    const file = join(directory, 'checkpoints-closed.db');
    const first = openSqliteDatabase(file);
    const second = openSqliteDatabase(file);
    // Every answer asks for the start-over, which reads the connection's state.
    setCheckpointPacing({ restartFrames: 1 });
    try {
      first.exec('CREATE TABLE t (v TEXT)');
      first.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(3000));
      walGrew(first);
      // The second connection keeps the worker's connection to the file: this close does not wait.
      await closeSqliteDatabase(first);
      expect(first.isOpen).toBe(false);
      // Answers come in order: the first connection's came before this one (it threw on a closed
      // connection, an uncaught error in the process, before the fix).
      second.prepare('INSERT INTO t VALUES (?)').run('y'.repeat(3000));
      expect(await checkpointNow(second)).toMatchObject({ ok: true });
      expect(second.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2 });
    } finally {
      setCheckpointPacing({});
      await closeSqliteDatabase(second);
    }
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('keeps the WAL bounded under steady commits: it starts over from its beginning', async () => {
    const file = join(directory, 'checkpoints-bounded.db');
    const store = await createStore(`sqlite://${file}`);
    opened.push(store);
    const written = { frames: 0 };
    const peak = { wal: 0 };
    // 6,000 commits of 10 pages or so (claims, feed, lists, counters): 60,000 frames, 240 MB, which
    // the WAL would hold all of without a start-over.
    for (let index = 0; index < 6_000; index++) {
      await append(store, `int_${index}`);
      if (index % 100 === 0) peak.wal = Math.max(peak.wal, size(`${file}-wal`));
    }
    const probe = new DatabaseSync(file);
    try {
      probe.exec('PRAGMA busy_timeout = 5000');
      written.frames = Number((probe.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number }).log);
      expect(probe.prepare('SELECT count(*) AS n FROM holdpoint_feed').get()).toEqual({ n: 6_000 });
    } finally {
      probe.close();
    }
    // It starts over once the worker has copied 4,096 frames or more; it grows meanwhile by what is
    // committed between two of the worker's checkpoints (100 ms apart).
    expect(written.frames).toBeLessThan(25_000);
    expect(peak.wal).toBeLessThan(120 * 1024 * 1024);
    await store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('loses no acknowledged write and no page when the process is killed while the worker copies', async () => {
    const file = join(directory, 'checkpoints-crash.db');
    const script = join(directory, 'checkpoints-child.mts');
    const checkpointsUrl = pathToFileURL(
      resolve(import.meta.dirname, '../src/store/sqlite-checkpoints.ts'),
    ).href;
    writeFileSync(
      script,
      `import { createStore } from ${JSON.stringify(createStoreUrl)};
import { setCheckpointPacing } from ${JSON.stringify(checkpointsUrl)};
// Checkpoints as often as they go, and a start-over every 256 pages: the kill lands in one.
setCheckpointPacing({ pauseMs: 0, restartFrames: 256 });
const store = await createStore(${JSON.stringify(`sqlite://${file}`)});
const [from] = process.argv.slice(2).map(Number);
for (let index = from; ; index++) {
  const won = await store.appendEvents(
    [{ key: 'ev:int_' + index + ':1', value: JSON.stringify({ index, padding: 'x'.repeat(600) }),
       feed: { intentId: 'int_' + index, seq: 1, assignees: ['ann'] } }],
    { indexAdd: [{ index: 'list:all', member: 'tsk_' + index, score: -index }],
      counters: [{ counter: 'count:pending', delta: 1 }] },
  );
  if (!won) throw new Error('lost ' + index);
  process.stdout.write(index + '\\n');
}
`,
    );
    let from = 0;
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, String(from)], {
        cwd: resolve(import.meta.dirname, '..'),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      // Killed once it has written a few hundred events past where it started.
      await eventually(() => expect(output.split('\n').length).toBeGreaterThan(400), { timeout: 20_000 });
      child.kill('SIGKILL');
      await new Promise((done) => child.once('exit', done));
      const acknowledged = output
        .split('\n')
        .filter((line) => /^\d+$/.test(line))
        .map(Number);
      const last = Math.max(...acknowledged);
      const check = new DatabaseSync(file);
      try {
        expect(check.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
        const count = Number(
          (check.prepare('SELECT count(*) AS n FROM holdpoint_feed').get() as { n: number }).n,
        );
        // Every event it answered for is there; at most the one in flight when it died is more.
        expect(count).toBeGreaterThanOrEqual(last + 1);
        expect(count).toBeLessThanOrEqual(last + 2);
        expect((check.prepare('SELECT value FROM holdpoint_counters').get() as { value: number }).value).toBe(
          count,
        );
        from = count;
      } finally {
        check.close();
      }
    }
  });
});

describe('the sqlite store on a file from an earlier version', () => {
  it('keeps working on an index table keyed (name, member), as files made by earlier versions have it', async () => {
    const file = join(directory, 'earlier-index.db');
    const db = new DatabaseSync(file);
    db.exec(`CREATE TABLE holdpoint_index (
      name TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (name, member)
    ) WITHOUT ROWID`);
    db.close();
    chmodSync(file, 0o600);
    const store = await createStore(`sqlite://${file}`);
    opened.push(store);
    await store.indexAdd('list', [
      { member: 'b', score: 2 },
      { member: 'a', score: 1 },
    ]);
    await store.indexAdd('other', [{ member: 'a', score: 5 }]);
    await store.indexAdd('list', [{ member: 'a', score: 3 }]);
    expect(await store.indexRange('list', { limit: 10 })).toEqual([
      { member: 'b', score: 2 },
      { member: 'a', score: 3 },
    ]);
    await store.indexRemove('list', ['b']);
    expect(await store.indexRange('list', { limit: 10 })).toEqual([{ member: 'a', score: 3 }]);
    expect(await store.indexRange('other', { limit: 10 })).toEqual([{ member: 'a', score: 5 }]);
    const check = new DatabaseSync(file);
    const { sql } = check.prepare("SELECT sql FROM sqlite_schema WHERE name = 'holdpoint_index'").get() as {
      sql: string;
    };
    check.close();
    expect(sql).toContain('PRIMARY KEY (name, member)');
  });
});

describe('the sqlite store over many open and close cycles', () => {
  it.runIf(process.platform === 'linux')('gives back its file descriptors on close()', async () => {
    const spec = `sqlite://${join(directory, 'cycles.db')}`;
    const openFiles = () => readdirSync('/proc/self/fd').length;
    // One cycle first: whatever is opened once per process (modules, the WAL's shared memory) is not a leak.
    await (await createStore(spec)).close();
    const before = openFiles();
    for (let cycle = 0; cycle < 300; cycle++) {
      const store = await createStore(spec);
      await store.claim(`cycle:${cycle}`, 'x');
      await store.close();
    }
    // Each leaked connection holds the database, its -wal and its -shm: 900 descriptors for 300 cycles.
    expect(openFiles()).toBeLessThan(before + 10);
  });
});
