import { readFileSync } from 'node:fs';
import { type AuditVerification, auditKeyFingerprint, verifyAudit } from '@holdpoint/core';
import { writeNewAuditKey } from '../audit-key.js';
import type { Command } from '../command.js';
import { withApi } from '../connection.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { readUserFile, writeUserFile } from '../files.js';
import { fields } from '../output.js';

interface TrustedKey {
  publicKey: string;
  fingerprint: string;
  source: string;
}

export const auditExport: Command = {
  name: 'audit export',
  summary: 'Export an intent’s signed audit trail (JSONL)',
  usage: 'audit export <intent-id> [--out <file>]',
  options: { out: { type: 'string', value: '<file>', description: 'write to this file instead of stdout' } },
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const id = input.positionals[0] as string;
    const jsonl = (await withApi(input, (api) =>
      api.request('GET', `/v1/intents/${encodeURIComponent(id)}/audit`),
    )) as string;
    const out = input.values.out;
    if (typeof out === 'string') {
      writeUserFile(out, jsonl);
      input.io.stderr(`Wrote ${jsonl.trimEnd().split('\n').length - 1} events of ${id} to ${out}`);
    } else input.io.stdout(jsonl.trimEnd());
    return exitCodes.ok;
  },
};

function describeVerification(
  result: AuditVerification & { chainEvents?: number },
  trusted: { fingerprint: string; source: string },
): string {
  const signer = result.signer
    ? `${result.signer} — ${result.trusted ? 'the trusted key' : 'NOT the trusted key'}`
    : 'none found';
  return fields([
    ['result', result.ok ? 'verified' : 'NOT VERIFIED'],
    ['intent', result.ok ? result.intentId : undefined],
    ['events', result.ok ? result.events : undefined],
    ['signed at', result.ok ? result.signedAt : undefined],
    [
      'complete',
      result.ok ? (result.final ? 'yes: the intent has ended' : 'up to the signing time') : undefined,
    ],
    ['problem', result.ok ? undefined : `${result.seq ? `event ${result.seq}: ` : ''}${result.reason}`],
    ['signer', signer],
    ['trusted key', `${trusted.fingerprint} (${trusted.source})`],
  ]);
}

export const auditVerify: Command = {
  name: 'audit verify',
  summary: 'Verify an exported trail, and whether its signer is the trusted key',
  usage: 'audit verify <file|-> [--public-key <pem-file>]',
  description:
    'With --public-key the check is offline against that key. Otherwise the server (or the store) checks it against its own audit key. Exit code 7 when the trail was changed, or is signed by another key.',
  options: {
    'public-key': {
      type: 'string',
      value: '<pem-file>',
      description: 'the trusted public key (SPKI PEM), to verify offline',
    },
  },
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const file = input.positionals[0] as string;
    const jsonl = readUserFile(file);
    const publicKeyFile = input.values['public-key'];
    let result: AuditVerification;
    let trusted: { fingerprint: string; source: string };
    if (typeof publicKeyFile === 'string') {
      const publicKey = readUserFile(publicKeyFile);
      try {
        trusted = { fingerprint: auditKeyFingerprint(publicKey), source: `file:${publicKeyFile}` };
      } catch {
        throw new CliError(exitCodes.usage, `${publicKeyFile} is not a public key in PEM`);
      }
      result = verifyAudit(jsonl, { trustedKeys: [publicKey] });
    } else {
      const answer = (await withApi(input, (api) =>
        api.request('POST', '/v1/audit/verify', { body: jsonl, contentType: 'application/x-ndjson' }),
      )) as AuditVerification & { trustedKey: TrustedKey };
      ({ trustedKey: trusted, ...result } = answer);
    }
    input.io.stdout(
      input.json ? JSON.stringify({ ...result, trustedKey: trusted }) : describeVerification(result, trusted),
    );
    return result.ok ? exitCodes.ok : exitCodes.notVerified;
  },
};

export const auditKey: Command = {
  name: 'audit key',
  summary: 'Show the audit signing key: fingerprint, where it is kept, public key',
  usage: 'audit key',
  options: {},
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const key = (await withApi(input, (api) => api.request('GET', '/v1/audit/key'))) as TrustedKey;
    input.io.stdout(
      input.json
        ? JSON.stringify(key)
        : `${fields([
            ['fingerprint', key.fingerprint],
            ['kept in', key.source],
          ])}\n${key.publicKey.trimEnd()}`,
    );
    return exitCodes.ok;
  },
};

export const auditKeygen: Command = {
  name: 'audit keygen',
  summary: 'Make a new audit signing key file (Ed25519, PKCS#8 PEM, mode 600)',
  usage: 'audit keygen --out <file>',
  description:
    'Then run the server with --audit-key-file <file> (or HOLDPOINT_AUDIT_KEY_FILE), keeping the file away from the store.',
  options: {
    out: { type: 'string', value: '<file>', description: 'where to write the key (never overwritten)' },
  },
  connects: false,
  positionals: [0, 0],
  async run(input) {
    const out = input.values.out;
    if (typeof out !== 'string') throw new CliError(exitCodes.usage, 'Give --out <file>');
    const path = writeNewAuditKey(out);
    const { createPublicKey } = await import('node:crypto');
    const publicKey = createPublicKey(readFileSync(path, 'utf8'))
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const fingerprint = auditKeyFingerprint(publicKey);
    input.io.stdout(
      input.json
        ? JSON.stringify({ path, fingerprint, publicKey })
        : `Wrote ${path}\nfingerprint: ${fingerprint}`,
    );
    return exitCodes.ok;
  },
};
