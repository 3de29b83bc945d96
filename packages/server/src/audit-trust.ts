// Until the engine's AuditVerification says whether the signer is trusted (the hostile-input issue
// adds that), the comparison of an export's signer with the trusted key is made here, in one place.
import { createHash, createPublicKey } from 'node:crypto';
import { verifyAudit } from '@holdpoint/core';

/** `sha256:` and the hex SHA-256 of the key's SPKI DER: the same for the PEM and any re-encoding of it. */
export function fingerprintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** The key an export says signed it, or `undefined` when its last line names none. */
function signerKeyOf(jsonl: string): string | undefined {
  const lines = jsonl.trimEnd().split('\n');
  try {
    const last = JSON.parse(lines.at(-1) ?? '') as { type?: unknown; publicKey?: unknown };
    if (last?.type !== 'signature' || typeof last.publicKey !== 'string') return undefined;
    fingerprintOf(last.publicKey);
    return last.publicKey;
  } catch {
    return undefined;
  }
}

/** What {@link verifyTrusted} found. */
export interface TrustedVerification {
  /** The chain is intact, and signed by the trusted key. */
  ok: boolean;
  intentId?: string;
  events?: number;
  head?: string;
  /** When not ok: the first event that does not check out (0 for the export as a whole). */
  seq?: number;
  reason?: string;
  /** Who signed the export, and whether that is the trusted key. */
  signer?: { publicKey: string; fingerprint: string; trusted: boolean };
}

/**
 * Check an export: the chain and its signature (with the key the export names), then whether that
 * key is the trusted one. A trail re-signed with another key is never ok.
 */
export function verifyTrusted(jsonl: string, trustedPublicKeyPem: string): TrustedVerification {
  const result = verifyAudit(jsonl);
  const signerKey = signerKeyOf(jsonl);
  const signer =
    signerKey === undefined
      ? undefined
      : {
          publicKey: signerKey,
          fingerprint: fingerprintOf(signerKey),
          trusted: fingerprintOf(signerKey) === fingerprintOf(trustedPublicKeyPem),
        };
  const withSigner = signer === undefined ? {} : { signer };
  if (!result.ok) return { ok: false, seq: result.seq, reason: result.reason, ...withSigner };
  const facts = { intentId: result.intentId, events: result.events, head: result.head, ...withSigner };
  if (!signer?.trusted) {
    return {
      ok: false,
      seq: 0,
      reason: `the chain is intact but signed by ${signer?.fingerprint ?? 'an unknown key'}, not by the trusted key ${fingerprintOf(trustedPublicKeyPem)}`,
      ...facts,
    };
  }
  return { ok: true, ...facts };
}
