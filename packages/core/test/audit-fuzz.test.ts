// A fuzzer for verifyAudit: genuine exports, edited the way a forger (or a careless tool) would —
// flipped bytes, keys given twice, lines reordered, dropped, duplicated and injected, fields added,
// events changed and re-hashed, the chain re-signed with another key, a trail cut short under an
// older signature. Whatever the edit, a result that is `ok` and trusted means the text is one of the
// genuine exports, byte for byte (a missing final newline aside).
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/audit-event.js';
import { exportAudit } from '../src/audit/audit-export.js';
import { signingKeyFrom } from '../src/audit/signing.js';
import { auditKeyFingerprint, verifyAudit } from '../src/index.js';
import { engineFor } from './helpers/engine.js';
import { rehash } from './helpers/forgery.js';

const trustedKey = generateKeyPairSync('ed25519');
const trustedPem = trustedKey.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const trustedFingerprint = auditKeyFingerprint(trustedPem);
const forger = signingKeyFrom(generateKeyPairSync('ed25519').privateKey);

/** Every export the engine signed during the set-up, without the final newline. */
const genuine = new Set<string>();
/** The exports to start edits from: a chain at several lengths. */
const exports: string[] = [];

beforeAll(async () => {
  const hp = await engineFor('memory://', { auditKey: trustedKey.privateKey });
  const intent = await hp.submit({ type: 'payment', input: { amount: 120, to: 'ACME "Ltd" \u00e9' } });
  const record = async () => {
    const text = await hp.audit.export(intent.id);
    genuine.add(text.slice(0, -1));
    exports.push(text);
  };
  await record();
  const quorum = await hp.requestHuman({
    intentId: intent.id,
    assignees: ['ann@acme.test', 'bob@acme.test'],
    quorum: 2,
    context: { pay: 120, lines: [1, 2.5, -3e-7], note: '💶 \n\t' },
  });
  await record();
  await hp.decide(quorum.id, { outcome: 'approved', actor: 'ann@acme.test', comment: 'ok' });
  await hp.decide(quorum.id, { outcome: 'approved', actor: { id: 'bob@acme.test', name: 'Bob' } });
  await record();
  await hp.complete(intent.id, { result: { paid: true } });
  await record();
});

const lineSplit = (text: string) => text.replace(/\n$/, '').split('\n');
const join = (lines: string[]) => `${lines.join('\n')}\n`;

type Edit = (text: string) => string;

const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const pick = <T>(items: readonly T[], at: number): T => items[Math.floor(at * items.length)] as T;

