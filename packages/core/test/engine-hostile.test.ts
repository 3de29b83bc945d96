// The engine under hostile input, on every store: strings that cannot be keys, values that are not
// plain JSON, durations with no date, idempotency keys reused for other requests, strangers deciding,
// timers that can never fire, calls racing close() — each a typed refusal that changes nothing, or a
// correct result that the store holds exactly as the engine reports it.
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AuditEvent,
  createStore,
  type Holdpoint,
  type HoldpointOptions,
  type RequestHumanOptions,
  type StoreBackend,
  ValidationError,
} from '../src/index.js';
import { layout, timerId } from '../src/store/layout.js';
import { auditEvents, backgroundErrors, engineFor, errorOf } from './helpers/engine.js';
import { advance, eventuallyAtFakeTime as eventually, fakeClock } from './helpers/fake-clock.js';
import { storeCases } from './helpers/stores.js';
import { wrapStore as wrap } from './helpers/wrap-store.js';

const ann = 'ann@acme.test';
const bob = 'bob@acme.test';
const hour = 3_600_000;

/** Everything a refused call must leave alone: every event and every task, as the store holds them. */
async function snapshot(hp: Holdpoint): Promise<string> {
  const page = await hp.events({ limit: 1_000 });
  const { tasks } = await hp.listTasks({ limit: 10_000 });
  return JSON.stringify([page.events.map((event) => event.hash).sort(), tasks.map((task) => task.id).sort()]);
}

