import { ValidationError } from './errors/validation-error.js';

/** A length of time: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'15m'`, `'48h'`, `'7d'`. */
export type Duration = number | string;

const units: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const pattern = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/;

/**
 * Milliseconds of a {@link Duration}.
 * @throws ValidationError naming `field` when the value is negative, not finite, or not a known unit.
 */
export function parseDuration(value: Duration, field: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  } else if (typeof value === 'string') {
    const match = pattern.exec(value);
    if (match) return Math.round(Number(match[1]) * units[match[2] as string]!);
  }
  throw new ValidationError({
    field,
    message: `${field}: ${JSON.stringify(value)} is not a duration. Give milliseconds (a number ≥ 0) or a string such as '250ms', '30s', '15m', '48h' or '7d'.`,
  });
}

/** The longest duration a task accepts for its timeout, an escalation step or a reminder: 365 days. */
export const maxTaskDurationMs = 365 * 86_400_000;

/** Bounds as people read them in messages: `'1s'`, `'365d'`. */
function describeMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `'${ms / size}${unit}'`;
  }
  return `'${ms}ms'`;
}

/**
 * Milliseconds of a {@link Duration} from `minMs` to `maxMs`: a duration outside is refused when the
 * task is asked for, rather than found unusable by a timer later (a deadline past the year 275760
 * has no date).
 * @throws ValidationError naming `field`.
 */
export function durationWithin(value: Duration, field: string, minMs: number, maxMs: number): number {
  const ms = parseDuration(value, field);
  if (ms < minMs || ms > maxMs) {
    throw new ValidationError({
      field,
      message: `${field}: ${JSON.stringify(value)} is ${ms < minMs ? 'too short' : 'too long'}; give from ${describeMs(minMs)} to ${describeMs(maxMs)}.`,
    });
  }
  return ms;
}
