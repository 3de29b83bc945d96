import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import { ValidationError } from '../errors/validation-error.js';
import { type AuditEvent, chainEndingEvents, hashEvent } from './audit-event.js';
import { ed25519PublicKey, fingerprintOf, type SigningKey, signText, verifyText } from './signing.js';

/** The format of an export, named in its signature line. */
export const auditFormat = 'holdpoint-audit/2';

/**
 * The last line of an export. `signature` is the Ed25519 signature of the canonical JSON of every
 * other field of the line, so nothing in the line is unsigned.
 */
export interface AuditSignature {
  type: 'signature';
  format: typeof auditFormat;
  alg: 'Ed25519';
  intentId: string;
  /** `seq` of the last event: how many events the export has. */
  seq: number;
  /** `hash` of the last event. */
  head: string;
  /** When the export was signed (ISO): a later export of the same intent may have more events. */
  signedAt: string;
  /** SPKI PEM of the key that signed. Whether to trust it is yours to say (`trustedKeys`). */
  publicKey: string;
  signature: string;
}

const signatureFields = [
  'alg',
  'format',
  'head',
  'intentId',
  'publicKey',
  'seq',
  'signature',
  'signedAt',
  'type',
] as const;

/** What {@link verifyAudit} found: the export is intact as signed, or the first thing that is not. */
export type AuditVerification = AuditVerified | AuditRejected;

/** An export whose every event, link and signature checks out. */
export interface AuditVerified {
  ok: true;
  intentId: string;
  /** How many events the export has (`seq` 1 to `events`). */
  events: number;
  /** `hash` of the last event. */
  head: string;
  /** When the export was signed. */
  signedAt: string;
  /**
   * The last event ends the intent (completed, failed, canceled, timed out): no event can follow it,
   * so the export is the whole chain. When false, later events may exist — ask an engine that holds
   * the intent (`audit.verify` reports `chainEvents`), or compare `signedAt`.
   */
  final: boolean;
  /** Fingerprint of the key that signed (`ed25519:…`, see `auditKeyFingerprint`). */
  signer: string;
  /**
   * Whether the signer is one of the trusted keys. Without trusted keys this is false: the export is
   * intact as signed, but anyone can sign a chain they wrote with a key of their own.
   */
  trusted: boolean;
  /** `audit.verify` on an engine that holds the intent: how many events its chain has. */
  chainEvents?: number;
}

/** An export that does not verify, and why. */
export interface AuditRejected {
  ok: false;
  /**
   * The first event that was changed, removed, added or reordered, when one can be named. Absent
   * when only the signature fails: a chain whose events were changed and re-hashed throughout
   * links up, and only the head's signature shows it.
   */
  seq?: number;
  reason: string;
  /** Fingerprint of the key named in the signature line, when it could be read. */
  signer?: string;
  /** Whether that key is trusted, when it could be read. */
  trusted?: boolean;
  /** `audit.verify` on an engine that holds the intent: how many events its chain has. */
  chainEvents?: number;
}

/** Options of {@link verifyAudit} and `audit.verify`. */
export interface VerifyOptions {
  /**
   * Keys whose signature you trust: SPKI PEM public keys, PKCS#8 PEM private keys or KeyObjects.
   * An export signed by any other key is refused (`ok: false`, `trusted: false`).
   */
  trustedKeys?: ReadonlyArray<string | KeyObject>;
  /** One trusted key: the same as `trustedKeys: [publicKey]`. */
  publicKey?: string | KeyObject;
}

/** The text the signature covers: the canonical JSON of the signature line without `signature`. */
function signedText(line: Omit<AuditSignature, 'signature'>): string {
  return canonicalJson(line);
}

/**
 * JSONL: the canonical JSON of each event on its own line in `seq` order, then the signature line,
 * each line ending in `\n`.
 */
export function exportAudit(
  intentId: string,
  events: readonly AuditEvent[],
  key: SigningKey,
  signedAt: string = new Date().toISOString(),
): string {
  const last = events.at(-1);
  const unsigned: Omit<AuditSignature, 'signature'> = {
    type: 'signature',
    format: auditFormat,
    alg: 'Ed25519',
    intentId,
    seq: last?.seq ?? 0,
    head: last?.hash ?? '',
    signedAt,
    publicKey: key.publicKeyPem,
  };
  const signature: AuditSignature = { ...unsigned, signature: signText(key, signedText(unsigned)) };
  return `${[...events.map((event) => canonicalJson(event)), canonicalJson(signature)].join('\n')}\n`;
}

/**
 * The fingerprint of an audit signing key, as `verifyAudit` reports the signer: `ed25519:` and the
 * base64url SHA-256 of the public key (SPKI DER). Takes a public or a private key (PEM or KeyObject).
 * @throws ValidationError when it is not an Ed25519 key.
 * @example
 * const trusted = auditKeyFingerprint(process.env.HOLDPOINT_AUDIT_PUBLIC_KEY);
 * if (result.ok && result.signer === trusted) { … }
 */
