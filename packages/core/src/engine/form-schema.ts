import { Ajv2020, type CodeOptions, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.js';

// Form data is checked against JSON Schema 2020-12 in every process, because the decision may be
// taken by another engine than the one that created the task: a zod schema is turned into JSON
// Schema when the task is created, and the JSON Schema is what the task stores.
//
// A schema comes from whoever creates the task (an agent, `POST /v1/tasks`) and the data from
// whoever decides it, and both run on the server's event loop: compiling a schema and matching its
// patterns must cost little, whatever they are. So a schema is refused before it is compiled when
// it is larger than a form needs, or when one of its patterns can backtrack catastrophically; and
// decision data is matched against patterns only up to a length.

/**
 * What a form schema and the data checked against it may cost. Documented in the core README
 * ("Input: what the engine takes"). On the machine they were chosen on (two cores), the slowest
 * schema shapes at `schemaKeys` (3,000 `false` or `anyOf` properties) compiled in about 0.6 s, a
 * form of 300 fields (2,100 keys) in 0.08 s. Patterns the check lets through matched strings of
 * 2,000 characters in at most 0.11 s each (the slowest of 68,000 random ones, on adversarial text),
 * so the data of a decision costs at most about 0.5 s.
 */
export const formSchemaLimits = {
  /** The schema as canonical JSON, in UTF-8 bytes: 128 KiB. */
  schemaBytes: 128 * 1024,
  /** Keywords and property names of the whole schema, counted at every level. */
  schemaKeys: 3_000,
  /** Characters of a `pattern`, and of a `patternProperties` name. */
  patternChars: 1_000,
  /** Characters of one string of the data (a value or a property name) matched against a pattern. */
  patternInputChars: 2_000,
  /** Characters matched against patterns while checking one decision's data, in all. */
  patternInputTotal: 10_000,
} as const;

/** A form schema that would be too costly to compile or to check data against. */
class CostlySchema extends Error {}

const maxCompiled = 500;
/** Made when first needed, and anew with the cache (see `compile`). */
let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function newAjv(): Ajv2020 {
  const instance = new Ajv2020({
    allErrors: true,
    strict: false,
    // Errors carry the value they are about, so an over-long string can be named.
    verbose: true,
    // By default a `$ref` to a definition without refs is copied into every place that uses it:
    // 300 references to a 300-property definition made a 20 KB schema that took 24 s to compile.
    inlineRefs: false,
    // A form's `$id` is not registered, so that two tasks may give different forms the same one.
    addUsedSchema: false,
    code: { regExp: boundedRegExp },
  });
  // Ajv compares every pair of items of an array that is not all strings or numbers: 30,000
  // objects took 25 s. This keyword compares their canonical JSON through a map instead.
  instance.removeKeyword('uniqueItems');
  instance.addKeyword({
    keyword: 'uniqueItems',
    type: 'array',
    schemaType: 'boolean',
    errors: true,
    validate: uniqueItems,
  });
  return instance;
}

function uniqueItems(schema: boolean, data: unknown[]): boolean {
  if (!schema) return true;
  const seen = new Map<string, number>();
  for (const [j, item] of data.entries()) {
    const key = canonicalJson(item);
    const i = seen.get(key);
    if (i !== undefined) {
      uniqueItems.errors = [
        {
          keyword: 'uniqueItems',
          message: `must NOT have duplicate items (items ## ${i} and ${j} are identical)`,
          params: { i, j },
        },
      ];
      return false;
    }
    seen.set(key, j);
  }
  return true;
}
uniqueItems.errors = [] as Array<Partial<ErrorObject>>;

/** Whether a value is a zod 4 schema. */
function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

/**
 * The JSON Schema (2020-12) of a task's form: a zod schema is converted, a JSON Schema object is
 * compiled to check it is valid. Throws an Error whose message says what is wrong, including a
 * schema over {@link formSchemaLimits} or with a pattern that could backtrack catastrophically.
 */
export function toFormJsonSchema(schema: unknown): Record<string, unknown> {
  let json: Record<string, unknown>;
  if (isZodSchema(schema)) {
    json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<
      string,
      unknown
    >;
  } else if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    json = schema as Record<string, unknown>;
  } else {
    throw new Error('give a zod schema or a JSON Schema (2020-12) object');
  }
  compile(json);
  return json;
}

