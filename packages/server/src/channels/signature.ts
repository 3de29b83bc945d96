import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries a delivery's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const signatureHeader = 'X-Holdpoint-Signature';

/** The signature header's value for a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** Options of {@link verifyWebhookSignature}. */
export interface VerifyWebhookOptions {
  /** How far the signed time may be from now, in seconds (the replay window). @default 300 */
  toleranceSeconds?: number;
  /** Now, in unix seconds. @default the clock */
  now?: number;
}

/**
 * Check a delivery as a receiver does: the HMAC over `timestamp.body` with the webhook's secret,
 * and the timestamp within the replay window. Pass the raw body, exactly as received.
 *
 * @example
 * const check = verifyWebhookSignature(secret, request.headers['x-holdpoint-signature'], rawBody);
 * if (!check.ok) return reply(400, check.reason);
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | null | undefined,
  body: string,
  options: VerifyWebhookOptions = {},
): { ok: true; timestamp: number } | { ok: false; reason: string } {
  if (!header) return { ok: false, reason: `no ${signatureHeader} header` };
  const parts = Object.fromEntries(
    header.split(',').map((part) => {
      const [name = '', ...value] = part.trim().split('=');
      return [name, value.join('=')];
    }),
  );
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || typeof parts.v1 !== 'string')
    return { ok: false, reason: 'the signature header is not t=…,v1=…' };
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300))
    return { ok: false, reason: 'the signature is outside the replay window' };
  const expected = Buffer.from(signWebhook(secret, timestamp, body).split('v1=')[1] as string, 'hex');
  const given = Buffer.from(parts.v1, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'the signature does not match the body' };
  return { ok: true, timestamp };
}
