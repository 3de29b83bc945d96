import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError, exitCodes } from './exit-codes.js';
import { readUserFile, writeUserFile } from './files.js';

/** The audit signing key a process runs with, and where it came from. */
export interface AuditKeyConfig {
  /** PKCS#8 PEM of an Ed25519 private key; absent: the engine keeps one in the store. */
  privateKeyPem?: string;
  /** `file:/abs/path`, `env:HOLDPOINT_AUDIT_KEY` or `store`. */
  source: string;
}

/**
 * The audit key from `--audit-key-file` (or `HOLDPOINT_AUDIT_KEY_FILE`), else the PEM in
 * `HOLDPOINT_AUDIT_KEY`, else none (kept in the store, where whoever can write the store could
 * re-sign a forged trail).
 */
export function loadAuditKey(file: string | undefined, env: NodeJS.ProcessEnv): AuditKeyConfig {
  const path = file ?? env.HOLDPOINT_AUDIT_KEY_FILE;
  if (path !== undefined && path !== '') {
    const absolute = resolve(path);
    if (!existsSync(absolute)) {
      throw new CliError(
        exitCodes.usage,
        `The audit key file ${absolute} does not exist; make one with: holdpoint audit keygen --out ${path}`,
      );
    }
    return { privateKeyPem: checked(readUserFile(absolute), absolute), source: `file:${absolute}` };
  }
  const pem = env.HOLDPOINT_AUDIT_KEY;
  if (pem !== undefined && pem !== '')
    return { privateKeyPem: checked(pem, 'HOLDPOINT_AUDIT_KEY'), source: 'env:HOLDPOINT_AUDIT_KEY' };
  return { source: 'store' };
}

function checked(pem: string, where: string): string {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType === 'ed25519') return pem;
  } catch {}
  throw new CliError(
    exitCodes.usage,
    `${where} is not an Ed25519 private key in PKCS#8 PEM (make one with holdpoint audit keygen)`,
  );
}

/** Write a new Ed25519 audit key (PKCS#8 PEM, readable by the owner only). Refuses to overwrite. */
export function writeNewAuditKey(path: string): string {
  const absolute = resolve(path);
  if (existsSync(absolute))
    throw new CliError(exitCodes.refused, `${absolute} exists; not overwriting an audit key`);
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    writeUserFile(absolute, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (error) {
    // Made by someone else since the check above.
    if (error instanceof CliError && existsSync(absolute))
      throw new CliError(exitCodes.refused, `${absolute} exists; not overwriting an audit key`);
    throw error;
  }
  return absolute;
}