export function auditKeyFingerprint(key: string | KeyObject): string {
  const publicKey = ed25519PublicKey(key);
  if (!publicKey) {
    throw new ValidationError({
      field: 'key',
      message: 'auditKeyFingerprint: give an Ed25519 key (SPKI or PKCS#8 PEM, or a KeyObject)',
    });
  }
  return fingerprintOf(publicKey);
}

function trustedFingerprints(options: VerifyOptions, where: string): Set<string> | undefined {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError({ field: where, message: `${where}: options must be an object` });
  }
  const given = [
    ...(options.publicKey === undefined ? [] : [options.publicKey]),
    ...(options.trustedKeys === undefined
      ? []
      : Array.isArray(options.trustedKeys)
        ? options.trustedKeys
        : [Symbol('not an array')]),
  ];
  if (given.length === 0) return undefined;
  return new Set(
    given.map((key, index) => {
      const publicKey = ed25519PublicKey(key);
      if (!publicKey) {
        throw new ValidationError({
          field: `${where}.trustedKeys.${index}`,
          message: `${where}: trusted key ${index + 1} is not an Ed25519 key (give SPKI or PKCS#8 PEM, or a KeyObject)`,
        });
      }
      return fingerprintOf(publicKey);
    }),
  );
}

/** A line parsed as a JSON object, if it is exactly the canonical JSON of that object. */
function canonicalObject(line: string): { value?: Record<string, unknown>; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { problem: 'is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problem: 'is not a JSON object' };
  }
  // The same text for the same value and no other: a key given twice (which readers resolve
  // differently), keys out of order, spaces or another spelling of a number or string all fail.
  let canonical: string;
  try {
    canonical = canonicalJson(value);
  } catch {
    return { problem: 'cannot be written as canonical JSON' };
  }
  if (canonical !== line) {
    return {
      problem:
        'is not the canonical JSON of its content (a key given twice, keys out of order, added spaces, or another spelling of a value)',
    };
  }
  return { value: value as Record<string, unknown> };
}

/**
 * Check an export offline: every line is the canonical JSON of its content, `seq` counts up from 1,
 * every `prevHash` links to the previous `hash`, every `hash` matches its event, and the signature
 * line — every field of it — is signed by the key it names over the last event's hash.
 *
 * `ok: true` says the export is intact as signed; `trusted` says whether you trust who signed it.
 * Give the keys you trust (`trustedKeys`, the public key of your `auditKey`): then an export signed
 * by any other key is refused. Without them, anyone who rewrites a chain and signs it with a key of
 * their own gets `ok: true` with `trusted: false` — show such a result as unverified.
 *
 * An export is a chain up to the moment it was signed (`signedAt`); `final` says the intent had
 * ended by then, so no event can be missing at the end. An engine that holds the intent also says
 * how many events its chain has now (`audit.verify`).
 *
 * @throws ValidationError when `jsonl` is not a string or a trusted key is not an Ed25519 key.
 * @example
 * const result = verifyAudit(jsonl, { trustedKeys: [auditPublicKeyPem] });
 * if (!result.ok) console.error(`audit trail broken${result.seq ? ` at event ${result.seq}` : ''}: ${result.reason}`);
 */
