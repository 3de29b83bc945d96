// Bad input, property-based: random and malformed options, decisions and ids thrown at every call of
// the engine's API — among them what broke it before: lone surrogates, NUL and control characters in
// every string, values with toJSON, Dates, Maps, typed arrays and class instances, durations near and
// past the limits, very long strings. Each call either succeeds with a correct result (plain JSON,
// and what another engine reads from the store is what this one holds) or is refused with a typed
// Holdpoint error (never a crash, a hang or a foreign error), and a refused call changes nothing: not
// the tasks, not the audit trail, not the idempotency keys, not Object.prototype.

import { randomBytes, randomUUID } from 'node:crypto';
import {
  createHoldpoint,
  type Holdpoint,
  HoldpointError,
  type HumanTask,
  type Intent,
} from '@holdpoint/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isolatedStore, storeSelected } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const codes = new Set([
  'VALIDATION',
  'NOT_FOUND',
  'ALREADY_DECIDED',
  'NOT_ASSIGNED',
  'STALE_VERSION',
  'INVALID_OUTCOME',
  'INVALID_STATE',
  'IDEMPOTENCY_CONFLICT',
]);

/** A cycle, a deep nesting, and keys that pollute prototypes when merged carelessly. */
function hostileValues(): unknown[] {
  const cycle: Record<string, unknown> = { name: 'cycle' };
  cycle.self = cycle;
  let deep: unknown = 'bottom';
  for (let depth = 0; depth < 5_000; depth++) deep = { deep };
  return [
    cycle,
    deep,
    JSON.parse('{"__proto__": {"polluted": "yes"}}'),
    { constructor: { prototype: { polluted: 'yes' } } },
    Object.create(null),
    [undefined, Number.NaN],
    new Map([['a', 1]]),
    new Date(Number.NaN),
    Symbol('s'),
    { s: Symbol('s') },
    { f: () => 1 },
    () => 1,
    null,
    undefined,
    10n,
    'x'.repeat(1_000_000),
    '\u0000\uD800',
    // biome-ignore lint/suspicious/noThenProperty: a thenable where a value belongs is one of the hostile inputs.
    { then: () => {} },
  ];
}

/**
 * Strings that broke a store or the engine: half an emoji (a lone surrogate, which UTF-8 stores
 * replace with U+FFFD), NUL (which PostgreSQL refuses), control characters, text just past the
 * limits of ids (320 bytes) and idempotency keys (512 bytes), text longer than an index row, and any
 * UTF-16 code units at all.
 */
const hostileText = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Q3 report 🚀'.slice(0, -1),
      '\uDC00tail',
      'mid\uD800dle',
      'ann\u0000@acme.test',
      '\u0000',
      'tab\tbell\u0007',
      'é'.repeat(161),
      '🚀'.repeat(129),
      randomBytes(3_000).toString('base64'),
      'x'.repeat(100_000),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
      maxLength: 12,
    }),
  },
);

class Invoice {
  amount = 5;
}
class Money {
  constructor(readonly cents: number) {}
  toJSON() {
    return { amount: this.cents / 100 };
  }
}
/** Values that are not plain JSON, or become it only through toJSON: alone, or nested in JSON. */
const hostileValue = fc.oneof(
  fc.constantFrom<unknown>(
    new URL('https://acme.test/q3?draft=1'),
    new Date(0),
    new Date(Number.NaN),
    new Money(12_345),
    new Invoice(),
    new Map([['a', 1]]),
    new Set([1]),
    new Uint8Array([1, 2]),
    new Float64Array(2),
    new ArrayBuffer(2),
    new String('boxed'),
    -0,
    { toJSON: () => ({ fine: true }) },
    {
      toJSON: () => {
        throw new Error('toJSON threw');
      },
    },
    { toJSON: () => new Map() },
  ),
  hostileText,
);
const withHostileValues = fc.oneof(
  { weight: 2, arbitrary: hostileValue },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.jsonValue({ maxDepth: 2 }), hostileValue)
      .map(([json, value]) => ({ json, value })),
  },
  { weight: 1, arbitrary: hostileValue.map((value) => [1, value]) },
);

