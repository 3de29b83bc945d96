import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';

/** An Ed25519 key pair that signs audit exports. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as SPKI PEM, for `audit.verify`. */
  publicKeyPem: string;
}

/** A fresh Ed25519 key pair, with its private key as PKCS#8 PEM for storing. */
export function generateSigningKey(): { key: SigningKey; privateKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    key: {
      privateKey,
      publicKey,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * A signing key from a PKCS#8 PEM private key (or a private KeyObject).
 * @throws ValidationError naming `field` when it is not an Ed25519 private key.
 */
export function signingKeyFrom(privateKey: unknown, field = 'auditKey'): SigningKey {
  const refuse = (what: string, cause?: unknown) =>
    new ValidationError({
      field,
      message: `${field} must be an Ed25519 private key (PKCS#8 PEM, '-----BEGIN PRIVATE KEY-----…', or a private KeyObject); ${what}. Make one with: openssl genpkey -algorithm ed25519`,
      cause,
    });
  let keyObject: KeyObject;
  if (typeof privateKey === 'string') {
    try {
      keyObject = createPrivateKey(privateKey);
    } catch (error) {
      throw refuse('this one cannot be read as a private key', error);
    }
  } else if (privateKey instanceof KeyObject) {
    keyObject = privateKey;
  } else {
    throw refuse(`got ${privateKey === null ? 'null' : typeof privateKey}`);
  }
  if (keyObject.type !== 'private') throw refuse(`got a ${keyObject.type} key`);
  if (keyObject.asymmetricKeyType !== 'ed25519') {
    throw refuse(`got a ${keyObject.asymmetricKeyType ?? 'different'} key`);
  }
  const publicKey = createPublicKey(keyObject);
  return {
    privateKey: keyObject,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Base64 Ed25519 signature of a UTF-8 message. */
export function signText(key: SigningKey, message: string): string {
  return sign(null, Buffer.from(message, 'utf8'), key.privateKey).toString('base64');
}

/** Whether `signature` (base64) is a valid Ed25519 signature of `message` under `publicKey`. */
export function verifyText(publicKey: string | KeyObject, message: string, signature: string): boolean {
  const keyObject = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return verify(null, Buffer.from(message, 'utf8'), keyObject, Buffer.from(signature, 'base64'));
}

/** The public key of a PEM (SPKI public, or PKCS#8 private) or a KeyObject, if it is Ed25519. */
export function ed25519PublicKey(key: unknown): KeyObject | undefined {
  try {
    let keyObject: KeyObject;
    if (key instanceof KeyObject) keyObject = key.type === 'private' ? createPublicKey(key) : key;
    else if (typeof key === 'string') keyObject = createPublicKey(key);
    else return undefined;
    return keyObject.type === 'public' && keyObject.asymmetricKeyType === 'ed25519' ? keyObject : undefined;
  } catch {
    return undefined;
  }
}

/** `ed25519:` and the base64url SHA-256 of the key's SPKI DER: short enough to show and compare. */
export function fingerprintOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519:${createHash('sha256').update(der).digest('base64url')}`;
}
