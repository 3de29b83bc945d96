import type { KeyObject } from 'node:crypto';
import type Keyv from 'keyv';
import { z } from 'zod';
import { signingKeyFrom } from './audit/signing.js';
import { type Duration, durationWithin, parseDuration } from './duration.js';
import { HoldpointEngine } from './engine/engine.js';
import { parseWith } from './engine/options.js';
import type { NotifyHook } from './engine/outbox.js';
import { type EngineClock, localClock, storeClock } from './engine/store-clock.js';
import { ValidationError } from './errors/validation-error.js';
import type { Holdpoint } from './holdpoint.js';
import { createStore } from './store/create-store.js';
import type { StoreBackend } from './store/store-backend.js';

/** Options of {@link createHoldpoint}. */
export interface HoldpointOptions {
  /**
   * Where state lives: `'sqlite://./path.db'` (a file, no server), `'memory://'`, `'redis://host:6379'`,
   * `'postgres://…'`, a Keyv instance over one of those, or a store backend.
   * @default 'sqlite://./.holdpoint/holdpoint.db'
   */
  store?: string | Keyv | StoreBackend;
  /**
   * The delivery hook: called once per task event (created, reminded, escalated, decided, timed out,
   * canceled) across all engines on the store. Keep it quick — hand off to a queue or an outbox.
   * Events recorded by engines without a hook are delivered by an engine with one.
   */
  notify?: NotifyHook;
  /** Ed25519 private key (PKCS#8 PEM or KeyObject) that signs audit exports. @default generated on first use and kept in the store */
  auditKey?: string | KeyObject;
  /** Safety-net poll under the store's wake-ups, for waiters and timers. @default '5s' */
  pollInterval?: Duration;
  /** Whether this engine fires due timers (reminders, escalations, timeouts) and drains the outbox. @default true */
  timers?: boolean;
  /** How long a notification recorded by an engine with a hook waits before another engine delivers it in its place. @default '30s' */
  outboxGrace?: Duration;
  /** Errors of background work that has no caller to throw to (timers, deliveries). @default console.error */
  onError?: (error: unknown) => void;
  /**
   * Which clock deadlines, leases and audit times are taken from. `'store'`: the store's clock
   * (Redis `TIME`, PostgreSQL `clock_timestamp()`, the SQLite file's host), read at start and every
   * minute, so engines on hosts whose clocks disagree still fire each deadline on time; a host off
   * by a second or more is reported through `onError`. `'local'`: this process's `Date.now()` — for
   * tests that fake time (`vi.useFakeTimers`), where the store's clock would not move. The memory
   * store always uses the process's clock.
   * @default 'store'
   */
  clock?: 'store' | 'local';
}

const optionsSchema = z
  .object({
    store: z.unknown().optional(),
    notify: z.function().optional(),
    auditKey: z.unknown().optional(),
    pollInterval: z.union([z.number(), z.string()]).optional(),
    timers: z.boolean().optional(),
    outboxGrace: z.union([z.number(), z.string()]).optional(),
    onError: z.function().optional(),
    clock: z.enum(['store', 'local']).optional(),
  })
  .strict();

/** The default store: a SQLite file in the working directory. */
export const defaultStore = 'sqlite://./.holdpoint/holdpoint.db';

/**
 * Create a Holdpoint engine.
 *
 * @example
 * const hp = await createHoldpoint({ store: 'sqlite://./.holdpoint/holdpoint.db' });
 * const result = await hp.waitForHuman({ task: 'approval', assignee: 'cfo@acme.test', timeout: '48h' });
 */
export async function createHoldpoint(options: HoldpointOptions = {}): Promise<Holdpoint> {
  const parsed = parseWith(optionsSchema, options, 'createHoldpoint');
  const pollIntervalMs = durationSetting(parsed.pollInterval, 5_000, 'createHoldpoint.pollInterval');
  if (pollIntervalMs < 10 || pollIntervalMs > 86_400_000) {
    throw new ValidationError({
      field: 'createHoldpoint.pollInterval',
      message: `createHoldpoint.pollInterval must be from '10ms' to '24h', got ${JSON.stringify(parsed.pollInterval)}`,
    });
  }
  const outboxGraceMs =
    parsed.outboxGrace === undefined
      ? 30_000
      : durationWithin(parsed.outboxGrace, 'createHoldpoint.outboxGrace', 0, 86_400_000);
  // A key that cannot sign is refused now, not at the first export.
  const auditKey =
    options.auditKey === undefined ? undefined : signingKeyFrom(options.auditKey, 'createHoldpoint.auditKey');
  const spec = options.store ?? defaultStore;
  const store = await createStore(spec);
  // A backend the caller built stays theirs to close; one opened here from a URL or a Keyv is ours
  // (closing it leaves a Keyv's own connection open).
  const ownsStore = store !== spec;
  const onError = options.onError ?? ((error: unknown) => console.error('[holdpoint]', error));
  let clock: EngineClock;
  try {
    clock = parsed.clock === 'local' ? localClock() : await storeClock(store, onError);
  } catch (error) {
    if (ownsStore) await store.close();
    throw error;
  }
  if (parsed.clock !== 'local') store.useClock?.(clock.now);
  const engine = new HoldpointEngine(store, ownsStore, {
    pollIntervalMs,
    runTimers: parsed.timers ?? true,
    outboxGraceMs,
    ...(options.notify ? { notify: options.notify } : {}),
    ...(auditKey === undefined ? {} : { auditKey: auditKey.privateKey }),
    onError,
    now: clock.now,
    closeClock: () => clock.close(),
  });
  try {
    await engine.start();
  } catch (error) {
    await engine.close();
    throw error;
  }
  return engine;
}

/** A duration option in ms, or the fallback when it is absent. */
function durationSetting(value: Duration | undefined, fallback: number, field: string): number {
  return value === undefined ? fallback : parseDuration(value, field);
}
