import { ValidationError } from './errors/validation-error.js';
import { textProblem, utf8Length } from './text.js';

/** How deep a JSON value given to the engine (context, input, data, …) may nest. */
export const maxJsonDepth = 100;
/** How large a JSON value given to the engine may be, as UTF-8 JSON text: 1 MiB. */
export const maxJsonBytes = 1_048_576;
/** How many `toJSON` results may lead to another value with a `toJSON` of its own. */
const maxToJsonChain = 8;

/** Thrown inside the walk with the reason; turned into one ValidationError at the top. */
class NotJson extends Error {}

/** What a value is, for messages: `a Map`, `a Uint8Array`, `an Invoice instance`. */
function kindOf(value: object): string {
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  const kind = typeof name === 'string' && name !== '' ? name : tag;
  const article = /^[AEIOU]/i.test(kind) ? 'an' : 'a';
  return tag === 'Object' ? `${article} ${kind} instance` : `${article} ${kind}`;
}

/** Plain objects: `{}` literals, `JSON.parse` results and `Object.create(null)`, from any realm. */
function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || prototype === Object.prototype || Object.getPrototypeOf(prototype) === null;
}

function isInvalidDate(value: object): boolean {
  return (
    Object.prototype.toString.call(value) === '[object Date]' &&
    Number.isNaN(Date.prototype.getTime.call(value as Date))
  );
}

interface Walk {
  seen: Set<object>;
  /** A lower bound of the JSON text's size so far, to stop early on huge input. */
  bytes: number;
}

function copy(value: unknown, path: string, walk: Walk, depth: number, chain = 0): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new NotJson(`${path} is ${value}`);
    // JSON has no -0: written and read back it is 0, so it is 0 from the start.
    return value === 0 ? 0 : value;
  }
  if (typeof value === 'string') {
    const problem = textProblem(value);
    if (problem) throw new NotJson(`${path} ${problem}`);
    walk.bytes += utf8Length(value) + 2;
    if (walk.bytes > maxJsonBytes)
      throw new NotJson(`it is larger than ${maxJsonBytes} bytes (1 MiB) as JSON`);
    return value;
  }
  if (typeof value !== 'object') throw new NotJson(`${path} is a ${typeof value}`);
  // Hashing, storing and cloning a value all recurse through it: past some depth they run out of
  // stack, and how soon depends on the caller's stack — refuse deep values here, reliably.
  if (depth >= maxJsonDepth) throw new NotJson(`${path} is nested deeper than ${maxJsonDepth} levels`);
  if (walk.seen.has(value)) throw new NotJson(`${path} contains itself`);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // A Date, a URL, your own class with toJSON: stored as JSON.stringify would write it, and the
    // caller gets that back. An invalid Date would silently become null: refused instead.
    if (isInvalidDate(value)) throw new NotJson(`${path} is an invalid Date`);
    if (chain >= maxToJsonChain) throw new NotJson(`${path}: toJSON keeps returning values with toJSON`);
    walk.seen.add(value);
    const result = copy(
      toJSON.call(value, path.slice(path.lastIndexOf('.') + 1)),
      path,
      walk,
      depth,
      chain + 1,
    );
    walk.seen.delete(value);
    return result;
  }
  walk.seen.add(value);
  let result: unknown;
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      // A hole or undefined is written null by JSON; a function or symbol would be too, silently.
      items.push(item === undefined ? null : copy(item, `${path}.${index}`, walk, depth + 1));
      walk.bytes += 1;
    }
    result = items;
  } else if (isPlainObject(value)) {
    const entries: Array<[string, unknown]> = [];
    for (const key of Object.keys(value)) {
      const item: unknown = (value as Record<string, unknown>)[key];
      // An undefined property is left out, by JSON and the hash alike.
      if (item === undefined) continue;
      const problem = textProblem(key);
      if (problem) throw new NotJson(`the key ${JSON.stringify(key)} of ${path} ${problem}`);
      walk.bytes += utf8Length(key) + 4;
      entries.push([key, copy(item, `${path}.${key}`, walk, depth + 1)]);
    }
    // fromEntries defines own properties: a key named __proto__ stays a key, never a prototype.
    result = Object.fromEntries(entries);
  } else {
    throw new NotJson(
      `${path} is ${kindOf(value)}, not plain JSON: convert it to objects, arrays, strings, numbers, booleans and null (or give its class a toJSON method)`,
    );
  }
  walk.seen.delete(value);
  return result;
}

/**
 * The one door input goes through on its way into the engine: a plain JSON copy of `value` —
 * objects, arrays, well-formed strings, finite numbers, booleans, null — or a `ValidationError`
 * naming `field` and what is wrong. Values with `toJSON` (a `Date`, a `URL`) become what
 * `JSON.stringify` writes; `undefined` properties are left out and `undefined` array items become
 * null, as in JSON; `-0` becomes 0. Refused: functions, symbols, bigints, `NaN` and infinities,
 * `Map`, `Set`, typed arrays and other class instances without `toJSON`, invalid dates, cycles,
 * strings with lone surrogates, nesting deeper than {@link maxJsonDepth} and values larger than
 * {@link maxJsonBytes} as JSON.
 *
 * What the engine stores, caches, hashes and hands back is this copy, so they cannot differ, and
 * nothing the caller changes afterwards reaches the engine. `undefined` gives `undefined` (absent).
 */
export function plainJson(value: unknown, field: string): unknown {
  if (value === undefined) return undefined;
  let result: unknown;
  try {
    result = copy(value, field, { seen: new Set(), bytes: 0 }, 0);
  } catch (error) {
    // A NotJson reason, or a getter or toJSON of the caller's that threw, or a stack overflow.
    const problem = error instanceof NotJson ? error.message : `reading it threw: ${errorText(error)}`;
    throw new ValidationError({
      field,
      message: `${field} must be JSON (objects, arrays, strings, finite numbers, booleans, null): ${problem}`,
      cause: error instanceof NotJson ? undefined : error,
    });
  }
  const bytes = utf8Length(JSON.stringify(result));
  if (bytes > maxJsonBytes) {
    throw new ValidationError({
      field,
      message: `${field} is ${bytes} bytes as JSON; at most ${maxJsonBytes} (1 MiB) are allowed. Store large documents elsewhere and pass a link or a digest.`,
    });
  }
  return result;
}

function errorText(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'an error that cannot be shown';
  }
}