/** One edit of an export, as a function of the text it is applied to. */
const edit: fc.Arbitrary<Edit> = fc.oneof(
  // A flipped byte of the UTF-8 text (decoding may turn broken sequences into U+FFFD).
  fc.tuple(position, fc.integer({ min: 1, max: 255 })).map(
    ([at, mask]): Edit =>
      (text) => {
        const bytes = Buffer.from(text, 'utf8');
        const index = Math.floor(at * bytes.length);
        bytes[index] = (bytes[index] as number) ^ mask;
        return bytes.toString('utf8');
      },
  ),
  // A character replaced by one that matters to JSON.
  fc
    .tuple(
      position,
      fc.constantFrom('"', ':', ',', '{', '}', '[', ']', '\\', ' ', '0', '9', 'a', 'e', '-', '.', 'ü'),
    )
    .map(
      ([at, character]): Edit =>
        (text) => {
          const index = Math.floor(at * text.length);
          return text.slice(0, index) + character + text.slice(index + 1);
        },
    ),
  // A key given twice in one object: before the original (parsers keep the original) or after it.
  fc.tuple(position, position, fc.boolean(), fc.jsonValue({ maxDepth: 1 })).map(
    ([lineAt, keyAt, before, value]): Edit =>
      (text) => {
        const lines = lineSplit(text);
        const index = Math.floor(lineAt * lines.length);
        const line = lines[index] as string;
        const keys = [...line.matchAll(/"([A-Za-z]+)":/g)];
        if (keys.length === 0) return text;
        const match = pick(keys, keyAt);
        const duplicate = `"${match[1]}":${JSON.stringify(value)},`;
        lines[index] = before
          ? line.slice(0, match.index) + duplicate + line.slice(match.index)
          : line.replace(/}$/, `,${duplicate.slice(0, -1)}}`);
        return join(lines);
      },
  ),
  // Two lines swapped.
  fc.tuple(position, position).map(
    ([a, b]): Edit =>
      (text) => {
        const lines = lineSplit(text);
        const [i, j] = [Math.floor(a * lines.length), Math.floor(b * lines.length)];
        [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
        return join(lines);
      },
  ),
  // A line dropped.
  position.map(
    (at): Edit =>
      (text) => {
        const lines = lineSplit(text);
        lines.splice(Math.floor(at * lines.length), 1);
        return join(lines);
      },
  ),
  // A line of this or another export injected somewhere.
  fc.tuple(position, position, position).map(
    ([from, source, to]): Edit =>
      (text) => {
        const lines = lineSplit(text);
        const donor = lineSplit(pick(exports, source));
        lines.splice(Math.floor(to * (lines.length + 1)), 0, pick(donor, from));
        return join(lines);
      },
  ),
  // A field added to a line, in canonical position or at the end.
  fc
    .tuple(
      position,
      fc.constantFrom('aaa', 'approvedBy', 'zzz', 'signature', 'seq'),
      fc.jsonValue({ maxDepth: 1 }),
    )
    .map(
      ([at, name, value]): Edit =>
        (text) => {
          const lines = lineSplit(text);
          const index = Math.floor(at * lines.length);
          try {
            const object = JSON.parse(lines[index] as string) as Record<string, unknown>;
            object[name] = value;
            lines[index] = JSON.stringify(
              Object.fromEntries(Object.entries(object).sort(([x], [y]) => (x < y ? -1 : 1))),
            );
          } catch {
            lines[index] = `${lines[index]}{"${name}":1}`;
          }
          return join(lines);
        },
    ),
  // An event changed and every hash after it recomputed; signed by the forger, or with the genuine
  // signature line kept, or with its head pointed at the new last hash.
  fc.tuple(position, fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('resign', 'keep', 'repoint')).map(
    ([at, value, how]): Edit =>
      (text) => {
        const lines = lineSplit(text);
        let events: AuditEvent[];
        let signature: Record<string, unknown>;
        try {
          events = lines.slice(0, -1).map((line) => JSON.parse(line) as AuditEvent);
          signature = JSON.parse(lines.at(-1) as string) as Record<string, unknown>;
        } catch {
          return text;
        }
        if (signature === null || typeof signature !== 'object') return text;
        const target = events[Math.floor(at * events.length)];
        if (!target || typeof target !== 'object' || target.data === null || typeof target.data !== 'object')
          return text;
        target.data = { ...target.data, forged: value };
        const forged = rehash(events);
        if (how === 'resign') return exportAudit(String(target.intentId), forged, forger);
        if (how === 'repoint') signature.head = forged.at(-1)?.hash;
        const canonicalLines = exportAudit(String(target.intentId), forged, forger).split('\n').slice(0, -2);
        return join([
          ...canonicalLines,
          JSON.stringify(Object.fromEntries(Object.entries(signature).sort(([x], [y]) => (x < y ? -1 : 1)))),
        ]);
      },
  ),
  // The first events of a longer export under the signature line of another export.
  fc.tuple(position, position, fc.integer({ min: 1, max: 6 })).map(
    ([a, b, count]): Edit =>
      () => {
        const events = lineSplit(pick(exports, a)).slice(0, -1).slice(0, count);
        return join([...events, lineSplit(pick(exports, b)).at(-1) as string]);
      },
  ),
  // Whitespace and line ending changes.
  fc.constantFrom<Edit>(
    (text) => text.replaceAll('\n', '\r\n'),
    (text) => `\n${text}`,
    (text) => `${text}\n`,
    (text) => text.replaceAll(',"', ', "'),
    (text) => `\uFEFF${text}`,
  ),
);

describe('verifyAudit fuzzed', () => {
  it('never reports a trusted ok for text that is not a genuine export', () => {
    const tally = { runs: 0, rejected: 0, untrustedOk: 0, genuineOk: 0 };
    fc.assert(
      fc.property(position, fc.array(edit, { minLength: 1, maxLength: 3 }), (start, edits) => {
        const original = pick(exports, start);
        const text = edits.reduce((current, apply) => apply(current), original);
        const normalized = text.endsWith('\n') ? text.slice(0, -1) : text;
        const withTrust = verifyAudit(text, { trustedKeys: [trustedPem] });
        const without = verifyAudit(text);
        tally.runs++;
        if (withTrust.ok) {
          expect(withTrust.trusted).toBe(true);
          expect(genuine.has(normalized), `trusted ok for an edited export:\n${text}`).toBe(true);
          expect(withTrust.events).toBe(normalized.split('\n').length - 1);
          tally.genuineOk++;
        } else {
          tally.rejected++;
        }
        // Without trusted keys nothing is trusted, and the genuine signer only ever signed genuine text.
        if (without.ok) {
          expect(without.trusted).toBe(false);
          if (without.signer === trustedFingerprint) expect(genuine.has(normalized)).toBe(true);
          else tally.untrustedOk++;
        }
      }),
      { numRuns: 1_500 },
    );
    console.log(
      `audit fuzz: ${tally.runs} edited exports: ${tally.rejected} refused, ${tally.genuineOk} were genuine again, ${tally.untrustedOk} re-signed by another key (ok, not trusted)`,
    );
    // Both kinds of forgery happened: refused edits, and re-signed chains that verify untrusted.
    expect(tally.rejected).toBeGreaterThan(tally.runs / 2);
    expect(tally.untrustedOk).toBeGreaterThan(0);
  });

  it('verifies every genuine export, trusted', () => {
    expect(exports).toHaveLength(4);
    for (const text of exports) {
      expect(verifyAudit(text, { trustedKeys: [trustedPem] })).toMatchObject({ ok: true, trusted: true });
    }
  });
});
