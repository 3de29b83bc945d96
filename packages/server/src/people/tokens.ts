import { createHash, randomBytes } from 'node:crypto';

/** A new secret token: 256 random bits, URL-safe (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** How a token is kept in the store: its SHA-256 (hex). A slow KDF buys nothing for 256 random bits. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether a string can be one of our tokens (so garbage is refused before any store read). */
export function isTokenShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}