describe.each(storeCases)('the engine under hostile input on $name', (storeCase) => {
  const opened: StoreBackend[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  async function engine(options: HoldpointOptions = {}): Promise<{ hp: Holdpoint; spec: string }> {
    await storeCase.ready();
    const spec = storeCase.spec();
    return { hp: await engineFor(spec, { timers: false, ...options }), spec };
  }

  async function backend(spec: string, overrides: Partial<StoreBackend> = {}): Promise<StoreBackend> {
    const store = await createStore(spec);
    opened.push(store);
    return wrap(store, overrides);
  }

  it('refuses lone surrogates, NUL and over-long text in every string that becomes a key or an index value', async () => {
    const { hp } = await engine();
    const intent = await hp.submit({ type: 'report' });
    const task = await hp.requestHuman({ intentId: intent.id, assignee: ann });
    const before = await snapshot(hp);
    const halfEmoji = 'Q3 report 🚀'.slice(0, -1);
    const requests: Array<[string, RequestHumanOptions]> = [
      ['assignee with a lone surrogate', { assignee: halfEmoji }],
      ['assignee with NUL', { assignee: 'ann\u0000@acme.test' }],
      ['an assignee of 321 bytes', { assignees: [ann, `${'a'.repeat(311)}@acme.test`] }],
      [
        'escalation delegate with a control character',
        { assignee: ann, timeout: '1h', escalateTo: 'bo\u0007b' },
      ],
      ['idempotency key with a lone surrogate', { assignee: ann, idempotencyKey: halfEmoji }],
      ['idempotency key of 513 bytes', { assignee: ann, idempotencyKey: `${'é'.repeat(256)}k` }],
      ['intent id with NUL', { assignee: ann, intentId: `${intent.id}\u0000` }],
      ['outcome with a lone surrogate', { assignee: ann, allowedOutcomes: ['ok', '\uDC00'] }],
      ['title with a lone surrogate', { assignee: ann, title: halfEmoji }],
    ];
    for (const [what, request] of requests) {
      const error = await errorOf(hp.requestHuman(request)).catch((failure: Error) => {
        throw new Error(`${what}: ${failure.message}`);
      });
      expect({ what, code: error.code }).toEqual({ what, code: 'VALIDATION' });
    }
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['submit type with NUL', () => hp.submit({ type: 'a\u0000' })],
      ['submit key with a lone surrogate, twice', () => hp.submit({ type: 'r', idempotencyKey: halfEmoji })],
      ['again', () => hp.submit({ type: 'r', idempotencyKey: halfEmoji })],
      ['decide by an actor with NUL', () => hp.decide(task.id, { outcome: 'approved', actor: 'ann\u0000' })],
      [
        'decide with a comment with a lone surrogate',
        () => hp.decide(task.id, { outcome: 'approved', actor: ann, comment: '\uD800' }),
      ],
      ['listTasks for an assignee with NUL', () => hp.listTasks({ assignee: '\u0000' })],
      ['cancel with a reason of a lone surrogate', () => hp.cancel(intent.id, { reason: '\uDFFF' })],
    ];
    for (const [what, call] of calls) {
      const error = await errorOf(call()).catch((failure: Error) => {
        throw new Error(`${what}: ${failure.message}`);
      });
      expect({ what, code: error.code }).toEqual({ what, code: 'VALIDATION' });
    }
    expect(await snapshot(hp)).toBe(before);
    // At the limits, accepted — and the store takes them (PostgreSQL's index rows included).
    const longest = `${'a'.repeat(310)}@acme.test`;
    const accepted = await hp.requestHuman({
      assignee: longest,
      idempotencyKey: '🚀'.repeat(128),
      escalateTo: [{ assignee: `${'b'.repeat(310)}@acme.test`, timeout: '2h' }],
      timeout: '1h',
    });
    expect((await hp.listTasks({ assignee: longest })).tasks.map((listed) => listed.id)).toEqual([
      accepted.id,
    ]);
  });

  it('stores NUL and control characters inside text and JSON as they were given', async () => {
    const { hp, spec } = await engine();
    const context = { note: 'line\u0000one\nline two\u0007', nested: ['\u0000'] };
    const task = await hp.requestHuman({ assignee: ann, context, description: 'a\u0000b' });
    const fresh = await engineFor(spec, { timers: false });
    expect((await fresh.getTask(task.id)).context).toEqual(context);
    expect((await fresh.getTask(task.id)).description).toBe('a\u0000b');
  });

  it('turns values with toJSON into the JSON they write before anything is recorded; the cache equals the store', async () => {
    const { hp, spec } = await engine();
    class Money {
      constructor(readonly cents: number) {}
      toJSON() {
        return { amount: this.cents / 100, currency: 'EUR' };
      }
    }
    const link = new URL('https://acme.test/q3?draft=1');
    const task = await hp.requestHuman({
      assignee: ann,
      context: { link, at: new Date(0), total: new Money(12_345), minusZero: -0 },
      metadata: { seen: new Date(86_400_000) },
    });
    const context = {
      link: 'https://acme.test/q3?draft=1',
      at: '1970-01-01T00:00:00.000Z',
      total: { amount: 123.45, currency: 'EUR' },
      minusZero: 0,
    };
    expect(task.context).toEqual(context);
    expect(Object.is((task.context as { minusZero: number }).minusZero, 0)).toBe(true);
    const waited = await hp.requestHuman({ assignee: ann, idempotencyKey: 'wait-url' });
    const waiting = hp.waitForHuman({ assignee: ann, idempotencyKey: 'wait-url' });
    await hp.decide(waited.id, { outcome: 'approved', actor: ann, data: { link }, evidence: [link] });
    await expect(waiting).resolves.toMatchObject({ data: { link: link.href }, evidence: [link.href] });
    const completed = await hp
      .complete(task.intentId, { result: { sent: link, at: new Date(0) } })
      .catch((error: unknown) => error);
    expect(completed).toMatchObject({ code: 'INVALID_STATE' }); // its task is pending
    await hp.decide(task.id, { outcome: 'approved', actor: ann });
    const intent = await hp.complete(task.intentId, { result: { sent: link, at: new Date(0) } });
    expect(intent.result).toEqual({ sent: link.href, at: '1970-01-01T00:00:00.000Z' });
    // Another engine reads from the store, not from this engine's cache: the same.
    const fresh = await engineFor(spec, { timers: false });
    expect(await fresh.getTask(task.id)).toEqual(await hp.getTask(task.id));
    expect(await fresh.getIntent(task.intentId)).toEqual(await hp.getIntent(task.intentId));
    expect(await fresh.getTask(waited.id)).toEqual(await hp.getTask(waited.id));
    expect(await hp.audit.verify(await hp.audit.export(task.intentId))).toMatchObject({ ok: true });
  });

  it('refuses Map, Set, typed arrays, class instances and invalid dates with VALIDATION, recording nothing', async () => {
    const { hp } = await engine();
    const intent = await hp.submit({ type: 'report' });
    const task = await hp.requestHuman({ intentId: intent.id, assignee: ann });
    const before = await snapshot(hp);
    class Invoice {
      amount = 5;
    }
    const values: Array<[string, unknown]> = [
      ['a Map', new Map([['a', 1]])],
      ['a Set', new Set([1])],
      ['a Uint8Array', new Uint8Array([1, 2])],
      ['an ArrayBuffer', new ArrayBuffer(2)],
      ['an Invoice instance', new Invoice()],
      ['an invalid Date', new Date(Number.NaN)],
      ['a String', new String('boxed')],
    ];
    for (const [kind, value] of values) {
      const refusals = [
        hp.requestHuman({ assignee: ann, context: { nested: [value] }, idempotencyKey: 'k' }),
        hp.requestHuman({ assignee: ann, metadata: { value } }),
        hp.submit({ type: 'report', input: value }),
        hp.decide(task.id, { outcome: 'approved', actor: ann, data: value }),
        hp.decide(task.id, { outcome: 'approved', actor: ann, evidence: { value } }),
        hp.complete(intent.id, { result: value }),
      ];
      for (const refusal of refusals) {
        const error = await errorOf(refusal);
        expect({ kind, code: error.code }).toEqual({ kind, code: 'VALIDATION' });
        expect(error.message).toContain(kind.replace(/^an? /, ''));
      }
    }
    expect(await snapshot(hp)).toBe(before);
    // The key of the refused request is free for a proper one.
    expect((await hp.requestHuman({ assignee: ann, idempotencyKey: 'k' })).status).toBe('pending');
  });

  it('refuses durations that have no date, and leaves no orphan intent behind', async () => {
    const { hp } = await engine();
    const before = await snapshot(hp);
    const requests: Array<[string, RequestHumanOptions]> = [
      ["timeout '100000000d'", { assignee: ann, timeout: '100000000d' }],
      ['timeout 1e308', { assignee: ann, timeout: 1e308 }],
      ["timeout '366d'", { assignee: ann, timeout: '366d' }],
      [
        'a 366-day escalation step',
        { assignee: ann, timeout: '1h', escalateTo: [{ assignee: bob, timeout: '366d' }] },
      ],
      ["remind.after '100000000d'", { assignee: ann, remind: { after: '100000000d' } }],
      ["remind.every '999ms'", { assignee: ann, remind: { after: '1h', every: '999ms' } }],
      ['remind.max 101', { assignee: ann, remind: { after: '1h', every: '1h', max: 101 } }],
    ];
    for (const [what, request] of requests) {
      const error = await errorOf(hp.waitForHuman({ ...request, idempotencyKey: what }));
      expect({ what, code: error.code }).toEqual({ what, code: 'VALIDATION' });
    }
    expect(await snapshot(hp)).toBe(before);
    const longest = await hp.requestHuman({
      assignee: ann,
      timeout: '365d',
      escalateTo: [{ assignee: bob, timeout: 31_536_000_000 }],
      remind: { after: '365d', every: '1s' },
    });
    expect(longest.remind).toEqual({ afterMs: 31_536_000_000, everyMs: 1_000, max: 10 });
    expect(Date.parse(longest.deadlineAt as string) - Date.parse(longest.createdAt)).toBe(31_536_000_000);
  });

  it('refuses an idempotency key reused for another request, naming every option that differs', async () => {
    const { hp } = await engine();
    const base: RequestHumanOptions = {
      assignees: [ann, bob],
      title: 'Pay supplier',
      context: { amount: 120 },
      timeout: '1h',
      onTimeout: 'reject',
      idempotencyKey: `pay-${storeCase.name}`,
    };
    const task = await hp.requestHuman(base);
    expect((await hp.requestHuman({ ...base, assignees: [bob, ann] })).id).toBe(task.id);
    const changes: Array<[RequestHumanOptions, string[]]> = [
      [{ quorum: 'all' }, ['quorum']],
      [{ onTimeout: 'approve' }, ['onTimeout']],
      [{ timeout: '2h' }, ['timeout']],
      [{ allowedOutcomes: ['approved', 'rejected', 'escalated'] }, ['allowedOutcomes']],
      [{ escalateTo: 'cfo@acme.test' }, ['escalateTo']],
      [{ remind: { after: '30m' } }, ['remind']],
      [{ title: 'Pay supplier twice' }, ['title']],
      [{ description: 'More context' }, ['description']],
      [{ schema: { type: 'object' } }, ['schema']],
      [{ metadata: { ticket: 7 } }, ['metadata']],
      [{ context: { amount: 1_200 } }, ['context']],
      [{ task: 'review' }, ['task', 'allowedOutcomes']],
      [{ assignees: [ann] }, ['assignees']],
      [{ reassign: true, quorum: 2 }, ['quorum', 'reassign']],
    ];
    for (const [change, fields] of changes) {
      const error = await errorOf(hp.requestHuman({ ...base, ...change }));
      expect({ change, code: error.code, fields: error.fields }).toEqual({
        change,
        code: 'IDEMPOTENCY_CONFLICT',
        fields,
      });
      expect(error.message).toContain(fields.join(', '));
      expect(error.existingId).toBe(task.id);
    }
    expect((await hp.getTask(task.id)).quorum).toBe(1);
    const intent = await hp.submit({ type: 'report', input: { quarter: 'Q3' }, idempotencyKey: 'r' });
    expect((await hp.submit({ type: 'report', input: { quarter: 'Q3' }, idempotencyKey: 'r' })).id).toBe(
      intent.id,
    );
    expect(
      await errorOf(hp.submit({ type: 'report', input: { quarter: 'Q4' }, idempotencyKey: 'r' })),
    ).toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
      fields: ['input'],
    });
    expect(
      await errorOf(hp.submit({ type: 'memo', input: { quarter: 'Q3' }, idempotencyKey: 'r' })),
    ).toMatchObject({
      fields: ['type'],
    });
  });

  it('checks who acts first: a stranger gets NOT_ASSIGNED and learns nothing; the attempt is recorded once', async () => {
    const { hp } = await engine();
    const task = await hp.requestHuman({ assignee: ann, context: { v: 1 } });
    const stale = 'sha256:0000';
    const refusal = await errorOf(
      hp.decide(task.id, { outcome: 'approved', actor: 'mallory@evil.test', versionDigest: stale }),
    );
    expect(refusal).toMatchObject({ code: 'NOT_ASSIGNED', actor: 'mallory@evil.test' });
    expect(refusal.message).not.toContain(ann);
    expect(refusal.message).not.toContain(task.versionDigest);
    // The assignee with a stale version is told about the version.
    expect(
      (await errorOf(hp.decide(task.id, { outcome: 'approved', actor: ann, versionDigest: stale }))).code,
    ).toBe('STALE_VERSION');
    for (let attempt = 0; attempt < 3; attempt++) {
      await errorOf(hp.decide(task.id, { outcome: 'rejected', actor: 'mallory@evil.test' }));
    }
    for (let stranger = 0; stranger < 25; stranger++) {
      await errorOf(hp.decide(task.id, { outcome: 'approved', actor: `stranger-${stranger}@evil.test` }));
    }
    const refused = (await auditEvents(hp, task.intentId)).filter(
      (event) => event.type === 'task-decision-refused',
    );
    expect(refused).toHaveLength(20);
    expect(refused[0]).toMatchObject({
      taskId: task.id,
      actor: { id: 'mallory@evil.test' },
      data: { reason: 'not-assigned', outcome: 'approved' },
    });
    expect((await hp.getTask(task.id)).status).toBe('pending');
    // Decided: the stranger is still NOT_ASSIGNED (not ALREADY_DECIDED), and nothing more is recorded.
    await hp.decide(task.id, { outcome: 'approved', actor: ann });
    const seq = (await hp.getIntent(task.intentId)).seq;
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'late@evil.test' }))).code).toBe(
      'NOT_ASSIGNED',
    );
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved', actor: ann }))).code).toBe(
      'ALREADY_DECIDED',
    );
    expect((await hp.getIntent(task.intentId)).seq).toBe(seq);
    expect(await hp.audit.verify(await hp.audit.export(task.intentId))).toMatchObject({ ok: true });
  });

  it('tells, on the engine that holds the intent, how long the chain is, and refuses a truncated export', async () => {
    const { hp } = await engine();
    const task = await hp.requestHuman({ assignee: ann });
    const older = await hp.audit.export(task.intentId);
    await hp.decide(task.id, { outcome: 'approved', actor: ann });
    const current = await hp.audit.export(task.intentId);
    expect(await hp.audit.verify(current)).toMatchObject({
      ok: true,
      events: 3,
      chainEvents: 3,
      trusted: true,
    });
    expect(await hp.audit.verify(older)).toMatchObject({ ok: false, seq: 3, chainEvents: 3, trusted: true });
    // Signed by another key: not trusted here, whatever the chain.
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(await hp.audit.verify(current, { trustedKeys: [other] })).toMatchObject({
      ok: false,
      trusted: false,
    });
  });

  it('refuses a listTasks status that is not one, and a bad auditKey when the engine is created', async () => {
    const { hp, spec } = await engine();
    expect((await errorOf(hp.listTasks({ status: 'bogus' as never }))).code).toBe('VALIDATION');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const publicOnly = generateKeyPairSync('ed25519').publicKey;
    for (const auditKey of ['not a key', rsa, publicOnly, '']) {
      const error = await errorOf(engineFor(spec, { auditKey: auditKey as never }));
      expect(error).toMatchObject({ code: 'VALIDATION', field: 'createHoldpoint.auditKey' });
    }
  });

  it('gives each subscription its own life: one function subscribed twice hears twice until one ends', async () => {
    const { hp } = await engine();
    const heard: AuditEvent[] = [];
    const listener = (event: AuditEvent) => void heard.push(event);
    const first = hp.subscribe(listener);
    hp.subscribe(listener);
    await hp.submit({ type: 'one' });
    expect(heard).toHaveLength(2);
    first();
    first();
    await hp.submit({ type: 'two' });
    expect(heard).toHaveLength(3);
  });

  it('refuses a decide in flight when close() is called with ENGINE_CLOSED, recording nothing', async () => {
    await storeCase.ready();
    const spec = storeCase.spec();
    const setup = await engineFor(spec, { timers: false });
    const task = await setup.requestHuman({ assignee: ann });
    // A store whose reads wait for a gate: the decide is in flight, then the engine closes.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let reads = 0;
    const store = await backend(spec);
    const slow = wrap(store, {
      readClaims: async (keys) => {
        reads++;
        await gate;
        return store.readClaims(keys);
      },
      readRecords: async (keys) => {
        reads++;
        await gate;
        return store.readRecords(keys);
      },
    });
    const hp = await engineFor(spec, { store: slow, timers: false });
    reads = 0;
    const decision = hp.decide(task.id, { outcome: 'approved', actor: ann }).then(
      () => 'decided',
      (error: { code?: string }) => error.code,
    );
    await vi.waitFor(() => expect(reads).toBeGreaterThan(0));
    const closing = hp.close();
    open();
    await closing;
    expect(await decision).toBe('ENGINE_CLOSED');
    expect((await setup.getTask(task.id)).status).toBe('pending');
  });
});