function compile(schema: Record<string, unknown>): ValidateFunction {
  const key = canonicalJson(schema);
  let validate = compiled.get(key);
  if (!validate) {
    checkCost(schema, key);
    if (compiled.size >= maxCompiled) {
      // Ajv keeps every schema it compiled, and the values its code refers to: a new instance
      // with the new cache lets the old ones go.
      compiled.clear();
      ajv = undefined;
    }
    ajv ??= newAjv();
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  return validate;
}

/** Problems of `data` against a stored JSON Schema, as readable lines; empty when it matches. */
export function formDataProblems(schema: Record<string, unknown>, data: unknown): string[] {
  let validate: ValidateFunction;
  try {
    validate = compile(schema);
  } catch (error) {
    if (!(error instanceof CostlySchema)) throw error;
    // Only a schema stored before these limits existed gets here.
    return [`the task's form schema cannot be checked: ${error.message}; cancel the task and ask again`];
  }
  patternCharsLeft = formSchemaLimits.patternInputTotal;
  longestPatternInput = 0;
  let valid: boolean;
  let overspent: boolean;
  try {
    valid = validate(data);
    overspent = patternCharsLeft < 0;
  } finally {
    patternCharsLeft = Number.POSITIVE_INFINITY;
  }
  const errors = validate.errors ?? [];
  if (overspent || longestPatternInput > formSchemaLimits.patternInputChars) {
    return patternInputProblems(errors, overspent);
  }
  if (valid) return [];
  return errors.map((error) => `${error.instancePath || '(data)'} ${error.message ?? 'is invalid'}`);
}

// ---------------------------------------------------------------------------------------------
// The cost of a schema

/**
 * Refuses a schema larger than {@link formSchemaLimits} allows, or with a pattern that is too long
 * or could backtrack catastrophically. Every object of the schema is looked at, not only where a
 * keyword expects a schema: a `$ref` may point anywhere in the document, and Ajv then compiles
 * what it finds there.
 */
function checkCost(schema: Record<string, unknown>, json: string): void {
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > formSchemaLimits.schemaBytes) {
    throw new CostlySchema(
      `the form schema is ${bytes} bytes as JSON; at most ${formSchemaLimits.schemaBytes} (128 KiB) are allowed: split the form into several tasks, or shorten its descriptions`,
    );
  }
  let keys = 0;
  checkSteps = 0;
  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) visit(item, `${path}.${index}`);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    const names = Object.keys(record);
    keys += names.length;
    if (keys > formSchemaLimits.schemaKeys) {
      throw new CostlySchema(
        `the form schema has more than ${formSchemaLimits.schemaKeys} keywords and property names (counted at every level); a form of a few hundred fields fits: split the form into several tasks`,
      );
    }
    const at = (name: string) => (path === '' ? name : `${path}.${name}`);
    if (typeof record.pattern === 'string') checkPattern(record.pattern, at('pattern'));
    const patternProperties = record.patternProperties;
    if (typeof patternProperties === 'object' && patternProperties !== null) {
      for (const name of Object.keys(patternProperties)) checkPattern(name, at('patternProperties'));
    }
    for (const name of names) visit(record[name], at(name));
  };
  visit(schema, '');
}