const people = ['ann@acme.test', 'bob@acme.test', 'cat@acme.test'];
const junk = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.anything({
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withTypedArray: true,
      withSparseArray: true,
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(...hostileValues()) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -1,
      -0,
      1e308,
      2 ** 53 + 2,
      0.5,
    ),
  },
  { weight: 2, arbitrary: hostileText },
  { weight: 1, arbitrary: withHostileValues },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'tsk_',
      'int_',
      'tsk_x.y',
      'int_nope',
      `tsk_${'a'.repeat(100_000)}.b`,
    ),
  },
);
/** A value that is sometimes right for its field and often not. */
const maybe = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: junk });
const duration = maybe(
  fc.oneof(
    fc.integer({ min: 0, max: 100_000_000 }),
    fc.constantFrom(
      '250ms',
      '2h',
      '7d',
      '1.5s',
      '0ms',
      '1e3ms',
      '-5s',
      '5 parsecs',
      '1.5.5s',
      '999999999999w',
      // Near and past the limits: 365 days is the longest, a second the shortest remind.every.
      '365d',
      31_536_000_000,
      31_536_000_001,
      '366d',
      '52w',
      '53w',
      '100000000d',
      8.64e15,
      '999ms',
      '1s',
    ),
  ),
);
/** `$key-…` becomes a key of the run's own, so that runs on one store do not share keys. */
const key = maybe(
  fc.oneof(fc.constantFrom('$key-a', '$key-b', '$key-c', ' ', 'k'.repeat(501), 'é'.repeat(256)), hostileText),
);
/** A string field: mostly a plausible value, often a hostile one. */
const text = (good: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 3, arbitrary: good },
    { weight: 2, arbitrary: hostileText },
    { weight: 1, arbitrary: junk },
  );
/** A JSON field: JSON, or a value that is not plain JSON (possibly nested). */
const json = maybe(
  fc.oneof({ weight: 2, arbitrary: fc.jsonValue() }, { weight: 1, arbitrary: withHostileValues }),
);
const actor = maybe(
  fc.oneof(
    text(fc.constantFrom(...people)),
    fc.record({ id: text(fc.constantFrom(...people)), name: text(fc.string()) }),
  ),
);

/** An options object with some of the right keys, some wrong values, and perhaps a hostile key. */
function options(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const record = fc.record(fields, { requiredKeys: [] });
  const withHostileKeys = fc
    .tuple(record, fc.subarray(['__proto__', 'constructor', 'prototype', 'toString', 'unknownOption']), junk)
    .map(([base, keys, value]) => {
      const object: Record<string, unknown> = { ...base };
      // defineProperty, so that '__proto__' is an own key (as JSON.parse makes it), not the prototype.
      for (const name of keys)
        Object.defineProperty(object, name, { value, enumerable: true, configurable: true, writable: true });
      return object;
    });
  return fc.oneof(
    { weight: 6, arbitrary: record },
    { weight: 2, arbitrary: withHostileKeys },
    { weight: 1, arbitrary: junk },
  );
}

