// Audit verification that a hostile editor of the export cannot fool (issue: "no audit that a
// stranger can re-sign"): canonical lines only, no unsigned fields, the signer's trust, truncation,
// and naming the head's signature rather than an event that did not change.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/audit-event.js';
import { exportAudit } from '../src/audit/audit-export.js';
import { signingKeyFrom } from '../src/audit/signing.js';
import { auditKeyFingerprint, verifyAudit } from '../src/index.js';
import { engineFor, errorOf } from './helpers/engine.js';
import { rehash } from './helpers/forgery.js';

function keyPair(): { privateKey: KeyObject; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** An engine signing with a known key, and an intent with a decided task (4 events when completed). */
async function chain(options: { complete?: boolean } = {}) {
  const key = keyPair();
  const hp = await engineFor('memory://', { auditKey: key.privateKey });
  const intent = await hp.submit({ type: 'payment', input: { amount: 120 } });
  const task = await hp.requestHuman({
    intentId: intent.id,
    assignee: 'cfo@acme.test',
    context: { pay: 120 },
  });
  await hp.decide(task.id, { outcome: 'approved', comment: 'ok', actor: 'cfo@acme.test' });
  if (options.complete) await hp.complete(intent.id, { result: { paid: true } });
  return { hp, key, intentId: intent.id, jsonl: await hp.audit.export(intent.id) };
}

function lines(jsonl: string): string[] {
  return jsonl.trimEnd().split('\n');
}

function events(jsonl: string): AuditEvent[] {
  return lines(jsonl)
    .slice(0, -1)
    .map((line) => JSON.parse(line) as AuditEvent);
}

function withLine(jsonl: string, index: number, line: string): string {
  const all = lines(jsonl);
  all[index < 0 ? all.length + index : index] = line;
  return `${all.join('\n')}\n`;
}

describe('audit verification under a hostile editor', () => {
  it('verifies an intact export, names the signer and trusts only the keys it is given', async () => {
    const { jsonl, key, hp } = await chain({ complete: true });
    const fingerprint = auditKeyFingerprint(key.publicPem);
    expect(auditKeyFingerprint(key.privateKey)).toBe(fingerprint);
    expect(verifyAudit(jsonl)).toMatchObject({
      ok: true,
      events: 4,
      final: true,
      signer: fingerprint,
      trusted: false,
    });
    expect(verifyAudit(jsonl, { trustedKeys: [key.publicPem] })).toMatchObject({ ok: true, trusted: true });
    expect(verifyAudit(jsonl, { publicKey: key.privateKey })).toMatchObject({ ok: true, trusted: true });
    expect(await hp.audit.verify(jsonl)).toMatchObject({ ok: true, trusted: true, signer: fingerprint });
    expect(verifyAudit(jsonl.trimEnd(), { trustedKeys: [key.publicPem] }).ok).toBe(true);
  });

  it('refuses an event line with a key given twice, even where the chain hashes the last value', async () => {
    const { jsonl, key } = await chain();
    const [, , decided] = events(jsonl);
    // A reader keeping the first "outcome" sees a rejection; JSON.parse (and the hash) sees the approval.
    const line = lines(jsonl)[2] as string;
    expect(decided?.type).toBe('task-decided');
    const doubled = line.replace('"outcome":"approved"', '"outcome":"rejected","outcome":"approved"');
    expect(doubled).not.toBe(line);
    expect(JSON.parse(doubled)).toEqual(JSON.parse(line));
    const result = verifyAudit(withLine(jsonl, 2, doubled), { trustedKeys: [key.publicPem] });
    expect(result).toMatchObject({ ok: false, seq: 3, reason: expect.stringContaining('canonical') });
  });

  it('refuses lines that are the same event written another way (spaces, key order, escapes)', async () => {
    const { jsonl, key } = await chain();
    const event = JSON.parse(lines(jsonl)[1] as string) as Record<string, unknown>;
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(event).reverse()));
    for (const variant of [
      JSON.stringify(event, null, 1).replaceAll('\n', ''),
      reordered,
      (lines(jsonl)[1] as string).replace('"seq"', '"\\u0073eq"'),
    ]) {
      expect(JSON.parse(variant)).toEqual(event);
      expect(verifyAudit(withLine(jsonl, 1, variant), { trustedKeys: [key.publicPem] })).toMatchObject({
        ok: false,
        seq: 2,
      });
    }
  });

  it('refuses fields in the signature line that the signature does not name, and an older format', async () => {
    const { jsonl, key } = await chain();
    const signature = JSON.parse(lines(jsonl).at(-1) as string) as Record<string, unknown>;
    const extra = { ...signature, approvedBy: 'ceo@acme.test' };
    const sorted = JSON.stringify(
      Object.fromEntries(Object.entries(extra).sort(([a], [b]) => (a < b ? -1 : 1))),
    );
    expect(verifyAudit(withLine(jsonl, -1, sorted), { trustedKeys: [key.publicPem] })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('approvedBy'),
    });
    const { format: _format, ...v1 } = signature;
    expect(verifyAudit(withLine(jsonl, -1, JSON.stringify(v1)), { trustedKeys: [key.publicPem] }).ok).toBe(
      false,
    );
  });

  it('says a chain rewritten and re-signed with another key is not trusted, and refuses it given the trusted key', async () => {
    const { jsonl, key, intentId } = await chain();
    const forged = events(jsonl);
    const decided = forged[2] as AuditEvent;
    (decided.data.decision as { outcome: string }).outcome = 'rejected';
    const mallory = keyPair();
    const resigned = exportAudit(intentId, rehash(forged), signingKeyFrom(mallory.privateKey));
    const offline = verifyAudit(resigned);
    expect(offline).toMatchObject({
      ok: true,
      trusted: false,
      signer: auditKeyFingerprint(mallory.publicPem),
    });
    expect(offline.ok && offline.signer).not.toBe(auditKeyFingerprint(key.publicPem));
    expect(verifyAudit(resigned, { trustedKeys: [key.publicPem] })).toMatchObject({
      ok: false,
      trusted: false,
      signer: auditKeyFingerprint(mallory.publicPem),
      reason: expect.stringContaining('not a trusted key'),
    });
  });

  it("names the head's signature, not an unchanged event, when a change was re-hashed to the end", async () => {
    const { jsonl, key } = await chain({ complete: true });
    const forged = events(jsonl);
    (forged[1] as AuditEvent).data = { ...(forged[1] as AuditEvent).data, note: 'added later' };
    const rehashed = rehash(forged);
    const signatureLine = lines(jsonl).at(-1) as string;
    // The forger keeps the genuine signature line, or points its head at the new last hash.
    const signature = JSON.parse(signatureLine) as Record<string, unknown>;
    const repointed = JSON.stringify(
      Object.fromEntries(
        Object.entries({ ...signature, head: rehashed.at(-1)?.hash }).sort(([a], [b]) => (a < b ? -1 : 1)),
      ),
    );
    for (const last of [signatureLine, repointed]) {
      const text = `${[...rehashed.map((event) => JSON.stringify(sortDeep(event))), last].join('\n')}\n`;
      const result = verifyAudit(text, { trustedKeys: [key.publicPem] });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.seq).toBeUndefined();
        expect(result.reason).toMatch(/head's signature does not match/);
      }
    }
  });

  it('shows a truncated trail with an older genuine signature as not final, signed earlier', async () => {
    const { hp, key, intentId } = await chain();
    const older = await hp.audit.export(intentId);
    await hp.complete(intentId, { result: { paid: true } });
    const current = await hp.audit.export(intentId);
    const olderResult = verifyAudit(older, { trustedKeys: [key.publicPem] });
    const currentResult = verifyAudit(current, { trustedKeys: [key.publicPem] });
    expect(olderResult).toMatchObject({ ok: true, events: 3, final: false });
    expect(currentResult).toMatchObject({ ok: true, events: 4, final: true });
    // The last lines cut off, the signature of the full trail kept: refused, naming the first missing event.
    const cut = `${[...lines(current).slice(0, 2), lines(current).at(-1)].join('\n')}\n`;
    expect(verifyAudit(cut, { trustedKeys: [key.publicPem] })).toMatchObject({ ok: false, seq: 3 });
  });

  it('refuses what is not an export or not a key with typed errors, and odd text with a reason', async () => {
    const { jsonl } = await chain();
    expect((await errorOf(Promise.resolve().then(() => verifyAudit(42 as never)))).code).toBe('VALIDATION');
    expect(
      (await errorOf(Promise.resolve().then(() => verifyAudit(jsonl, { trustedKeys: ['nope'] })))).code,
    ).toBe('VALIDATION');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect((await errorOf(Promise.resolve().then(() => verifyAudit(jsonl, { publicKey: rsa })))).code).toBe(
      'VALIDATION',
    );
    for (const text of [
      '',
      '\n',
      'null\n',
      '[]\n{}\n',
      jsonl.replaceAll('\n', '\r\n'),
      `\n${jsonl}`,
      `${jsonl}\n`,
    ]) {
      expect(verifyAudit(text).ok, JSON.stringify(text.slice(0, 20))).toBe(false);
    }
  });
});

/** Canonical key order for a forged event, as an honest exporter writes it. */
function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortDeep((value as Record<string, unknown>)[key])]),
  );
}
