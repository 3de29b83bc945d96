// The store layer under hostile input and hostile configuration (issue: "retryable errors that are
// not retryable", store URLs, secrets at rest): only what a retry can fix is STORE_UNAVAILABLE; a
// value or a configuration that cannot work is VALIDATION with what to change; URLs are parsed, not
// guessed; the SQLite file that may hold the signing key is private.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createHoldpoint } from '../src/index.js';
import { createStore } from '../src/store/create-store.js';
import { KeyvNodeSqlite } from '../src/store/keyv-node-sqlite.js';
import { postgresRefusal } from '../src/store/refusals.js';
import type { StoreBackend } from '../src/store/store-backend.js';
import { errorOf } from './helpers/refusal.js';
import { postgresUrl, redisUrl, storeCases } from './helpers/stores.js';

const selected = new Set(storeCases.map((storeCase) => storeCase.name));
const directory = mkdtempSync(join(tmpdir(), 'holdpoint-hostile-store-'));
const opened: StoreBackend[] = [];

async function open(spec: string): Promise<StoreBackend> {
  const store = await createStore(spec);
  opened.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Text that does not compress: PostgreSQL would store a repetitive long key in a compressed index row. */
const incompressible = (bytes: number) => randomBytes(bytes).toString('base64').slice(0, bytes);

describe.each(storeCases)('$name store: what a retry cannot fix is not retryable', (storeCase) => {
  it('refuses NUL, lone surrogates and over-long keys, members and values with VALIDATION, and keeps working', async () => {
    await storeCase.ready();
    const store = await open(storeCase.spec());
    const refusals = {
      'claim key with NUL': store.claim('idem:a\u0000b', 'v'),
      'claim key with a lone surrogate': store.claim('idem:Q3 report 🚀'.slice(0, -1), 'v'),
      'claim value with NUL': store.claim('k', 'a\u0000b'),
      'claim value with a lone surrogate': store.claim('k', '\uDC00'),
      'claim key of 2,000 bytes': store.claim(incompressible(2_000), 'v'),
      'read of a NUL key': store.readClaims(['ok', 'a\u0000']),
      'index name with NUL': store.indexAdd('assignee:a\u0000', [{ member: 'm', score: 1 }]),
      'index member of 3,000 bytes': store.indexAdd('tasks', [{ member: incompressible(3_000), score: 1 }]),
      'index member with a lone surrogate': store.indexAdd('tasks', [{ member: '\uD800x', score: 1 }]),
      'range over a NUL index': store.indexRange('a\u0000', { limit: 1 }),
      'removal of a NUL member': store.indexRemove('tasks', ['\u0000']),
      'message with NUL': store.publish('\u0000'),
    };
    for (const [what, call] of Object.entries(refusals)) {
      const error = await errorOf(call);
      expect({ what, code: error.code, retryable: error.retryable }).toEqual({
        what,
        code: 'VALIDATION',
        retryable: false,
      });
    }
    // Nothing was half-written, and the store answers as before.
    expect(await store.readClaims(['k', 'idem:a'])).toEqual([undefined, undefined]);
    expect(await store.claim('k', 'fine')).toBe(true);
    expect(await store.readClaims(['k'])).toEqual(['fine']);
    expect(await store.indexRange('tasks', { limit: 10 })).toEqual([]);
  });
});

describe('configuration a retry cannot fix: VALIDATION saying what to change', () => {
  it('refuses a SQLite URL naming a directory, a device or a file that is not a database', async () => {
    const notADatabase = join(directory, 'notes.txt');
    writeFileSync(notADatabase, 'these are not pages of a database '.repeat(200), { mode: 0o600 });
    const cases: Array<[string, RegExp]> = [
      [`sqlite://${directory}`, /is a directory; name a database file in it/],
      ['sqlite:///dev/null', /not a regular file/],
      [`sqlite://${notADatabase}`, /not a SQLite database/],
    ];
    for (const [spec, message] of cases) {
      const error = await errorOf(createStore(spec));
      expect(error).toMatchObject({ code: 'VALIDATION', retryable: false, field: 'store' });
      expect(error.message).toMatch(message);
    }
  });

  it.runIf(selected.has('postgres'))(
    'refuses a PostgreSQL database that does not exist, and a role that does not',
    async () => {
      const missing = new URL(postgresUrl);
      missing.pathname = `/holdpoint_missing_${randomBytes(4).toString('hex')}`;
      const error = await errorOf(createStore(missing.toString()));
      expect(error).toMatchObject({ code: 'VALIDATION', retryable: false });
      expect(error.message).toMatch(/does not exist.*createdb/s);
      const stranger = new URL(postgresUrl);
      stranger.username = `nobody_${randomBytes(4).toString('hex')}`;
      expect(await errorOf(createStore(stranger.toString()))).toMatchObject({
        code: 'VALIDATION',
        retryable: false,
      });
    },
  );

  it.runIf(selected.has('postgres'))(
    'classifies what PostgreSQL itself refuses: NUL in text, an index row too large',
    async () => {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        await client.query(
          'CREATE TEMP TABLE t (name text, member text COLLATE "C", PRIMARY KEY (name, member))',
        );
        for (const [value, code] of [
          ['a\u0000b', '22021'],
          [incompressible(3_000), '54000'],
        ] as const) {
          const raw = await client.query('INSERT INTO t VALUES ($1, $1)', [value]).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(raw).toMatchObject({ code });
          expect(postgresRefusal(raw)).toMatchObject({ code: 'VALIDATION', retryable: false });
        }
        // A dropped connection is not refused: it stays retryable.
        expect(
          postgresRefusal(Object.assign(new Error('Connection terminated unexpectedly'), {})),
        ).toBeUndefined();
        expect(
          postgresRefusal(Object.assign(new Error('too many connections'), { code: '53300' })),
        ).toBeUndefined();
      } finally {
        await client.end();
      }
    },
  );

  it.runIf(selected.has('redis'))(
    'refuses a Redis database index the server does not have, and a wrong password',
    async () => {
      const database = new URL(redisUrl);
      database.pathname = '/99';
      const error = await errorOf(createStore(database.toString()));
      expect(error).toMatchObject({ code: 'VALIDATION', retryable: false });
      expect(error.message).toMatch(/Name a database the server has/);
      const password = new URL(redisUrl);
      password.password = 'wrong';
      expect(await errorOf(createStore(password.toString()))).toMatchObject({
        code: 'VALIDATION',
        retryable: false,
      });
    },
  );

  it('keeps what a retry can fix retryable: an unreachable server', async () => {
    const error = await errorOf(createStore('redis://127.0.0.1:1'));
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
  });
});

