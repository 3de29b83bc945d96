/**
 * Ordering checkpoint ids in a sorted index whose scores are numbers.
 *
 * LangGraph orders the checkpoints of a thread by id (UUID v6 strings: later ids are greater), and a
 * store's sorted index orders by a numeric score, then by member. A score that never decreases as
 * the id grows, with the id as member, gives exactly the ids' order: ties are broken by the member.
 * The score below is exact for the characters of UUIDs (`-`, `0-9`, `a-f`): each is a digit of a
 * base-22 number; any other character falls in a bucket between its neighbours and ends the
 * number (later characters add nothing), which keeps the score monotone for every string. Rounding
 * the number to a double is monotone too, so at worst ids close in time share a score (for UUID v6,
 * those created within a few milliseconds of each other), and the member orders them.
 */

const base = 22n;
const digits = 16;

/** Rank of one code unit: 0 is "no character"; gaps between exact characters share odd buckets. */
function rank(code: number): { value: bigint; exact: boolean } {
  // Buckets: 1 below '-', 2 '-', 3 between '-' and '0', 4..13 '0'..'9', 14 between '9' and 'a',
  // 15..20 'a'..'f', 21 above 'f'.
  if (code < 45) return { value: 1n, exact: false };
  if (code === 45) return { value: 2n, exact: true };
  if (code < 48) return { value: 3n, exact: false };
  if (code <= 57) return { value: BigInt(4 + code - 48), exact: true };
  if (code < 97) return { value: 14n, exact: false };
  if (code <= 102) return { value: BigInt(15 + code - 97), exact: true };
  return { value: 21n, exact: false };
}

/** A number that never decreases as `id` grows in code-unit order. */
export function checkpointScore(id: string): number {
  let value = 0n;
  let open = true;
  for (let position = 0; position < digits; position++) {
    let digit = 0n;
    if (open && position < id.length) {
      const next = rank(id.charCodeAt(position));
      digit = next.value;
      open = next.exact;
    } else {
      open = false;
    }
    value = value * base + digit;
  }
  return Number(value);
}

const buffer = new DataView(new ArrayBuffer(8));

/** The smallest double greater than `value` (finite input). */
export function nextUp(value: number): number {
  if (value === 0) return Number.MIN_VALUE;
  buffer.setFloat64(0, value);
  const bits = buffer.getBigInt64(0);
  buffer.setBigInt64(0, value > 0 ? bits + 1n : bits - 1n);
  return buffer.getFloat64(0);
}
