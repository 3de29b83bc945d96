import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-store.js';
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
