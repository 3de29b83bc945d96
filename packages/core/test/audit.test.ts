import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyAudit } from '../src/index.js';
import { engineFor } from './helpers/engine.js';

async function exportedChain() {
  const hp = await engineFor('memory://');
  const intent = await hp.submit({ type: 'board-report', input: { quarter: 'Q3' } });
  const task = await hp.requestHuman({
    intentId: intent.id,
    assignee: 'cfo@acme.test',
    context: { draft: 'v1' },
  });
  await hp.decide(task.id, { outcome: 'approved', comment: 'ok', actor: 'cfo@acme.test' });
  await hp.complete(intent.id, { result: { sent: true } });
  return { hp, jsonl: await hp.audit.export(intent.id), publicKey: await hp.audit.publicKey() };
}

describe('audit export and verify', () => {
  it('exports a hash chain with a signed head that verifies with the public key', async () => {
    const { hp, jsonl, publicKey } = await exportedChain();
    const lines = jsonl
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.type)).toEqual([
      'intent-submitted',
      'task-created',
      'task-decided',
      'intent-completed',
      'signature',
    ]);
    expect(lines.slice(0, -1).map((line) => line.seq)).toEqual([1, 2, 3, 4]);
    expect(lines[1].prevHash).toBe(lines[0].hash);
    expect(lines.at(-1)).toMatchObject({ alg: 'Ed25519', seq: 4, head: lines[3].hash });
    expect(verifyAudit(jsonl, { publicKey })).toMatchObject({ ok: true, events: 4 });
    expect(await hp.audit.verify(jsonl)).toMatchObject({ ok: true });
  });

  it('catches a change to any byte of any event and names the event', async () => {
    const { jsonl, publicKey } = await exportedChain();
    const lines = jsonl.trim().split('\n');
    for (let index = 0; index < lines.length - 1; index++) {
      const line = lines[index] as string;
      // Flip one character inside a value in the middle of the line (not just whitespace).
      for (const position of [Math.floor(line.length / 3), Math.floor(line.length / 2), line.length - 5]) {
        const flipped = line.charCodeAt(position) === 0x41 ? 'B' : 'A';
        const tampered = [...lines];
        tampered[index] = line.slice(0, position) + flipped + line.slice(position + 1);
        const result = verifyAudit(tampered.join('\n'), { publicKey });
        expect(result.ok, `line ${index + 1} position ${position}`).toBe(false);
        if (!result.ok) expect(result.seq).toBe(index + 1);
      }
    }
  });

  it('catches removed, reordered or appended events, a forged signature and a foreign key', async () => {
    const { jsonl, publicKey } = await exportedChain();
    const lines = jsonl.trim().split('\n');
    const without = [...lines.slice(0, 2), ...lines.slice(3)].join('\n');
    expect(verifyAudit(without, { publicKey })).toMatchObject({ ok: false, seq: 3 });
    const swapped = [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n');
    expect(verifyAudit(swapped, { publicKey })).toMatchObject({ ok: false, seq: 2 });
    const truncated = [...lines.slice(0, 3), lines.at(-1)].join('\n');
    expect(verifyAudit(truncated, { publicKey })).toMatchObject({ ok: false });
    const signature = JSON.parse(lines.at(-1) as string);
    signature.signature = Buffer.from('x'.repeat(64)).toString('base64');
    expect(verifyAudit([...lines.slice(0, -1), JSON.stringify(signature)].join('\n'), { publicKey }).ok).toBe(
      false,
    );
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyAudit(jsonl, { publicKey: other })).toMatchObject({
      ok: false,
      trusted: false,
      reason: expect.stringContaining('not a trusted key'),
    });
    expect(verifyAudit('', { publicKey }).ok).toBe(false);
  });

  it('signs with a supplied key, and keeps a generated key in the store for every engine', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const supplied = await engineFor('memory://', {
      auditKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    const intent = await supplied.submit({ type: 'x' });
    expect(verifyAudit(await supplied.audit.export(intent.id), { publicKey }).ok).toBe(true);

    const shared = `memory://audit-key-${Math.random()}`;
    const one = await engineFor(shared);
    const two = await engineFor(shared);
    expect(await one.audit.publicKey()).toBe(await two.audit.publicKey());
  });
});
