// The real clock for resynchronising, even under a test's fake timers: it is plumbing, not logic time.
import { clearInterval, setInterval } from 'node:timers';
import type { StoreBackend } from '../store/store-backend.js';

/** The clock an engine takes deadlines, lease expiry and audit times from. */
export interface EngineClock {
  /** Now, in ms since the epoch. */
  readonly now: () => number;
  /** How far this host's clock is behind the store's, in ms (0 when within what can be measured). */
  readonly offsetMs: () => number;
  /** Read the store's clock again now (done every {@link clockResyncMs} in the background). */
  resync(): Promise<void>;
  /** Stop resynchronising. */
  close(): void;
}

/** How often an engine reads the store's clock again (host clocks drift and get stepped). */
export const clockResyncMs = 60_000;
/** Samples per reading: the one with the shortest round trip is kept. */
const samples = 3;
/** A skew at least this large is reported through `onError` when first seen and when it changes by as much again. */
export const reportedSkewMs = 1_000;

/** This process's clock: for the memory store, and for `clock: 'local'` (tests that fake time). */
export function localClock(): EngineClock {
  return { now: () => Date.now(), offsetMs: () => 0, resync: async () => {}, close: () => {} };
}

/** One reading of the store's clock against this host's: the offset, and how exact it is. */
async function readOffset(store: StoreBackend): Promise<{ offset: number; uncertainty: number }> {
  const readClock = store.readClock?.bind(store);
  if (!readClock) return { offset: 0, uncertainty: 0 };
  let best: { offset: number; uncertainty: number } | undefined;
  for (let sample = 0; sample < samples; sample++) {
    const before = Date.now();
    const storeNow = await readClock();
    const after = Date.now();
    if (!Number.isFinite(storeNow)) throw new Error(`the ${store.kind} store's clock read ${storeNow}`);
    // The store read its clock somewhere between `before` and `after`; both are whole ms.
    const uncertainty = (after - before) / 2 + 1;
    const offset = storeNow - (before + after) / 2;
    if (!best || uncertainty < best.uncertainty) best = { offset, uncertainty };
  }
  return best as { offset: number; uncertainty: number };
}

/** An offset no larger than the reading's own error is no offset: this host keeps its exact clock. */
function settledOffset(reading: { offset: number; uncertainty: number }): number {
  return Math.abs(reading.offset) <= reading.uncertainty ? 0 : Math.round(reading.offset);
}

function skewMessage(offsetMs: number, kind: string): string {
  const seconds = (Math.abs(offsetMs) / 1000).toFixed(1);
  return `this host's clock is ${seconds} s ${offsetMs > 0 ? 'behind' : 'ahead of'} the ${kind} store's; Holdpoint takes deadlines, leases and audit times from the store's clock, so nothing fires early or late, but fix this host's time sync (NTP)`;
}

/** The error reported when an engine's host clock is off the store's by a second or more. */
export class ClockSkewWarning extends Error {
  override readonly name = 'ClockSkewWarning';
  constructor(
    readonly offsetMs: number,
    kind: string,
  ) {
    super(skewMessage(offsetMs, kind));
  }
}

/**
 * The store's clock, as this host's clock plus a measured offset: every engine on the store then
 * agrees on when a deadline falls due, whatever its host's clock says. Read once before the engine
 * starts (a store that cannot answer fails the start) and again every minute in the background.
 */
export async function storeClock(
  store: StoreBackend,
  onError: (error: unknown) => void,
): Promise<EngineClock> {
  let offset = settledOffset(await readOffset(store));
  let reported = 0;
  const report = () => {
    if (Math.abs(offset) < reportedSkewMs || Math.abs(offset - reported) < reportedSkewMs) return;
    reported = offset;
    onError(new ClockSkewWarning(offset, store.kind));
  };
  report();
  const resync = async () => {
    offset = settledOffset(await readOffset(store));
    report();
  };
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    resync()
      // A store that does not answer now keeps the last offset; the engine's own calls report the outage.
      .catch(() => {})
      .finally(() => {
        reading = false;
      });
  }, clockResyncMs);
  timer.unref();
  return {
    now: () => Date.now() + offset,
    offsetMs: () => offset,
    resync,
    close: () => clearInterval(timer),
  };
}