export function verifyAudit(jsonl: string, options: VerifyOptions = {}): AuditVerification {
  if (typeof jsonl !== 'string') {
    throw new ValidationError({
      field: 'verifyAudit.jsonl',
      message: `verifyAudit: give the JSONL text of an audit export, got ${jsonl === null ? 'null' : typeof jsonl}`,
    });
  }
  const trusted = trustedFingerprints(options, 'verifyAudit');
  // One line per event and the signature line, each ending in "\n" (a missing last "\n" is forgiven:
  // copying text often drops it).
  const body = jsonl.endsWith('\n') ? jsonl.slice(0, -1) : jsonl;
  if (body === '') return { ok: false, reason: 'the export is empty' };
  if (body.includes('\r')) {
    return {
      ok: false,
      reason: 'the export has \\r in it (Windows line endings?): its lines end in \\n alone',
    };
  }
  const lines = body.split('\n');
  if (lines.length < 2) return { ok: false, reason: 'the export has no events, or no signature line' };

  // The signature line is read first only to name the signer in every result; it is checked last.
  const signatureLine = canonicalObject(lines.at(-1) as string).value;
  const signerKey = ed25519PublicKey(signatureLine?.publicKey);
  const signer = signerKey ? fingerprintOf(signerKey) : undefined;
  const named = signer === undefined ? {} : { signer, trusted: trusted?.has(signer) ?? false };
  const reject = (reason: string, seq?: number): AuditRejected => ({
    ok: false,
    ...(seq === undefined ? {} : { seq }),
    reason,
    ...named,
  });

  let previous: AuditEvent | undefined;
  for (let index = 0; index < lines.length - 1; index++) {
    const seq = index + 1;
    const line = lines[index] as string;
    if (line === '') return reject(`line ${seq} is empty: an export has one event per line`, seq);
    const parsed = canonicalObject(line);
    if (!parsed.value) return reject(`line ${seq} ${parsed.problem}`, seq);
    const event = parsed.value as unknown as AuditEvent;
    if (event.seq !== seq)
      return reject(`expected the event with seq ${seq}, found ${shortJson(event.seq)}`, seq);
    if (typeof event.intentId !== 'string') return reject(`event ${seq} names no intent`, seq);
    if (previous && event.intentId !== previous.intentId) {
      return reject(
        `event ${seq} belongs to intent ${shortJson(event.intentId)}, not ${previous.intentId}`,
        seq,
      );
    }
    if (event.prevHash !== (previous?.hash ?? null)) {
      return reject(`event ${seq}: prevHash does not match the hash of the event before it`, seq);
    }
    if (hashEvent(event) !== event.hash) {
      return reject(`event ${seq}: its hash does not match its content: it was changed`, seq);
    }
    previous = event;
  }
  const last = previous as AuditEvent;

  const signatureText = lines.at(-1) as string;
  const parsedSignature = canonicalObject(signatureText);
  if (!parsedSignature.value) return reject(`the signature line ${parsedSignature.problem}`);
  const signature = parsedSignature.value;
  if (signature.type !== 'signature') {
    return reject('the last line is not a signature line: the export ends without one (truncated?)');
  }
  if (signature.format !== auditFormat) {
    return reject(
      `the signature line is of format ${shortJson(signature.format)}, not ${auditFormat}: export the trail again with this version`,
    );
  }
  const extra = Object.keys(signature).filter((key) => !(signatureFields as readonly string[]).includes(key));
  if (extra.length > 0)
    return reject(`the signature line has fields that are not part of it: ${extra.join(', ')}`);
  const missing = signatureFields.filter((key) => !(key in signature));
  if (missing.length > 0) return reject(`the signature line lacks ${missing.join(', ')}`);
  if (signature.alg !== 'Ed25519') return reject(`the signature is ${shortJson(signature.alg)}, not Ed25519`);
  for (const field of ['intentId', 'head', 'signedAt', 'publicKey', 'signature'] as const) {
    if (typeof signature[field] !== 'string') return reject(`the signature line's ${field} is not a string`);
  }
  if (signature.intentId !== last.intentId) {
    return reject(`the signature names intent ${shortJson(signature.intentId)}, the events ${last.intentId}`);
  }
  if (typeof signature.seq !== 'number' || signature.seq > last.seq) {
    return reject(
      `the signature covers ${shortJson(signature.seq)} events, the export has ${last.seq}: events after ${last.seq} were removed`,
      last.seq + 1,
    );
  }
  if (signature.seq < last.seq) {
    return reject(
      `the signature covers ${signature.seq} events, the export has ${last.seq}: events were added after it was signed`,
      signature.seq + 1,
    );
  }
  if (!signerKey) return reject("the signature line's publicKey is not an Ed25519 public key");
  const { signature: signatureValue, ...unsigned } = signature;
  let valid = false;
  try {
    valid =
      typeof signatureValue === 'string' &&
      signature.head === last.hash &&
      verifyText(signerKey, signedText(unsigned as Omit<AuditSignature, 'signature'>), signatureValue);
  } catch {
    valid = false;
  }
  if (!valid) {
    // Every event links up, so whatever changed was re-hashed to the end: only the head's signature
    // can show it, not which event it was.
    return reject(
      "the head's signature does not match: the chain was changed and its hashes recomputed, the signature line was changed, or it belongs to another export",
    );
  }
  const isTrusted = trusted?.has(signer as string) ?? false;
  if (trusted && !isTrusted) {
    return reject(
      `the export is intact but signed by ${signer}, which is not a trusted key (trusted: ${[...trusted].join(', ')})`,
    );
  }
  return {
    ok: true,
    intentId: last.intentId,
    events: last.seq,
    head: last.hash,
    signedAt: String(signature.signedAt),
    final: chainEndingEvents.has(last.type),
    signer: signer as string,
    trusted: isTrusted,
  };
}

/**
 * A verified export checked against the chain an engine holds for its intent: `chainEvents` is how
 * many events the chain has; an export that ends before the chain does (truncated, or signed
 * earlier), or whose last event is not the chain's, is refused.
 * @param chainHash the hash of the chain's event at the export's last `seq`, if it has one.
 */
export function compareWithChain(
  result: AuditVerified,
  chainEvents: number,
  chainHash: string | undefined,
): AuditVerification {
  const rejected = (seq: number | undefined, reason: string): AuditRejected => ({
    ok: false,
    ...(seq === undefined ? {} : { seq }),
    reason,
    signer: result.signer,
    trusted: result.trusted,
    chainEvents,
  });
  if (chainHash !== result.head) {
    return rejected(
      undefined,
      `the export is intact as signed, but its event ${result.events} is not the one this store holds for intent ${result.intentId}`,
    );
  }
  if (chainEvents > result.events) {
    return rejected(
      result.events + 1,
      `the export ends at event ${result.events} (signed ${result.signedAt}), but intent ${result.intentId} has ${chainEvents} events: it is truncated or older than the chain`,
    );
  }
  return { ...result, chainEvents };
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