describe('store URLs are parsed, not guessed', () => {
  it('refuses bad percent-encoding, unknown parameters, fragments and a parameter given twice', async () => {
    const cases: Array<[string, RegExp]> = [
      ['memory://%E0%A4%A', /not valid percent-encoding/],
      [
        `sqlite://${join(directory, 'x.db')}?mode=ro`,
        /"mode" is not one it understands: .* takes no parameters/,
      ],
      [`sqlite://${join(directory, 'x.db')}#main`, /fragment/],
      ['memory://name?shared=1', /"shared"/],
      [`sqlite://${join(directory, 'a%00.db')}`, /NUL/],
      ['redis://127.0.0.1:6379?prefx=app', /"prefx" is not one it understands: .* takes only \?prefix=/],
      ['redis://127.0.0.1:6379?prefix=a&prefix=b', /given twice/],
      ['redis://127.0.0.1:6379?prefix=', /empty/],
      ['postgres://postgres@127.0.0.1/test?schema=app&shema=typo', /"shema"/],
    ];
    for (const [spec, message] of cases) {
      const error = await errorOf(createStore(spec));
      expect({ spec, code: error.code }).toEqual({ spec, code: 'VALIDATION' });
      expect(error.message).toMatch(message);
    }
    // Nothing was created under a name with the query in it.
    expect(readdirSync(directory).filter((name) => name.includes('?') || name.includes('#'))).toEqual([]);
  });

  it('decodes the path of a sqlite:// URL, so a name with ? or # is written %3F or %23', async () => {
    const store = await open(`sqlite://${join(directory, 'q%3Fa%23b.db')}`);
    expect(await store.claim('k', 'v')).toBe(true);
    expect(existsSync(join(directory, 'q?a#b.db'))).toBe(true);
  });

  it.runIf(selected.has('postgres'))(
    'passes the connection parameters pg understands through to it',
    async () => {
      const url = new URL(postgresUrl);
      url.searchParams.set('schema', `hp_params_${randomBytes(4).toString('hex')}`);
      url.searchParams.set('application_name', 'holdpoint-test');
      const store = await open(url.toString());
      expect(await store.claim('k', 'v')).toBe(true);
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA ${url.searchParams.get('schema')} CASCADE`);
      } finally {
        await client.end();
      }
    },
  );
});

describe('secrets at rest: the SQLite file is private', () => {
  const modeOf = (path: string) => statSync(path).mode & 0o777;

  it('creates the directory 0700 and the database, -wal and -shm 0600, with the signing key inside', async () => {
    const root = join(directory, `private-${randomBytes(3).toString('hex')}`);
    const file = join(root, '.holdpoint', 'holdpoint.db');
    const hp = await createHoldpoint({ store: `sqlite://${file}`, timers: false });
    try {
      const intent = await hp.submit({ type: 'x' });
      await hp.audit.export(intent.id); // generates the signing key and stores it in the file
      expect(modeOf(join(root, '.holdpoint'))).toBe(0o700);
      for (const path of [file, `${file}-wal`, `${file}-shm`]) {
        expect({ path, mode: modeOf(path).toString(8) }).toEqual({ path, mode: '600' });
      }
    } finally {
      await hp.close();
    }
  });

  it('refuses an existing database file, or its -wal, that other users can read, saying how to fix it', async () => {
    const file = join(directory, `shared-${randomBytes(3).toString('hex')}.db`);
    const first = await open(`sqlite://${file}`);
    await first.claim('audit:signing-key', 'secret');
    await first.close();
    chmodSync(file, 0o644);
    const error = await errorOf(createStore(`sqlite://${file}`));
    expect(error).toMatchObject({ code: 'VALIDATION', retryable: false });
    expect(error.message).toContain(`chmod 600 "${file}"`);
    expect(error.message).toMatch(/mode 0644/);
    // KeyvNodeSqlite opens files the same way.
    expect(() => new KeyvNodeSqlite(`sqlite://${file}`)).toThrow(/can be read or written by other users/);
    chmodSync(file, 0o600);
    // The write-ahead log holds recent commits until a checkpoint: loosened, not replaced.
    if (!existsSync(`${file}-wal`)) writeFileSync(`${file}-wal`, '', { mode: 0o600 });
    chmodSync(`${file}-wal`, 0o640);
    expect((await errorOf(createStore(`sqlite://${file}`))).message).toContain(`${file}-wal`);
    chmodSync(`${file}-wal`, 0o600);
    expect(await (await open(`sqlite://${file}`)).readClaims(['audit:signing-key'])).toEqual(['secret']);
  });

  it('leaves an existing directory as it is', async () => {
    const shared = join(directory, `existing-${randomBytes(3).toString('hex')}`);
    mkdirSync(shared, { mode: 0o755 });
    chmodSync(shared, 0o755);
    await open(`sqlite://${join(shared, 'store.db')}`);
    expect(modeOf(shared)).toBe(0o755);
    expect(modeOf(join(shared, 'store.db'))).toBe(0o600);
  });
});
