/** Bounds on what one request or one key can hold. Every limit is documented in the README. */
export interface ServerLimits {
  /** Largest JSON request body, in bytes. @default 1048576 (1 MiB) */
  bodyBytes: number;
  /** Largest audit export sent to `POST /v1/audit/verify`, in bytes. @default 16777216 (16 MiB) */
  auditBodyBytes: number;
  /** Largest request line and headers together, in bytes (applied by `listen`). @default 16384 */
  headerBytes: number;
  /** Open SSE streams, long-polls and result waits per credential in one server process. @default 8 */
  streamsPerKey: number;
  /** Silence on an SSE stream after which a heartbeat comment is sent, in ms. @default 15000 */
  heartbeatMs: number;
  /** How often a waiting stream reads the feed again in case a wake-up was lost, in ms. @default 5000 */
  pollMs: number;
  /** How long a client may take to send a whole request, in ms (applied by `listen`). @default 30000 */
  requestTimeoutMs: number;
}

/** The limits a server runs with unless told otherwise. */
export const defaultLimits: ServerLimits = {
  bodyBytes: 1_048_576,
  auditBodyBytes: 16_777_216,
  headerBytes: 16_384,
  streamsPerKey: 8,
  heartbeatMs: 15_000,
  pollMs: 5_000,
  requestTimeoutMs: 30_000,
};

/** Longest `wait` a long-poll or result wait may ask for, in seconds (fixed: it is in the OpenAPI document). */
export const maxWaitSeconds = 60;
