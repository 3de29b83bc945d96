import type { KeyObject } from 'node:crypto';
import { type AuditEvent, hashEvent } from './audit-event.js';
import { type SigningKey, signText, verifyText } from './signing.js';

/** The last line of an export: an Ed25519 signature over the chain head. */
export interface AuditSignature {
  type: 'signature';
  alg: 'Ed25519';
  intentId: string;
  /** `seq` of the last event. */
  seq: number;
  /** `hash` of the last event. */
  head: string;
  /** SPKI PEM of the key that signed. Verify against a key you trust, not only this one. */
  publicKey: string;
  signature: string;
}

/** What {@link verifyAudit} found. */
export type AuditVerification =
  | { ok: true; intentId: string; events: number; head: string }
  | { ok: false; seq: number; reason: string };

function signedMessage(intentId: string, seq: number, head: string): string {
  return `holdpoint-audit-v1\n${intentId}\n${seq}\n${head}`;
}

/** JSONL: one event per line in `seq` order, then the signature line. */
export function exportAudit(intentId: string, events: readonly AuditEvent[], key: SigningKey): string {
  const last = events.at(-1);
  const seq = last?.seq ?? 0;
  const head = last?.hash ?? '';
  const signature: AuditSignature = {
    type: 'signature',
    alg: 'Ed25519',
    intentId,
    seq,
    head,
    publicKey: key.publicKeyPem,
    signature: signText(key, signedMessage(intentId, seq, head)),
  };
  return `${[...events, signature].map((line) => JSON.stringify(line)).join('\n')}\n`;
}

/**
 * Check an export offline: every line parses, `seq` counts up from 1, every `prevHash` links to the
 * previous `hash`, every `hash` matches its event, and the signature covers the last event.
 * Changing any byte of any event is caught and the first broken `seq` is named.
 * @param options.publicKey the key you trust (SPKI PEM or KeyObject); without it the key in the
 *   export is used, which proves the chain is intact but not who signed it.
 */
export function verifyAudit(
  jsonl: string,
  options: { publicKey?: string | KeyObject } = {},
): AuditVerification {
  const lines = jsonl.split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) return { ok: false, seq: 0, reason: 'the export is empty: no signature line' };
  let previous: AuditEvent | undefined;
  let intentId: string | undefined;
  for (let index = 0; index < lines.length - 1; index++) {
    const expectedSeq = index + 1;
    let event: AuditEvent;
    try {
      event = JSON.parse(lines[index] as string) as AuditEvent;
    } catch {
      return { ok: false, seq: expectedSeq, reason: `line ${index + 1} is not valid JSON` };
    }
    if (typeof event !== 'object' || event === null) {
      return { ok: false, seq: expectedSeq, reason: `line ${index + 1} is not an event` };
    }
    if (event.seq !== expectedSeq) {
      return {
        ok: false,
        seq: expectedSeq,
        reason: `expected seq ${expectedSeq}, found ${String(event.seq)}`,
      };
    }
    intentId ??= event.intentId;
    if (event.intentId !== intentId) {
      return {
        ok: false,
        seq: expectedSeq,
        reason: `event belongs to intent ${String(event.intentId)}, not ${intentId}`,
      };
    }
    const expectedPrev = previous?.hash ?? null;
    if (event.prevHash !== expectedPrev) {
      return { ok: false, seq: expectedSeq, reason: 'prevHash does not match the previous event' };
    }
    if (hashEvent(event) !== event.hash) {
      return { ok: false, seq: expectedSeq, reason: 'hash does not match the event: it was changed' };
    }
    previous = event;
  }
  let signature: AuditSignature;
  try {
    signature = JSON.parse(lines.at(-1) as string) as AuditSignature;
  } catch {
    return { ok: false, seq: lines.length, reason: 'the signature line is not valid JSON' };
  }
  const signatureSeq = previous?.seq ?? 0;
  if (signature?.type !== 'signature' || signature.alg !== 'Ed25519') {
    return { ok: false, seq: signatureSeq + 1, reason: 'the last line is not an Ed25519 signature line' };
  }
  if (signature.seq !== signatureSeq || signature.head !== (previous?.hash ?? '')) {
    return {
      ok: false,
      seq: signatureSeq,
      reason: 'the signature does not cover the last event (events added or removed)',
    };
  }
  if (previous && signature.intentId !== intentId) {
    return { ok: false, seq: signatureSeq, reason: 'the signature names another intent' };
  }
  let valid = false;
  try {
    valid = verifyText(
      options.publicKey ?? signature.publicKey,
      signedMessage(signature.intentId, signature.seq, signature.head),
      signature.signature,
    );
  } catch (error) {
    return {
      ok: false,
      seq: signatureSeq,
      reason: `the signature could not be checked: ${(error as Error).message}`,
    };
  }
  if (!valid)
    return { ok: false, seq: signatureSeq, reason: 'the signature does not match the chain head or the key' };
  return { ok: true, intentId: signature.intentId, events: signatureSeq, head: signature.head };
}
