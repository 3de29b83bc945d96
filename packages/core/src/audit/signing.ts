import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

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

/** A signing key from a PKCS#8 PEM private key (or a KeyObject). */
export function signingKeyFrom(privateKey: string | KeyObject): SigningKey {
  const keyObject = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (keyObject.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `audit signing key must be Ed25519, got ${keyObject.asymmetricKeyType ?? keyObject.type}`,
    );
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