/** Refuses a pattern that is too long, or whose matching could take exponential or cubic time. */
function checkPattern(source: string, path: string): void {
  if (source.length > formSchemaLimits.patternChars) {
    throw new CostlySchema(
      `${path} is ${source.length} characters long; a pattern may have at most ${formSchemaLimits.patternChars}`,
    );
  }
  try {
    new RegExp(source, 'u');
  } catch {
    return; // not a regular expression: compiling the schema says so
  }
  const problem = patternProblem(source);
  if (problem) throw new CostlySchema(`${path} ${JSON.stringify(source)} ${problem}`);
}

// ---------------------------------------------------------------------------------------------
// Data matched against patterns
//
// Even a pattern the check below lets through may take time growing with the square of the
// text's length — `\d+x` searched in a long run of digits does — so data is matched only up to a
// length, one string at a time and in all.

/** Characters that may still be matched while data is checked; infinite outside of a check. */
let patternCharsLeft = Number.POSITIVE_INFINITY;
/** The longest string refused during the current check, in characters. */
let longestPatternInput = 0;

/** Ajv's regular expressions, which refuse (do not match) strings beyond the limits. */
const boundedRegExp: NonNullable<CodeOptions['regExp']> = Object.assign(
  (source: string, flags: string) => {
    const regex = new RegExp(source, flags);
    return {
      test(text: string): boolean {
        patternCharsLeft -= text.length + 1;
        if (text.length > formSchemaLimits.patternInputChars) {
          longestPatternInput = Math.max(longestPatternInput, text.length);
          return false;
        }
        return patternCharsLeft >= 0 && regex.test(text);
      },
      // Ajv shares one compiled pattern between the places that use it by this text.
      toString: () => regex.toString(),
    };
  },
  // Only code generated to run elsewhere (Ajv "standalone"), which the engine does not do, names it.
  { code: 'holdpointBoundedRegExp' },
);