describe.each(storeCases)('timers under hostile conditions on $name (fake clock)', (storeCase) => {
  beforeEach(() => fakeClock());
  const opened: StoreBackend[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  it('records a timer that cannot succeed once, reports it once, and does not retry it', async () => {
    await storeCase.ready();
    const store = await createStore(storeCase.spec());
    opened.push(store);
    // The store refuses the delegate's list entry for good, as PostgreSQL refuses an index row
    // that is too large: the escalation (written with its list entries) can never be recorded.
    const refusing = wrap(store, {
      appendEvent: (key, value, feed, writes) =>
        writes?.indexAdd?.some((entry) => entry.index.includes('deputy@'))
          ? Promise.reject(new ValidationError({ field: 'store', message: 'the index row is too large' }))
          : store.appendEvent(key, value, feed, writes),
    });
    const hp = await engineFor('unused', { store: refusing, pollInterval: '24h' });
    const task = await hp.requestHuman({ assignee: ann, timeout: '1h', escalateTo: 'deputy@acme.test' });
    await advance(hour + 1);
    await eventually(async () =>
      expect((await auditEvents(hp, task.intentId)).map((event) => event.type)).toContain(
        'task-timer-failed',
      ),
    );
    for (let round = 0; round < 5; round++) await advance(1_000);
    const failed = (await auditEvents(hp, task.intentId)).filter(
      (event) => event.type === 'task-timer-failed',
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      taskId: task.id,
      actor: null,
      data: { timer: 'deadline', count: 0, error: 'the index row is too large' },
    });
    expect(backgroundErrors).toHaveLength(1);
    // The failed timer is gone, and the escalation that never happened left no timer of its own.
    await eventually(async () =>
      expect(
        (await store.indexRange(layout.dueIndex, { limit: 10 })).map((entry) => entry.member),
      ).not.toContain(timerId({ taskId: task.id, kind: 'deadline', count: 0 })),
    );
    expect((await hp.getTask(task.id)).status).toBe('pending');
  });

  it('writes no timer before its task is recorded, and fires a deadline that passed meanwhile once it is', async () => {
    await storeCase.ready();
    const store = await createStore(storeCase.spec());
    opened.push(store);
    // The task's event is held at the store while its deadline falls due.
    let reached = () => {};
    const held = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = wrap(store, {
      appendEvent: async (key, value, feed, writes) => {
        if (value.includes('"type":"task-created"')) {
          reached();
          await released;
        }
        return store.appendEvent(key, value, feed, writes);
      },
    });
    const hp = await engineFor('unused', { store: slow, pollInterval: '1s' });
    const asking = hp.requestHuman({ assignee: ann, timeout: '1s' });
    await held;
    await advance(2_000);
    // The timer goes in with the task's event: none exists while the event is not recorded.
    expect(await store.indexRange(layout.dueIndex, { limit: 10 })).toEqual([]);
    release();
    const task = await asking;
    expect((await store.indexRange(layout.dueIndex, { limit: 10 })).map((entry) => entry.member)).toEqual([
      timerId({ taskId: task.id, kind: 'deadline', count: 0 }),
    ]);
    await advance(1_000);
    await eventually(async () => expect((await hp.getTask(task.id)).status).toBe('timed_out'));
  });

  it('leaves no timer behind for a task whose event the store refused', async () => {
    await storeCase.ready();
    const store = await createStore(storeCase.spec());
    opened.push(store);
    const refusing = wrap(store, {
      appendEvent: (key, value, feed, writes) =>
        value.includes('"type":"task-created"')
          ? Promise.reject(new Error('connection reset'))
          : store.appendEvent(key, value, feed, writes),
    });
    const hp = await engineFor('unused', { store: refusing, pollInterval: '1s' });
    const intent = await hp.submit({ type: 'never-asked' });
    expect((await errorOf(hp.requestHuman({ intentId: intent.id, assignee: ann, timeout: '1s' }))).code).toBe(
      'STORE_UNAVAILABLE',
    );
    // A store of its own: nothing in its due index but what this test wrote.
    expect(await store.indexRange(layout.dueIndex, { limit: 100 })).toEqual([]);
  });

  it('drops a timer an older engine wrote ahead of a task that was never recorded, after a grace period', async () => {
    await storeCase.ready();
    const store = await createStore(storeCase.spec());
    opened.push(store);
    const hp = await engineFor('unused', { store, pollInterval: '1s' });
    const intent = await hp.submit({ type: 'never-asked' });
    // Engines before timers went in with their event wrote them ahead of it; this one's task never came to be.
    const never = `tsk_${intent.id.slice(4)}.never`;
    await store.indexAdd(layout.dueIndex, [
      { member: timerId({ taskId: never, kind: 'deadline', count: 0 }), score: Date.now() + 1_000 },
    ]);
    const timers = () => store.indexRange(layout.dueIndex, { limit: 100 });
    await advance(30_000);
    expect(await timers()).toHaveLength(1);
    await advance(40_000);
    // A round that read the timer while it was still within its grace looks again a little later
    // (planned from the fake clock as the store answered, which may be after it moved): move the
    // clock on by small steps until that round has run. Later is still past the grace.
    await eventually(async () => {
      await vi.advanceTimersByTimeAsync(250);
      expect(await timers()).toEqual([]);
    });
  });

  it("keeps a removed assignee's earlier quorum vote after reassign, and takes no more from them", async () => {
    await storeCase.ready();
    const hp = await engineFor(storeCase.spec(), { pollInterval: '24h' });
    const task = await hp.requestHuman({
      assignees: [ann, bob],
      quorum: 2,
      timeout: '1h',
      escalateTo: 'deputy@acme.test',
      reassign: true,
    });
    await hp.decide(task.id, { outcome: 'approved', actor: ann, comment: 'fine by me' });
    await advance(hour + 1);
    await eventually(async () => expect((await hp.getTask(task.id)).assignees).toEqual(['deputy@acme.test']));
    expect((await errorOf(hp.decide(task.id, { outcome: 'rejected', actor: ann }))).code).toBe(
      'NOT_ASSIGNED',
    );
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved', actor: bob }))).code).toBe(
      'NOT_ASSIGNED',
    );
    const decided = await hp.decide(task.id, { outcome: 'approved', actor: 'deputy@acme.test' });
    expect(decided.status).toBe('decided');
    expect(decided.decision?.votes?.map((vote) => vote.actor.id)).toEqual([ann, 'deputy@acme.test']);
  });
});
