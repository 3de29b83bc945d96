import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, type StoreBackend } from '@holdpoint/core';
import {
  deleteRedisPrefixes,
  dropPostgresSchemas,
  type StoreName,
  selectedStores,
  testPostgresUrl,
  testRedisUrl,
  unreachableReason,
} from '@holdpoint/test-services';

/** A fresh name for a prefix or schema of this run. */
export function unique(): string {
  return `${process.pid}_${randomBytes(5).toString('hex')}`;
}

/**
 * Stores of one kind for a suite: each `open()` is a fresh, empty store (a new prefix in one SQLite
 * file, Redis or one PostgreSQL schema); `cleanup()` deletes what the suite wrote.
 */
export interface StoreSource {
  name: StoreName;
  /** The URL of a fresh store (open it twice for two engines on one store). */
  url(): string;
  open(): Promise<StoreBackend>;
  /** Fails saying what to start when the service does not answer. */
  ready(): Promise<void>;
  cleanup(): Promise<void>;
}

function source(name: StoreName): StoreSource {
  let directory: string | undefined;
  const schema = `hp_lg_${unique()}`;
  // One stem for every prefix of this source: clean-up is one scan of Redis, not one per prefix.
  const stem = `hp-lg-${unique()}`;
  let count = 0;
  const url = (): string => {
    count += 1;
    const prefix = `${stem}-${count}`;
    switch (name) {
      case 'memory':
        return `memory://${prefix}`;
      case 'sqlite':
        directory ??= mkdtempSync(join(tmpdir(), 'holdpoint-langgraph-'));
        return `sqlite://${join(directory, `${prefix}.db`)}`;
      case 'redis': {
        const parsed = new URL(testRedisUrl);
        parsed.searchParams.set('prefix', prefix);
        return parsed.toString();
      }
      case 'postgres': {
        const parsed = new URL(testPostgresUrl);
        parsed.searchParams.set('schema', schema);
        parsed.searchParams.set('prefix', prefix.replaceAll('-', '_'));
        return parsed.toString();
      }
    }
  };
  return {
    name,
    url,
    open: () => createStore(url()),
    ready: async () => {
      if (name !== 'redis' && name !== 'postgres') return;
      const reason = await unreachableReason(name, name === 'redis' ? testRedisUrl : testPostgresUrl);
      if (reason !== undefined) {
        throw new Error(
          `${name} is unreachable (${reason}): start it, or set HOLDPOINT_TEST_STORES=memory,sqlite to leave it out.`,
        );
      }
    },
    cleanup: async () => {
      if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
      directory = undefined;
      // `${stem}-*` is a pattern: the helper scans for `<prefix>:*`.
      if (name === 'redis' && count > 0)
        await deleteRedisPrefixes(testRedisUrl, [`${stem}-*`]).catch(() => {});
      if (name === 'postgres') await dropPostgresSchemas(testPostgresUrl, [schema]).catch(() => {});
    },
  };
}

/** The selected stores (`HOLDPOINT_TEST_STORES`, default all four), as sources. */
export function storeSources(only?: StoreName[]): StoreSource[] {
  return selectedStores()
    .filter((name) => only === undefined || only.includes(name))
    .map(source);
}