/** The problems of data that was not (fully) matched against the form's patterns. */
function patternInputProblems(errors: ErrorObject[], overspent: boolean): string[] {
  const { patternInputChars, patternInputTotal } = formSchemaLimits;
  const problems = errors
    .filter(
      (error) =>
        error.keyword === 'pattern' &&
        typeof error.data === 'string' &&
        error.data.length > patternInputChars,
    )
    .map((error) => {
      const where = error.instancePath || '(data)';
      const length = (error.data as string).length;
      return error.propertyName === undefined
        ? `${where} is ${length} characters long; at most ${patternInputChars} are matched against a pattern`
        : `${where} has a property name of ${length} characters; at most ${patternInputChars} are matched against a pattern`;
    });
  if (problems.length === 0 && longestPatternInput > patternInputChars) {
    problems.push(
      `(data) has a property name of ${longestPatternInput} characters; at most ${patternInputChars} are matched against a pattern`,
    );
  }
  if (overspent) {
    problems.push(
      `(data) has more than ${patternInputTotal} characters to match against the form's patterns; shorten the fields that have a pattern`,
    );
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Patterns that cannot run away
//
// V8 matches by backtracking: when a part of a pattern fails, it tries every other way the parts
// before it could have matched. That costs exponential time when a repeated group can match the
// same text in several ways — `(a+)+` splits "aaaa" as a|a|a|a, aa|a|a, … — and time growing with
// the k-th power of the length when k quantifiers in a row can take characters from one another
// (`\d*\d*\d*x`, `.*a.*a.*b`). No linear-time engine ships with Node, so such patterns are refused
// before the schema is compiled, with an analysis that errs on the side of refusing:
//
// - A pattern is read into a tree of character sets, assertions, lookarounds, groups and repeats.
//   The analysis knows which characters each part can match, first, last and anywhere (sets are
//   widened where it does not care to be exact: `\p{…}`, case-insensitive groups, `.`).
// - Two quantified parts in a row "take from one another" when the characters the first can give
//   back can start the second, and every required part between them (a fixed `@`) could also be
//   matched by the first. `[^@\s]+@[^@\s]+` does not; `\S+@\S+` does.
// - A repeated group (`*`, `+`, `{2,}`) is refused when one round can take from the next: the
//   group is put twice in a row and checked as above. `(a+)+`, `(a|aa)+`, `(.*a){10}`,
//   `(\w+\s?)*` are refused; `(ab)+`, `(\d{3}-)+` and `( [A-Z][a-z]+)*` are not.
// - The degree of a pattern is the longest chain of parts that take from one another, one more
//   when the pattern is not anchored with `^` (it is then tried at every position), and more for
//   what runs inside repeats and after quantified parts. Parts of 8 characters or more count as
//   quantified (`.*\S{900}x` reads 900 characters at each of the square of the text's tries).
//   Above 2 it is refused; up to 2 (square time) the length limits on data keep it short.
// - Backreferences (`\1`, `\k<name>`) are refused: matching them is not a regular language, and
//   `(a*)*\1`-style patterns backtrack without bound.

/** A set of code points: sorted, disjoint, non-adjacent ranges `[from, to]`. */
type CharSet = ReadonlyArray<readonly [number, number]>;

const maxCodePoint = 0x10ffff;
const anyChar: CharSet = [[0, maxCodePoint]];
const noChar: CharSet = [];

function charSet(ranges: ReadonlyArray<readonly [number, number]>): CharSet {
  const merged: Array<[number, number]> = [];
  for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

function union(a: CharSet, b: CharSet): CharSet {
  spend(a.length + b.length);
  return charSet([...a, ...b]);
}

function complement(set: CharSet): CharSet {
  const result: Array<[number, number]> = [];
  let next = 0;
  for (const [from, to] of set) {
    if (from > next) result.push([next, from - 1]);
    next = to + 1;
  }
  if (next <= maxCodePoint) result.push([next, maxCodePoint]);
  return result;
}

function overlaps(a: CharSet, b: CharSet): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    spend(1);
    const [aFrom, aTo] = a[i]!;
    const [bFrom, bTo] = b[j]!;
    if (aTo < bFrom) i++;
    else if (bTo < aFrom) j++;
    else return true;
  }
  return false;
}

/**
 * The analysis costs up to the square of a pattern's length, for each pattern: what it may do for
 * one schema is bounded too, in steps (comparisons and merges of character ranges): zod's string
 * formats take 1 to 600 each, a pattern of 1,000 characters built to be slow about 125,000, and
 * the bound about 70 ms.
 */
const maxCheckSteps = 2_000_000;
let checkSteps = 0;

function spend(steps: number): void {
  checkSteps += steps;
  if (checkSteps > maxCheckSteps) {
    throw new CostlySchema(
      'the patterns of the form schema take too long to check (too many quantified parts in all); use fewer or shorter patterns',
    );
  }
}

const digitChars = charSet([[0x30, 0x39]]);
const wordChars = charSet([
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
]);
const spaceChars = charSet([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);

type RegexNode =
  | { kind: 'chars'; set: CharSet }
  | { kind: 'assertion'; start: boolean }
  | { kind: 'lookaround'; alternatives: RegexNode[][]; behind: boolean }
  | { kind: 'group'; alternatives: RegexNode[][] }
  | { kind: 'repeat'; body: RegexNode; min: number; max: number }
  /** Single characters in a row, made one part by `partsOf`. */
  | { kind: 'stretch'; nodes: RegexNode[] };

/** Thrown while reading a pattern that is refused whatever its shape. */
class RefusedPattern extends Error {}

/**
 * Reads a pattern that `new RegExp(source, 'u')` accepts (Ajv's flags), so it need not handle
 * syntax errors: Unicode mode has no lenient "Annex B" forms.
 */
class PatternReader {
  private readonly chars: string[];
  private at = 0;

  constructor(source: string) {
    this.chars = Array.from(source);
  }

  read(): RegexNode[][] {
    return this.alternatives(false);
  }

  private is(char: string, offset = 0): boolean {
    return this.chars[this.at + offset] === char;
  }

  private next(): string {
    return this.chars[this.at++] ?? '';
  }

  /** Where `char` next occurs, or the end: reading always moves forward. */
  private find(char: string): number {
    const at = this.chars.indexOf(char, this.at);
    return at === -1 ? this.chars.length : at;
  }

  private alternatives(caseless: boolean): RegexNode[][] {
    const alternatives = [this.sequence(caseless)];
    while (this.is('|')) {
      this.at++;
      alternatives.push(this.sequence(caseless));
    }
    return alternatives;
  }

  private sequence(caseless: boolean): RegexNode[] {
    const nodes: RegexNode[] = [];
    while (this.at < this.chars.length && !this.is('|') && !this.is(')')) {
      nodes.push(this.quantified(this.atom(caseless)));
    }
    return nodes;
  }

  private quantified(body: RegexNode): RegexNode {
    let min: number;
    let max: number;
    if (this.is('*')) [min, max] = [0, Number.POSITIVE_INFINITY];
    else if (this.is('+')) [min, max] = [1, Number.POSITIVE_INFINITY];
    else if (this.is('?')) [min, max] = [0, 1];
    else if (this.is('{')) {
      const end = this.find('}');
      const [low = '', high] = this.chars
        .slice(this.at + 1, end)
        .join('')
        .split(',');
      min = Number(low);
      max = high === undefined ? min : high === '' ? Number.POSITIVE_INFINITY : Number(high);
      this.at = end;
    } else return body;
    this.at++;
    if (this.is('?')) this.at++; // lazy: the same choices, tried in another order
    return { kind: 'repeat', body, min, max };
  }

  private atom(caseless: boolean): RegexNode {
    const char = this.next();
    const chars = (set: CharSet): RegexNode => ({ kind: 'chars', set: caseless ? anyChar : set });
    switch (char) {
      case '^':
        return { kind: 'assertion', start: true };
      case '$':
        return { kind: 'assertion', start: false };
      case '.':
        return chars(anyChar);
      case '[':
        return chars(this.charClass());
      case '(':
        return this.group(caseless);
      case '\\': {
        if (this.is('b') || this.is('B')) {
          this.at++;
          return { kind: 'assertion', start: false };
        }
        if (this.is('k') || /[1-9]/.test(this.chars[this.at] ?? '')) {
          throw new RefusedPattern(
            'refers back to a group (\\1, \\k<name>), which can take exponential time to match; match the text without referring back',
          );
        }
        return chars(this.escape().set);
      }
      default:
        return chars([[char.codePointAt(0)!, char.codePointAt(0)!]]);
    }
  }

  private group(caseless: boolean): RegexNode {
    let look: 'ahead' | 'behind' | undefined;
    if (this.is('?')) {
      if (this.is('=', 1) || this.is('!', 1)) {
        look = 'ahead';
        this.at += 2;
      } else if (this.is('<', 1) && (this.is('=', 2) || this.is('!', 2))) {
        look = 'behind';
        this.at += 3;
      } else if (this.is('<', 1)) {
        this.at = this.find('>') + 1; // (?<name>
      } else {
        // (?: or modifiers such as (?i: and (?-i:
        const end = this.find(':');
        const flags = this.chars.slice(this.at + 1, end).join('');
        caseless ||= (flags.split('-')[0] ?? '').includes('i');
        this.at = end + 1;
      }
    }
    const alternatives = this.alternatives(caseless);
    this.at++; // ')'
    return look
      ? { kind: 'lookaround', alternatives, behind: look === 'behind' }
      : { kind: 'group', alternatives };
  }

  /** The characters a class stands for. */
  private charClass(): CharSet {
    const negated = this.is('^');
    if (negated) this.at++;
    const ranges: Array<readonly [number, number]> = [];
    let exact = true;
    while (this.at < this.chars.length && !this.is(']')) {
      const from = this.classAtom();
      if (from.single !== undefined && this.is('-') && !this.is(']', 1)) {
        this.at++;
        ranges.push([from.single, this.classAtom().single ?? from.single]);
      } else {
        ranges.push(...from.set);
        exact &&= from.exact;
      }
    }
    this.at++; // ']'
    const set = charSet(ranges);
    // The complement of a widened set would be too narrow.
    return negated ? (exact ? complement(set) : anyChar) : set;
  }

  private classAtom(): { set: CharSet; single?: number; exact: boolean } {
    const char = this.next();
    if (char !== '\\') {
      const code = char.codePointAt(0)!;
      return { set: [[code, code]], single: code, exact: true };
    }
    if (this.is('b')) {
      this.at++;
      return { set: [[8, 8]], single: 8, exact: true }; // backspace, inside a class
    }
    return this.escape();
  }

  /** The characters of an escape whose backslash was read. */
  private escape(): { set: CharSet; single?: number; exact: boolean } {
    const char = this.next();
    const single = (code: number) => ({ set: [[code, code]] as CharSet, single: code, exact: true });
    const hex = (digits: string) => single(Number.parseInt(digits, 16));
    switch (char) {
      case 'd':
        return { set: digitChars, exact: true };
      case 'D':
        return { set: complement(digitChars), exact: true };
      case 'w':
        return { set: wordChars, exact: true };
      case 'W':
        return { set: complement(wordChars), exact: true };
      case 's':
        return { set: spaceChars, exact: true };
      case 'S':
        return { set: complement(spaceChars), exact: true };
      case 'p':
      case 'P':
        this.at = this.find('}') + 1; // \p{…}: taken as any character
        return { set: anyChar, exact: false };
      case 't':
        return single(9);
      case 'n':
        return single(10);
      case 'v':
        return single(11);
      case 'f':
        return single(12);
      case 'r':
        return single(13);
      case '0':
        return single(0);
      case 'c':
        return single(this.next().charCodeAt(0) % 32);
      case 'x':
        return hex(this.next() + this.next());
      case 'u': {
        if (this.is('{')) {
          const end = this.find('}');
          const digits = this.chars.slice(this.at + 1, end).join('');
          this.at = end + 1;
          return hex(digits);
        }
        return hex(this.next() + this.next() + this.next() + this.next());
      }
      default:
        return single(char.codePointAt(0)!);
    }
  }
}

/** What a part of a pattern can match: lengths, and characters first, last and anywhere. */
interface Shape {
  min: number;
  max: number;
  first: CharSet;
  last: CharSet;
  all: CharSet;
  /** It can match texts of different lengths, or the same text in more than one way. */
  variable: boolean;
}

const zeroWidth: Shape = { min: 0, max: 0, first: noChar, last: noChar, all: noChar, variable: false };
const shapes = new WeakMap<RegexNode, Shape>();

function shapeOf(node: RegexNode): Shape {
  let shape = shapes.get(node);
  if (shape) return shape;
  switch (node.kind) {
    case 'chars':
      shape = { min: 1, max: 1, first: node.set, last: node.set, all: node.set, variable: false };
      break;
    case 'assertion':
    case 'lookaround':
      shape = zeroWidth;
      break;
    case 'stretch':
      shape = sequenceShape(node.nodes);
      break;
    case 'group': {
      const each = node.alternatives.map(sequenceShape);
      const firsts = each.map((item) => item.first);
      const ambiguous = firsts.some((first, i) =>
        firsts.slice(i + 1).some((other) => overlaps(first, other)),
      );
      const min = Math.min(...each.map((item) => item.min));
      const max = Math.max(...each.map((item) => item.max));
      shape = {
        min,
        max,
        first: each.reduce((set, item) => union(set, item.first), noChar),
        last: each.reduce((set, item) => union(set, item.last), noChar),
        all: each.reduce((set, item) => union(set, item.all), noChar),
        variable: min !== max || ambiguous || each.some((item) => item.variable),
      };
      break;
    }
    case 'repeat': {
      const body = shapeOf(node.body);
      const max = body.max === 0 || node.max === 0 ? 0 : body.max * node.max;
      shape =
        max === 0
          ? zeroWidth
          : {
              ...body,
              min: body.min * node.min,
              max,
              variable: body.variable || node.min !== node.max,
            };
      break;
    }
  }
  shapes.set(node, shape);
  return shape;
}

function sequenceShape(nodes: RegexNode[]): Shape {
  let shape: Shape = zeroWidth;
  for (const node of nodes) {
    const next = shapeOf(node);
    shape = {
      min: shape.min + next.min,
      max: shape.max + next.max,
      first: shape.min === 0 ? union(shape.first, next.first) : shape.first,
      last: next.min === 0 ? union(shape.last, next.last) : next.last,
      all: union(shape.all, next.all),
      variable: shape.variable || next.variable,
    };
  }
  return shape;
}

/**
 * Parts of a pattern at least this long count as quantified parts even when their length is fixed
 * (`\S{900}`, `(?:\d{3}){3}`, a long literal): each try of the parts around them reads them again.
 */
const longPart = 8;

/**
 * The parts of a sequence, with plain groups `(…)` / `(?:…)` of one alternative opened up and, with
 * `stretches`, characters in a row at least {@link longPart} long made one part.
 */
function partsOf(nodes: RegexNode[], stretches: boolean): RegexNode[] {
  const parts = nodes.flatMap((node): RegexNode[] =>
    node.kind === 'group' && node.alternatives.length === 1 ? partsOf(node.alternatives[0]!, false) : [node],
  );
  if (!stretches) return parts;
  const result: RegexNode[] = [];
  let run: RegexNode[] = [];
  const endRun = () => {
    const length = run.reduce((sum, node) => sum + shapeOf(node).max, 0);
    if (length >= longPart) result.push({ kind: 'stretch', nodes: run });
    else result.push(...run);
    run = [];
  };
  for (const part of parts) {
    const single = part.kind === 'repeat' ? part.body : part;
    if (single.kind === 'chars' && !shapeOf(part).variable) run.push(part);
    else {
      endRun();
      result.push(part);
    }
  }
  endRun();
  return result;
}

/**
 * For each part, the longest chains of variable parts (and, with `long`, of parts at least
 * {@link longPart} long) that take characters from one another, ending there and starting there (0
 * for other parts). Stops early once a chain is `enough`.
 */
function chains(parts: RegexNode[], enough: number, long: boolean): { ending: number[]; starting: number[] } {
  const each = parts.map((part) => {
    const shape = shapeOf(part);
    return { ...shape, variable: shape.variable || (long && shape.max >= longPart) };
  });
  const ending = each.map((shape): number => (shape.variable ? 1 : 0));
  const starting = [...ending];
  const links: Array<[number, number]> = [];
  // Links go forward, so the chain ending at `i` is known when `i` is reached.
  for (const [i, a] of each.entries()) {
    if (!a.variable) continue;
    for (let j = i + 1; j < each.length; j++) {
      const b = each[j]!;
      if (b.variable && overlaps(a.all, b.first) && overlaps(a.last, b.all)) {
        links.push([i, j]);
        ending[j] = Math.max(ending[j]!, ending[i]! + 1);
        if (ending[j]! >= enough) return { ending, starting }; // refused whatever follows
      }
      // A required part that `a` could not match ends what `a` can give to the parts after it.
      if (b.min > 0 && !overlaps(b.all, a.all)) break;
    }
  }
  // Listed by where they start, so backwards the chain starting at `j` is known before `i`.
  for (const [i, j] of links.reverse()) starting[i] = Math.max(starting[i]!, starting[j]! + 1);
  return { ending, starting };
}

/** Why a pattern is refused, or `undefined` when it cannot run away. */
function patternProblem(source: string): string | undefined {
  let alternatives: RegexNode[][];
  try {
    alternatives = new PatternReader(source).read();
  } catch (error) {
    if (error instanceof RefusedPattern) return error.message;
    throw error;
  }
  const anchored = alternatives.every((nodes) => {
    const first = nodes[0];
    return first?.kind === 'assertion' && first.start;
  });
  return sequencesProblem(alternatives, anchored ? 0 : 1).problem;
}

/** What the analysis of some sequences found: a problem, or how costly they are at most. */
interface Finding {
  problem?: string;
  /** The degree of the time they take: 2 for the square of the length of the text. */
  degree: number;
}

const polynomial =
  'has quantified parts in a row that can take characters from one another (as in \\d*\\d*\\d* or .*a.*a.*, or .*a.* without a leading ^), which can take time growing with the cube of the length of the text or faster; make neighbouring parts match different characters (e.g. [^@\\s]+@[^@\\s]+ rather than \\S+@\\S+) or anchor the pattern with ^';
const exponential =
  'repeats a group that can match the same text in more than one way (a quantifier or overlapping alternatives inside a repeated group, as in (a+)+, (a|aa)+ or (\\w+\\s?)*), which can take exponential time to match; use one quantifier, e.g. [\\w\\s]+ rather than (\\w+\\s?)+';
const variableLookbehind =
  'has a quantifier inside a lookbehind ((?<=…) or (?<!…)), which is matched backwards at every position and can take time growing with the cube of the length of the text; use a lookbehind of fixed length';

/**
 * Analyses a choice of sequences. `base`: the degree of how often they are tried (1 when the
 * pattern is searched for at every position); `inLoop`: they are inside a repeated group;
 * `lead`: the degree of the parts before them, in the sequences around them.
 */
function sequencesProblem(alternatives: RegexNode[][], base: number, inLoop = false, lead = 0): Finding {
  let degree = Math.max(base, lead);
  for (const nodes of alternatives) {
    const parts = partsOf(nodes, true);
    const { ending, starting } = chains(parts, 3, true);
    // The degree of the parts so far: how many times over what follows may be tried again.
    let sofar = Math.max(base, lead);
    for (const [k, part] of parts.entries()) {
      const length = ending[k]!;
      if (length > 0) {
        if (base + length > 2) return { problem: polynomial, degree };
        sofar = Math.max(sofar, base + length);
      }
      if (part.kind === 'lookaround') {
        // It reads on without consuming, so it is tried again wherever the parts before it can
        // end, and at every round of a repeat around it; once it matched, it is not tried again.
        if (part.behind && part.alternatives.some((sequence) => sequenceShape(sequence).variable)) {
          return { problem: variableLookbehind, degree };
        }
        const inner = sequencesProblem(part.alternatives, sofar + (inLoop ? 1 : 0), inLoop);
        if (inner.problem) return inner;
      } else if (part.kind === 'group' || (part.kind === 'repeat' && part.body.kind === 'group')) {
        // The parts of a group join the chains through it: each part before or after it that can
        // take characters from it adds one.
        const again = base + Math.max(length - 1, 0) + Math.max(starting[k]! - 1, 0);
        const group = part.kind === 'group' ? part : (part.body as Extract<RegexNode, { kind: 'group' }>);
        const loop = part.kind === 'repeat' && part.max > 1;
        if (loop && repeatsAmbiguously(group)) return { problem: exponential, degree };
        const inner = sequencesProblem(group.alternatives, again, inLoop || loop, sofar);
        if (inner.problem) return inner;
        sofar = Math.max(sofar, inner.degree);
      }
    }
    degree = Math.max(degree, sofar);
  }
  return { degree };
}

/** Whether one round of a repeated group can take characters from the next: the group twice. */
function repeatsAmbiguously(group: Extract<RegexNode, { kind: 'group' }>): boolean {
  const parts = group.alternatives.length === 1 ? partsOf(group.alternatives[0]!, false) : [group];
  return chains([...parts, ...parts], 2, false).ending.some((length) => length >= 2);
}