/** A request that is right in every field, so that accepted requests and waits happen too. */
const properRequest = fc.record(
  {
    intentId: fc.constant('$intent'),
    assignee: fc.constantFrom(...people),
    context: fc.jsonValue({ maxDepth: 3 }),
    timeout: fc.constantFrom('1h', 60_000),
    remind: fc.constant({ after: '10m', every: '5m', max: 2 }),
    escalateTo: fc.constantFrom('cat@acme.test', ['bob@acme.test']),
    idempotencyKey: fc.constantFrom('$key-a', '$key-b', '$key-c', '$key-d'),
  },
  { requiredKeys: ['assignee'] },
);
const requestOptions = options({
  intentId: maybe(fc.constant('$intent')),
  task: maybe(
    fc.constantFrom('approval', 'form', 'clarification', 'manual_action', 'override', 'review', 'bogus'),
  ),
  title: text(fc.string({ maxLength: 600 })),
  description: text(fc.string()),
  context: json,
  assignee: text(fc.constantFrom(...people)),
  assignees: maybe(fc.array(text(fc.constantFrom(...people, '')), { maxLength: 4 })),
  quorum: maybe(fc.oneof(fc.integer({ min: -1, max: 4 }), fc.constant('all'))),
  allowedOutcomes: maybe(
    fc.array(text(fc.constantFrom('approved', 'rejected', 'maybe', '')), { maxLength: 3 }),
  ),
  schema: maybe(
    fc.constantFrom(
      { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
      { type: 'nonsense' },
      { type: 'object', default: new Date(0) },
      { type: 'object', properties: new Map() },
    ),
  ),
  timeout: duration,
  remind: maybe(
    fc.record(
      { after: duration, every: duration, max: maybe(fc.integer({ min: -1, max: 5 })) },
      { requiredKeys: ['after'] },
    ),
  ),
  escalateTo: maybe(
    fc.oneof(
      fc.constantFrom(...people),
      fc.array(
        fc.oneof(
          text(fc.constantFrom(...people)),
          fc.record({ assignee: text(fc.constantFrom(...people)), timeout: duration }),
        ),
        { maxLength: 3 },
      ),
    ),
  ),
  reassign: maybe(fc.boolean()),
  onTimeout: maybe(fc.constantFrom('fail', 'reject', 'approve', 'explode')),
  idempotencyKey: key,
  metadata: maybe(
    fc.dictionary(fc.oneof(fc.string(), hostileText), fc.oneof(fc.jsonValue(), withHostileValues)),
  ),
});
const decisionInput = options({
  outcome: text(
    fc.constantFrom('approved', 'rejected', 'submitted', 'provided', 'completed', 'override_approved', ''),
  ),
  comment: text(fc.string()),
  data: maybe(fc.oneof(fc.jsonValue(), fc.record({ n: fc.integer() }), withHostileValues)),
  evidence: json,
  actor,
  versionDigest: text(fc.constantFrom('$digest', 'sha256:0000')),
  asAdmin: maybe(fc.boolean()),
});
/** `$task` and `$intent` are replaced by ids of the run's own tasks and intents. */
const taskId = maybe(fc.constant('$task'));
const intentId = maybe(fc.constant('$intent'));

type Call = { method: string; args: unknown[]; pick: number };
const call: fc.Arbitrary<Call> = fc
  .oneof(
    fc.tuple(fc.constant('requestHuman'), fc.tuple(fc.oneof(requestOptions, properRequest))),
    fc.tuple(fc.constant('waitForHuman'), fc.tuple(fc.oneof(requestOptions, properRequest))),
    fc.tuple(fc.constant('decide'), fc.tuple(taskId, decisionInput)),
    fc.tuple(
      fc.constant('submit'),
      fc.tuple(
        options({
          type: text(fc.string({ maxLength: 300 })),
          input: json,
          idempotencyKey: key,
        }),
      ),
    ),
    fc.tuple(
      fc.constant('listTasks'),
      fc.tuple(
        options({
          assignee: text(fc.constantFrom(...people)),
          status: text(fc.constantFrom('pending', 'decided', 'timed_out', 'canceled', 'weird')),
          limit: maybe(fc.integer({ min: -5, max: 20_000 })),
        }),
      ),
    ),
    fc.tuple(fc.constant('getTask'), fc.tuple(taskId)),
    fc.tuple(fc.constant('getIntent'), fc.tuple(intentId)),
    fc.tuple(fc.constant('complete'), fc.tuple(intentId, options({ result: json, actor }))),
    fc.tuple(fc.constant('cancel'), fc.tuple(intentId, options({ reason: text(fc.string()), actor }))),
    fc.tuple(fc.constant('fail'), fc.tuple(intentId, options({ error: text(fc.string()), actor }))),
    fc.tuple(fc.constant('cancelTask'), fc.tuple(taskId, options({ reason: text(fc.string()), actor }))),
    fc.tuple(
      fc.constant('events'),
      fc.tuple(
        options({
          since: text(fc.constantFrom('0|x:1', 'garbage')),
          limit: maybe(fc.integer({ min: -1, max: 2_000 })),
        }),
      ),
    ),
    fc.tuple(fc.constant('audit.export'), fc.tuple(intentId)),
    fc.tuple(
      fc.constant('audit.verify'),
      fc.tuple(text(fc.constantFrom('$export', '{"seq":1}\n', '')), maybe(fc.record({ trustedKeys: junk }))),
    ),
  )
  .chain(([method, args]) => fc.nat().map((pick) => ({ method, args: args as unknown[], pick })));

/** The tasks and intents a run starts from: open, decided, under a quorum, a form; a closed and an idle intent. */
async function seed(hp: Holdpoint): Promise<{ tasks: HumanTask[]; intents: Intent[] }> {
  const intent = await hp.submit({ type: 'report', input: { quarter: 'Q3' } });
  const tasks = [
    await hp.requestHuman({ intentId: intent.id, assignee: 'ann@acme.test', context: { draft: 1 } }),
    await hp.requestHuman({ assignees: ['ann@acme.test', 'bob@acme.test'], quorum: 2 }),
    await hp.requestHuman({
      task: 'form',
      assignee: 'bob@acme.test',
      schema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
    }),
    await hp.requestHuman({
      task: 'clarification',
      assignee: 'cat@acme.test',
      timeout: '1h',
      remind: { after: '10m' },
      escalateTo: 'ann@acme.test',
    }),
  ];
  const decided = await hp.requestHuman({ assignee: 'ann@acme.test' });
  await hp.decide(decided.id, { outcome: 'approved', actor: 'ann@acme.test' });
  tasks.push(await hp.getTask(decided.id));
  const closed = await hp.submit({ type: 'closed' });
  await hp.complete(closed.id);
  // Waits for nothing: complete, fail and cancel go through on it.
  const idle = await hp.submit({ type: 'idle' });
  return {
    tasks,
    intents: [intent, closed, idle, idle, ...tasks.map((task) => ({ id: task.intentId }) as Intent)],
  };
}

/** Everything a refused call must leave alone: every audit event, every task, as read back. */
async function state(hp: Holdpoint, options: { withoutRefusals?: boolean } = {}): Promise<string> {
  const events: string[] = [];
  let since: string | undefined;
  for (;;) {
    const page = await hp.events({ limit: 1_000, ...(since === undefined ? {} : { since }) });
    events.push(
      ...page.events
        .filter((event) => !options.withoutRefusals || event.type !== 'task-decision-refused')
        .map((event) => `${event.intentId}:${event.seq}:${event.hash}`),
    );
    if (page.events.length < 1_000 || page.cursor === undefined) break;
    since = page.cursor;
  }
  const { tasks } = await hp.listTasks({ limit: 10_000 });
  const intentIds = [...new Set(events.map((entry) => entry.slice(0, entry.indexOf(':'))))].sort();
  // A recorded refusal moves only its intent's seq on.
  const intents = (await Promise.all(intentIds.map((id) => hp.getIntent(id)))).map(({ seq, ...intent }) =>
    options.withoutRefusals ? intent : { ...intent, seq },
  );
  return JSON.stringify([events.sort(), tasks.sort((a, b) => (a.id < b.id ? -1 : 1)), intents]);
}

/** Put the run's ids where the arbitraries left `$task`, `$intent`, `$export`, `$digest`: in an argument or an option. */
function substitute(
  value: unknown,
  ids: { task: HumanTask; intent: string; exported: string; run: string },
  depth = 0,
): unknown {
  if (value === '$task') return ids.task.id;
  if (value === '$intent') return ids.intent;
  if (value === '$export') return ids.exported;
  if (value === '$digest') return ids.task.versionDigest;
  if (typeof value === 'string' && value.startsWith('$key-')) return `${ids.run}/${value.slice(1)}`;
  if (
    depth === 0 &&
    value !== null &&
    typeof value === 'object' &&
    [Object.prototype, null].includes(Object.getPrototypeOf(value))
  ) {
    // The copy keeps the original's prototype: an options object without one is one of the inputs.
    const copy = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
    for (const [name, item] of Object.entries(value)) {
      Object.defineProperty(copy, name, {
        value: substitute(item, ids, depth + 1),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    }
    return copy;
  }
  return value;
}

function invoke(hp: Holdpoint, method: string, args: unknown[]): Promise<unknown> {
  const api = hp as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>;
  if (method === 'audit.export') return hp.audit.export(args[0] as string);
  if (method === 'audit.verify') return hp.audit.verify(args[0] as string, args[1] as never);
  return Promise.resolve().then(() =>
    (api[method] as (...values: unknown[]) => Promise<unknown>).apply(hp, args),
  );
}

const prototypeNames = () =>
  JSON.stringify([
    Object.getOwnPropertyNames(Object.prototype).sort(),
    Object.getOwnPropertyNames(Array.prototype).sort(),
  ]);

/**
 * Throw `runs` random sequences of calls at a fresh state of `open()`'s engine and check each call.
 * The engine fires no timers: an accepted request may ask for a deadline of 0 ms, and its timeout
 * firing between two snapshots would look like a change made by the refused call in between.
 * Returns how the calls ended, for the summary.
 */
async function hammer(specOf: () => string, runs: number, seedValue?: number) {
  const tally = { calls: 0, succeeded: 0, refused: new Map<string, number>(), aborted: 0 };
  const prototypesBefore = prototypeNames();
  const result = await fc.check(
    fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 4 }), async (calls) => {
      const spec = specOf();
      const hp = await createHoldpoint({ store: spec, timers: false });
      // A second engine on the same store, opened at the first result to check: it folds the
      // intents from the store's events, never from what the first engine cached.
      const reader = {
        engine: undefined as Holdpoint | undefined,
        open: () => createHoldpoint({ store: spec, timers: false }),
      };
      try {
        await run(hp, reader, calls);
      } finally {
        await hp.close();
        await reader.engine?.close();
      }
    }),
    { numRuns: runs, ...(seedValue === undefined ? {} : { seed: seedValue }) },
  );
  if (result.failed) {
    // Not fc.assert: its report prints the counterexample, and a 5,000-deep value overflows the
    // stack there, hiding what failed. The seed and path replay it exactly.
    const error = result.errorInstance;
    throw new Error(
      `bad input: property failed after ${result.numRuns} runs (seed ${result.seed}, path "${result.counterexamplePath}"): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }
  return tally;

  /**
   * A correct result: plain JSON as returned, and the store holds what this engine holds — another
   * engine, reading the store with no cache, sees the same tasks and events.
   */
  async function checkResult(
    hp: Holdpoint,
    reader: { engine: Holdpoint | undefined; open: () => Promise<Holdpoint> },
    method: string,
    value: unknown,
  ): Promise<void> {
    if (value !== null && typeof value === 'object') {
      expect(
        JSON.parse(JSON.stringify(value)),
        `${method} returned something that is not plain JSON`,
      ).toEqual(value);
    }
    reader.engine ??= await reader.open();
    expect(
      await state(reader.engine),
      `after ${method}, the store holds something else than the engine`,
    ).toBe(await state(hp));
  }

  async function run(
    hp: Holdpoint,
    reader: { engine: Holdpoint | undefined; open: () => Promise<Holdpoint> },
    calls: Call[],
  ): Promise<void> {
    const { tasks, intents } = await seed(hp);
    const run = randomUUID();
    // Keys that a call got to use: reusing one for another request is rightly refused.
    const usedKeys = new Set<string>();
    for (const { method, args, pick } of calls) {
      const task = tasks[pick % tasks.length] as HumanTask;
      const intent = (intents[pick % intents.length] as Intent).id;
      const ids = { task, intent, exported: await hp.audit.export(task.intentId), run };
      let values = args.map((value) => substitute(value, ids));
      const signal = AbortSignal.timeout(30);
      if (
        method === 'waitForHuman' &&
        values[0] !== null &&
        typeof values[0] === 'object' &&
        !Array.isArray(values[0])
      ) {
        // A wait that is accepted would wait for ever: it is stopped by its own signal.
        values = [{ ...(values[0] as object), signal }];
      }
      const before = await state(hp);
      const beforeWithoutRefusals = method === 'decide' ? await state(hp, { withoutRefusals: true }) : before;
      tally.calls++;
      let hang: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        invoke(hp, method, values).then(
          (value: unknown) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
        // A hang guard, not a speed limit: a call normally settles in milliseconds, but one on a
        // machine busy with other work may wait seconds for a core; one that never settles is a hang.
        new Promise<{ ok: false; error: unknown }>((resolve) => {
          hang = setTimeout(
            () => resolve({ ok: false, error: new Error(`${method} did not settle within 30 s`) }),
            30_000,
          );
        }),
      ]);
      clearTimeout(hang);
      expect(prototypeNames(), `${method} changed a prototype`).toBe(prototypesBefore);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const options = values[0] as { idempotencyKey?: unknown } | undefined;
      const requestKey =
        (method === 'requestHuman' || method === 'waitForHuman') &&
        typeof options?.idempotencyKey === 'string'
          ? options.idempotencyKey
          : undefined;
      if (outcome.ok) {
        tally.succeeded++;
        if (requestKey !== undefined) usedKeys.add(requestKey);
        await checkResult(hp, reader, method, outcome.value);
        continue;
      }
      const error = outcome.error;
      if (method === 'waitForHuman' && error === signal.reason) {
        // Accepted, then stopped by its signal: the task stays, as documented.
        tally.aborted++;
        if (requestKey !== undefined) usedKeys.add(requestKey);
        await checkResult(hp, reader, method, undefined);
        continue;
      }
      if (!HoldpointError.isInstance(error) || typeof error.code !== 'string' || !codes.has(error.code)) {
        throw new Error(
          `${method}(${showArgs(values)}) threw something other than a typed refusal: ${error instanceof Error ? `${error.name}: ${error.message}` : shown(error)}`,
          { cause: error },
        );
      }
      tally.refused.set(error.code, (tally.refused.get(error.code) ?? 0) + 1);
      // A stranger's refused decision is recorded (once per person and task): the one change a
      // refusal makes, by design; nothing else may differ.
      const refusalRecorded = method === 'decide' && error.code === 'NOT_ASSIGNED';
      expect(
        await state(hp, { withoutRefusals: refusalRecorded }),
        `${method} was refused with ${error.code} but changed the state`,
      ).toBe(refusalRecorded ? beforeWithoutRefusals : before);
      // A refused request must not have taken its idempotency key: the same key is free for a
      // proper request afterwards.
      if (requestKey !== undefined && !usedKeys.has(requestKey)) {
        const probe = await hp.requestHuman({ assignee: 'ann@acme.test', idempotencyKey: requestKey }).then(
          () => undefined,
          (probeError: unknown) => probeError,
        );
        usedKeys.add(requestKey);
        if (HoldpointError.isInstance(probe) && probe.code === 'IDEMPOTENCY_CONFLICT') {
          throw new Error(
            `${method} was refused with ${error.code}, yet it took idempotencyKey '${requestKey}'`,
          );
        }
      }
    }
  }
}

/** A short, printable form of any value, even one whose own toString throws. */
function shown(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_, item) => (typeof item === 'bigint' ? `${item}n` : item));
    if (text !== undefined) return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    // A cycle, or a throwing toJSON: fall through.
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
const showArgs = (values: unknown[]) => values.map(shown).join(', ');

function summarize(
  store: string,
  runs: number,
  tally: Awaited<ReturnType<typeof hammer>>,
  ms: number,
): string {
  const refused = [...tally.refused.values()].reduce((sum, count) => sum + count, 0);
  const codesSeen = [...tally.refused].map(([code, count]) => `${code} ${count}`).join(', ');
  return (
    `faults: bad input on ${store}: ${runs} runs, ${tally.calls} calls: ${tally.succeeded} succeeded, ` +
    `${tally.aborted} waits stopped by their signal, ${refused} refused with typed errors (${codesSeen}), ` +
    `0 crashes, 0 untyped errors, 0 state changes by refused calls, ${(ms / 1000).toFixed(1)}s`
  );
}

describe('bad input to the engine API', () => {
  it('on the memory store: every call succeeds or is refused with a typed error, and a refused call changes nothing', async () => {
    const started = Date.now();
    const runs = 300;
    // A named store per run, so that a second engine can read what the first one wrote.
    const tally = await hammer(() => `memory://bad-input-${randomUUID()}`, runs);
    const summary = summarize('memory', runs, tally, Date.now() - started);
    console.log(summary);
    // Both sides were exercised: calls that went through, and refusals of several kinds.
    expect(tally.succeeded, summary).toBeGreaterThan(runs / 10);
    expect(tally.refused.size, summary).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it.runIf(storeSelected('sqlite'))(
    'on a SQLite file, reopened for every run',
    async () => {
      const started = Date.now();
      const store = isolatedStore('sqlite');
      cleanups.push(store.cleanup);
      const runs = 60;
      const tally = await hammer(() => store.spec, runs);
      const summary = summarize('sqlite', runs, tally, Date.now() - started);
      console.log(summary);
      expect(tally.succeeded, summary).toBeGreaterThan(runs / 10);
    },
    120_000,
  );

  // PostgreSQL refuses NUL in text and index rows over ~2.7 KB; Redis keeps keys as bytes: the
  // strings that reach a store are the ones that must be refused, or stored exactly, on each.
  it.each((['redis', 'postgres'] as const).filter((kind) => storeSelected(kind)))(
    'on %s, one store for all runs',
    async (kind) => {
      const started = Date.now();
      const store = isolatedStore(kind);
      cleanups.push(store.cleanup);
      const runs = 15;
      const tally = await hammer(() => store.spec, runs);
      const summary = summarize(kind, runs, tally, Date.now() - started);
      console.log(summary);
      expect(tally.succeeded, summary).toBeGreaterThan(runs / 10);
    },
    120_000,
  );
});

// Found by the properties above; each was an untyped error, a broken audit chain or a changed state.
describe('bad input the properties found', () => {
  const ann = 'ann@acme.test';

  async function refusal(call: () => Promise<unknown>): Promise<string> {
    try {
      await call();
      return 'accepted';
    } catch (error) {
      return HoldpointError.isInstance(error) ? error.code : `untyped ${String(error)}`;
    }
  }

  it('refuses values that are not JSON (symbols, functions, bigints, cycles) and records nothing', async () => {
    const hp = await createHoldpoint({ store: 'memory://' });
    cleanups.push(() => hp.close());
    const intent = await hp.submit({ type: 'report' });
    const task = await hp.requestHuman({ intentId: intent.id, assignee: ann });
    const idle = await hp.submit({ type: 'idle' });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const before = await state(hp);
    const outcomes = {
      'submit input with a symbol': await refusal(() =>
        hp.submit({ type: 'report', input: { s: Symbol('s') } }),
      ),
      'submit input that is a function': await refusal(() => hp.submit({ type: 'report', input: () => 1 })),
      'context with a symbol': await refusal(() =>
        hp.requestHuman({ assignee: ann, context: { s: Symbol('s') } }),
      ),
      'metadata with a function': await refusal(() =>
        hp.requestHuman({ assignee: ann, metadata: { f: () => 1 } }),
      ),
      'decision data with a symbol': await refusal(() =>
        hp.decide(task.id, { outcome: 'approved', actor: ann, data: { s: Symbol('s') } }),
      ),
      'complete result a bigint': await refusal(() => hp.complete(idle.id, { result: 10n })),
      'complete result a cycle': await refusal(() => hp.complete(idle.id, { result: cycle })),
      'cancel reason a symbol': await refusal(() =>
        hp.cancel(idle.id, { reason: Symbol('r') as unknown as string }),
      ),
      'cancelTask reason an object': await refusal(() =>
        hp.cancelTask(task.id, { reason: { because: 1n } as unknown as string }),
      ),
    };
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(outcomes).map((name) => [name, 'VALIDATION'])));
    expect(await state(hp)).toBe(before);
    for (const id of [intent.id, idle.id])
      expect(await hp.audit.verify(await hp.audit.export(id))).toMatchObject({ ok: true });
  });

  it('refuses ids and options of the wrong type with VALIDATION rather than a TypeError', async () => {
    const hp = await createHoldpoint({ store: 'memory://' });
    cleanups.push(() => hp.close());
    const intent = await hp.submit({ type: 'report' });
    const task = await hp.requestHuman({ assignee: ann });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const untyped = <T>(value: unknown) => value as T;
    const outcomes = {
      'getIntent(symbol)': await refusal(() => hp.getIntent(untyped(Symbol('s')))),
      'audit.export(null-prototype object)': await refusal(() =>
        hp.audit.export(untyped(Object.create(null))),
      ),
      'complete(object)': await refusal(() => hp.complete(untyped({ id: intent.id }))),
      'getTask(bigint)': await refusal(() => hp.getTask(untyped(10n))),
      'decide(cycle)': await refusal(() => hp.decide(untyped(cycle), { outcome: 'approved', actor: ann })),
      'complete(id, null)': await refusal(() => hp.complete(intent.id, untyped(null))),
      'cancel(id, null)': await refusal(() => hp.cancel(intent.id, untyped(null))),
      'cancelTask(id, null)': await refusal(() => hp.cancelTask(task.id, untyped(null))),
      'listTasks(null)': await refusal(() => hp.listTasks(untyped(null))),
      'listTasks({ assignee: symbol })': await refusal(() =>
        hp.listTasks({ assignee: untyped(Symbol('s')) }),
      ),
      'events(null)': await refusal(() => hp.events(untyped(null))),
      'events({ since: null-prototype object })': await refusal(() =>
        hp.events({ since: untyped(Object.create(null)) }),
      ),
    };
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(outcomes).map((name) => [name, 'VALIDATION'])));
  });

  it('leaves the idempotency key of a refused request free for the request that follows', async () => {
    const hp = await createHoldpoint({ store: 'memory://' });
    cleanups.push(() => hp.close());
    // An intent id with a typo, then the right one, under the same key.
    expect(
      await refusal(() => hp.requestHuman({ intentId: 'int_typo', assignee: ann, idempotencyKey: 'k1' })),
    ).toBe('NOT_FOUND');
    const intent = await hp.submit({ type: 'report' });
    expect(
      await refusal(() => hp.requestHuman({ intentId: intent.id, assignee: ann, idempotencyKey: 'k1' })),
    ).toBe('accepted');
    // A closed intent, then an open one.
    const closed = await hp.submit({ type: 'closed' });
    await hp.complete(closed.id);
    expect(
      await refusal(() => hp.requestHuman({ intentId: closed.id, assignee: ann, idempotencyKey: 'k2' })),
    ).toBe('INVALID_STATE');
    const open = await hp.submit({ type: 'open' });
    expect(
      await refusal(() => hp.requestHuman({ intentId: open.id, assignee: ann, idempotencyKey: 'k2' })),
    ).toBe('accepted');
  });
});
