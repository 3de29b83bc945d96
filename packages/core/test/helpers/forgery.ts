import { type AuditEvent, hashEvent } from '../../src/audit/audit-event.js';

/** What a forger with write access does after changing an event: recompute every link and hash. */
export function rehash(events: readonly AuditEvent[]): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const event of events) {
    const linked = { ...event, prevHash: out.at(-1)?.hash ?? null };
    out.push({ ...linked, hash: hashEvent(linked) });
  }
  return out;
}
