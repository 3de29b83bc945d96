import { eventually } from '@holdpoint/test-services';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Holdpoint, HoldpointError, taskTypeRules, taskTypes, versionDigest } from '../src/index.js';
import { auditEvents, engineFor, errorOf } from './helpers/engine.js';
import { storeCases } from './helpers/stores.js';

describe.each(storeCases)('engine rules on $name', (storeCase) => {
  async function engine(options: Parameters<typeof engineFor>[1] = {}): Promise<Holdpoint> {
    return engineFor(await storeCase.spec(), options);
  }

  it('gives each of the eight task types its default outcomes and refuses any other outcome', async () => {
    const hp = await engine();
    for (const type of taskTypes) {
      const task = await hp.requestHuman({
        task: type,
        assignee: 'ann@acme.test',
        ...(type === 'form' ? { schema: z.object({ note: z.string() }) } : {}),
      });
      expect(task.allowedOutcomes).toEqual(taskTypeRules[type].outcomes);
      const error = await errorOf(hp.decide(task.id, { outcome: 'maybe', actor: 'ann@acme.test' }));
      expect(error.code).toBe('INVALID_OUTCOME');
      expect(error.message).toContain(taskTypeRules[type].outcomes[0]);
      expect((await hp.getTask(task.id)).status).toBe('pending');
    }
  });

  it('decides an approval and records who, what and which version', async () => {
    const hp = await engine();
    const context = { draft: 'Q3 report', amount: 120 };
    const task = await hp.requestHuman({
      task: 'approval',
      title: 'Send Q3',
      assignee: 'cfo@acme.test',
      context,
    });
    expect(task.versionDigest).toBe(versionDigest({ amount: 120, draft: 'Q3 report' }));
    const decided = await hp.decide(task.id, {
      outcome: 'approved',
      comment: 'fine',
      actor: { id: 'cfo@acme.test', name: 'Carla' },
      versionDigest: task.versionDigest,
    });
    expect(decided.status).toBe('decided');
    expect(decided.decision).toMatchObject({
      outcome: 'approved',
      comment: 'fine',
      actor: { id: 'cfo@acme.test', name: 'Carla' },
      decidedBy: 'human',
      versionDigest: task.versionDigest,
    });
    const intent = await hp.getIntent(task.intentId);
    expect(intent.status).toBe('IN_PROGRESS');
    const events = await auditEvents(hp, task.intentId);
    expect(events.map((event) => event.type)).toEqual(['intent-submitted', 'task-created', 'task-decided']);
  });

  it('refuses a second decision and changes nothing', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    const error = await errorOf(hp.decide(task.id, { outcome: 'rejected', actor: 'ann@acme.test' }));
    expect(error.code).toBe('ALREADY_DECIDED');
    expect(HoldpointError.isInstance(error)).toBe(true);
    expect((await hp.getTask(task.id)).decision?.outcome).toBe('approved');
    const decisions = (await auditEvents(hp, task.intentId)).filter((event) => event.type === 'task-decided');
    expect(decisions).toHaveLength(1);
  });

  it('refuses a decision from someone not assigned', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    const error = await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'mallory@acme.test' }));
    expect(error.code).toBe('NOT_ASSIGNED');
    expect(error).toMatchObject({ taskId: task.id, actor: 'mallory@acme.test' });
    expect((await hp.getTask(task.id)).status).toBe('pending');
    // An admin, authorised by the caller, may decide in the assignee's place.
    const decided = await hp.decide(task.id, {
      outcome: 'approved',
      actor: 'admin@acme.test',
      asAdmin: true,
    });
    expect(decided.decision?.actor).toEqual({ id: 'admin@acme.test' });
  });

  it('refuses a decision on a stale version', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', context: { amount: 100 } });
    const error = await errorOf(
      hp.decide(task.id, {
        outcome: 'approved',
        actor: 'ann@acme.test',
        versionDigest: versionDigest({ amount: 99 }),
      }),
    );
    expect(error.code).toBe('STALE_VERSION');
    expect(error).toMatchObject({ expected: task.versionDigest });
    expect((await hp.getTask(task.id)).status).toBe('pending');
  });

  it('requires a comment on clarification and override, evidence on manual_action', async () => {
    const hp = await engine();
    const clarification = await hp.requestHuman({ task: 'clarification', assignee: 'ann@acme.test' });
    expect(
      (await errorOf(hp.decide(clarification.id, { outcome: 'provided', actor: 'ann@acme.test' }))).code,
    ).toBe('VALIDATION');
    expect(
      (
        await errorOf(
          hp.decide(clarification.id, { outcome: 'provided', comment: '  ', actor: 'ann@acme.test' }),
        )
      ).code,
    ).toBe('VALIDATION');
    await hp.decide(clarification.id, {
      outcome: 'provided',
      comment: 'EUR, not USD',
      actor: 'ann@acme.test',
    });

    const override = await hp.requestHuman({ task: 'override', assignee: 'ann@acme.test' });
    const overrideError = await errorOf(
      hp.decide(override.id, { outcome: 'override_approved', actor: 'ann@acme.test' }),
    );
    expect(overrideError.code).toBe('VALIDATION');
    expect(overrideError.message).toContain('justification');

    const manual = await hp.requestHuman({ task: 'manual_action', assignee: 'ann@acme.test' });
    const manualError = await errorOf(hp.decide(manual.id, { outcome: 'completed', actor: 'ann@acme.test' }));
    expect(manualError.code).toBe('VALIDATION');
    expect(manualError.message).toContain('evidence');
    expect((await hp.getTask(manual.id)).status).toBe('pending');
    const done = await hp.decide(manual.id, {
      outcome: 'completed',
      evidence: { url: 'https://tickets.acme.test/42' },
      actor: 'ann@acme.test',
    });
    expect(done.decision?.evidence).toEqual({ url: 'https://tickets.acme.test/42' });
  });

  it('checks form data against a zod schema and against JSON Schema 2020-12', async () => {
    const hp = await engine();
    const zodForm = await hp.requestHuman({
      task: 'form',
      assignee: 'ann@acme.test',
      schema: z.object({ amount: z.number().min(1), currency: z.enum(['EUR', 'USD']) }),
    });
    const zodError = await errorOf(
      hp.decide(zodForm.id, {
        outcome: 'submitted',
        data: { amount: 0, currency: 'GBP' },
        actor: 'ann@acme.test',
      }),
    );
    expect(zodError.code).toBe('VALIDATION');
    expect(zodError.message).toContain('/amount');
    expect(zodError.message).toContain('/currency');
    expect(
      (await errorOf(hp.decide(zodForm.id, { outcome: 'submitted', actor: 'ann@acme.test' }))).code,
    ).toBe('VALIDATION');
    expect((await hp.getTask(zodForm.id)).status).toBe('pending');
    const decided = await hp.decide(zodForm.id, {
      outcome: 'submitted',
      data: { amount: 5, currency: 'EUR' },
      actor: 'ann@acme.test',
    });
    expect(decided.decision?.data).toEqual({ amount: 5, currency: 'EUR' });

    const jsonForm = await hp.requestHuman({
      task: 'form',
      assignee: 'ann@acme.test',
      schema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: { tags: { type: 'array', prefixItems: [{ type: 'string' }], items: false } },
        required: ['tags'],
      },
    });
    const jsonError = await errorOf(
      hp.decide(jsonForm.id, { outcome: 'submitted', data: { tags: ['a', 'b'] }, actor: 'ann@acme.test' }),
    );
    expect(jsonError.code).toBe('VALIDATION');
    await hp.decide(jsonForm.id, { outcome: 'submitted', data: { tags: ['a'] }, actor: 'ann@acme.test' });
  });

  it('returns the same task for the same idempotency key, and its decision at once', async () => {
    const hp = await engine();
    const options = { assignee: 'ann@acme.test', context: { a: 1 }, idempotencyKey: `key-${Math.random()}` };
    const first = await hp.requestHuman(options);
    const again = await hp.requestHuman(options);
    expect(again.id).toBe(first.id);
    await hp.decide(first.id, { outcome: 'rejected', comment: 'no', actor: 'ann@acme.test' });
    const result = await hp.waitForHuman(options);
    expect(result).toMatchObject({ status: 'decided', outcome: 'rejected', comment: 'no', taskId: first.id });
    const conflict = await errorOf(hp.requestHuman({ ...options, context: { a: 2 } }));
    expect(conflict.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(conflict).toMatchObject({ existingId: first.id });
    expect((await errorOf(hp.requestHuman({ ...options, assignee: 'bob@acme.test' }))).code).toBe(
      'IDEMPOTENCY_CONFLICT',
    );
  });

  it('returns the same intent for the same submit key and refuses it for another type', async () => {
    const hp = await engine();
    const key = `q3-${Math.random()}`;
    const intent = await hp.submit({ type: 'board-report', input: { quarter: 'Q3' }, idempotencyKey: key });
    expect(intent).toMatchObject({ status: 'SUBMITTED', type: 'board-report', input: { quarter: 'Q3' } });
    expect(
      (await hp.submit({ type: 'board-report', input: { quarter: 'Q3' }, idempotencyKey: key })).id,
    ).toBe(intent.id);
    expect((await errorOf(hp.submit({ type: 'invoice', idempotencyKey: key }))).code).toBe(
      'IDEMPOTENCY_CONFLICT',
    );
  });

  it('resolves a waiter when the human decides, and an abort stops the wait but not the task', async () => {
    const hp = await engine();
    const intent = await hp.submit({ type: 'wire' });
    const waiting = hp.waitForHuman({
      intentId: intent.id,
      assignee: 'ann@acme.test',
      idempotencyKey: `w-${intent.id}`,
    });
    await eventually(async () =>
      expect((await hp.listTasks({ assignee: 'ann@acme.test', status: 'pending' })).tasks).not.toEqual([]),
    );
    expect((await hp.getIntent(intent.id)).status).toBe('WAITING');
    const [task] = (await hp.listTasks({ assignee: 'ann@acme.test', status: 'pending' })).tasks;
    await hp.decide(task!.id, { outcome: 'approved', actor: 'ann@acme.test' });
    await expect(waiting).resolves.toMatchObject({
      status: 'decided',
      outcome: 'approved',
      decidedBy: 'human',
    });

    const controller = new AbortController();
    const aborted = hp.waitForHuman({
      assignee: 'bob@acme.test',
      signal: controller.signal,
      idempotencyKey: `a-${intent.id}`,
    });
    controller.abort(new Error('user pressed Ctrl-C'));
    await expect(aborted).rejects.toThrow('user pressed Ctrl-C');
    const [left] = (await hp.listTasks({ assignee: 'bob@acme.test' })).tasks;
    expect(left?.status).toBe('pending');
    await hp.decide(left!.id, { outcome: 'approved', actor: 'bob@acme.test' });
    await expect(
      hp.waitForHuman({ assignee: 'bob@acme.test', idempotencyKey: `a-${intent.id}` }),
    ).resolves.toMatchObject({
      outcome: 'approved',
    });
  });

  it('decides a quorum on enough approvals; one rejection rejects; each approver once', async () => {
    const hp = await engine();
    const assignees = ['a@acme.test', 'b@acme.test', 'c@acme.test'];
    const task = await hp.requestHuman({ assignees, quorum: 2 });
    await hp.decide(task.id, { outcome: 'approved', actor: 'a@acme.test' });
    expect((await hp.getTask(task.id)).status).toBe('pending');
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'a@acme.test' }))).code).toBe(
      'ALREADY_DECIDED',
    );
    const decided = await hp.decide(task.id, { outcome: 'approved', actor: 'b@acme.test' });
    expect(decided.decision?.outcome).toBe('approved');
    expect(decided.decision?.votes?.map((vote) => vote.actor.id)).toEqual(['a@acme.test', 'b@acme.test']);

    const all = await hp.requestHuman({ assignees, quorum: 'all' });
    await hp.decide(all.id, { outcome: 'approved', actor: 'a@acme.test' });
    const rejected = await hp.decide(all.id, {
      outcome: 'rejected',
      comment: 'too risky',
      actor: 'c@acme.test',
    });
    expect(rejected.decision).toMatchObject({ outcome: 'rejected', actor: { id: 'c@acme.test' } });
    expect((await errorOf(hp.decide(all.id, { outcome: 'approved', actor: 'b@acme.test' }))).code).toBe(
      'ALREADY_DECIDED',
    );
  });

  it('cancels an intent, its pending tasks and their waiters', async () => {
    const hp = await engine();
    const intent = await hp.submit({ type: 'deploy' });
    const task = await hp.requestHuman({ intentId: intent.id, assignee: 'ann@acme.test' });
    const waiting = hp.waitForHuman({
      intentId: intent.id,
      assignee: 'ann@acme.test',
      idempotencyKey: `c-${intent.id}`,
    });
    await eventually(async () => expect((await hp.getIntent(intent.id)).taskIds).toHaveLength(2));
    await hp.cancel(intent.id, { reason: 'superseded' });
    await expect(waiting).resolves.toMatchObject({ status: 'canceled' });
    expect((await hp.getTask(task.id)).status).toBe('canceled');
    expect((await hp.getIntent(intent.id)).status).toBe('CANCELED');
    expect((await errorOf(hp.complete(intent.id))).code).toBe('INVALID_STATE');
    expect((await errorOf(hp.requestHuman({ intentId: intent.id, assignee: 'x@acme.test' }))).code).toBe(
      'INVALID_STATE',
    );
  });

  it('completes an intent only when no task is pending', async () => {
    const hp = await engine();
    const intent = await hp.submit({ type: 'deploy', input: { version: '1.2.3' } });
    const task = await hp.requestHuman({ intentId: intent.id, assignee: 'ann@acme.test' });
    expect((await errorOf(hp.complete(intent.id))).code).toBe('INVALID_STATE');
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    const done = await hp.complete(intent.id, { result: { deployed: true } });
    expect(done).toMatchObject({ status: 'COMPLETED', result: { deployed: true } });
    const failed = await hp.submit({ type: 'deploy' });
    expect(await hp.fail(failed.id, { error: 'disk full' })).toMatchObject({
      status: 'FAILED',
      error: 'disk full',
    });
  });

  it('lists tasks newest first, by assignee and status', async () => {
    const hp = await engine();
    const first = await hp.requestHuman({ assignee: 'ann@acme.test', title: 'first' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await hp.requestHuman({ assignees: ['ann@acme.test', 'bob@acme.test'], title: 'second' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const third = await hp.requestHuman({ assignee: 'ann@acme.test', title: 'third' });
    await hp.decide(second.id, { outcome: 'approved', actor: 'bob@acme.test' });
    const ids = (page: { tasks: Array<{ id: string }> }) => page.tasks.map((task) => task.id);
    expect(ids(await hp.listTasks({ assignee: 'ann@acme.test' }))).toEqual([third.id, second.id, first.id]);
    expect(ids(await hp.listTasks({ assignee: 'ann@acme.test', status: 'pending' }))).toEqual([
      third.id,
      first.id,
    ]);
    expect(ids(await hp.listTasks({ assignee: 'bob@acme.test', status: 'pending' }))).toEqual([]);
    expect(ids(await hp.listTasks({ status: 'decided' }))).toEqual([second.id]);
    expect(ids(await hp.listTasks({ status: 'pending', limit: 1 }))).toEqual([third.id]);
    expect(ids(await hp.listTasks())).toEqual([third.id, second.id, first.id]);
  });

  it('names unknown tasks and intents', async () => {
    const hp = await engine();
    expect(await errorOf(hp.getTask('tsk_nope.x'))).toMatchObject({ code: 'NOT_FOUND', kind: 'task' });
    expect(await errorOf(hp.getIntent('int_nope'))).toMatchObject({ code: 'NOT_FOUND', kind: 'intent' });
    expect((await errorOf(hp.decide('garbage', { outcome: 'approved', actor: 'a' }))).code).toBe('NOT_FOUND');
    expect((await errorOf(hp.requestHuman({ intentId: 'int_missing', assignee: 'a' }))).code).toBe(
      'NOT_FOUND',
    );
  });

  it('tells subscribers about every event and pages the event feed', async () => {
    const hp = await engine();
    const seen: string[] = [];
    const stop = hp.subscribe((event) => seen.push(event.type));
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    stop();
    expect(seen).toEqual(['intent-submitted', 'task-created', 'task-decided']);
    const first = await hp.events({ limit: 2 });
    expect(first.events.map((event) => event.type)).toEqual(['intent-submitted', 'task-created']);
    const second = await hp.events({ since: first.cursor! });
    expect(second.events.map((event) => event.type)).toEqual(['task-decided']);
  });

  it('hands each task event to the delivery hook once', async () => {
    const delivered: string[] = [];
    const hp = await engine({
      notify: (notification) => void delivered.push(`${notification.type}:${notification.task.id}`),
    });
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' }));
    expect(delivered).toEqual([`task-created:${task.id}`, `task-decided:${task.id}`]);
  });

  it('delivers notifications recorded by an engine without a hook through an engine with one', async () => {
    const spec = await storeCase.spec();
    const delivered: string[] = [];
    const agent = await engineFor(spec);
    const deliverer = await engineFor(spec, {
      notify: (notification) => void delivered.push(notification.type),
    });
    const task = await agent.requestHuman({ assignee: 'ann@acme.test' });
    await agent.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    await eventually(() => expect([...delivered].sort()).toEqual(['task-created', 'task-decided']));
    // Once the engines are closed nothing more can arrive: each event was delivered once.
    await Promise.all([agent.close(), deliverer.close()]);
    expect(delivered.sort()).toEqual(['task-created', 'task-decided']);
  });

  it('resumes a waiter only after the delivery hook was called for the event that ended its task', async () => {
    const delivered: string[] = [];
    let hookEntered = () => {};
    const entered = new Promise<void>((resolve) => {
      hookEntered = resolve;
    });
    let releaseHook = () => {};
    const released = new Promise<void>((resolve) => {
      releaseHook = resolve;
    });
    const hp = await engine({
      notify: async (notification) => {
        if (notification.type === 'task-decided') {
          hookEntered();
          await released;
        }
        delivered.push(notification.type);
      },
    });
    const request = { assignee: 'ann@acme.test', idempotencyKey: `hook-${Math.random()}` };
    const task = await hp.requestHuman(request);
    let resumed = false;
    const waiting = hp.waitForHuman(request).then((result) => {
      resumed = true;
      return result;
    });
    const deciding = hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    // The hook runs for the recorded decision: neither that waiter nor a new one resumes meanwhile.
    await entered;
    expect((await hp.getTask(task.id)).status).toBe('decided');
    let lateResumed = false;
    const late = hp.waitForHuman(request).then((result) => {
      lateResumed = true;
      return result;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect([resumed, lateResumed]).toEqual([false, false]);
    releaseHook();
    await expect(waiting).resolves.toMatchObject({ status: 'decided', outcome: 'approved' });
    await expect(late).resolves.toMatchObject({ status: 'decided', outcome: 'approved' });
    expect(delivered).toEqual(['task-created', 'task-decided']);
    await deciding;
  });

  it('records a note by an assignee as task-noted, decides nothing, and refuses strangers and ended tasks', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', context: { amount: 5 } });
    const noted = await hp.noteTask(task.id, {
      actor: { id: 'ann@acme.test', name: 'Ann' },
      note: 'declined',
      comment: 'not in the client, please',
      via: 'mcp',
    });
    expect(noted.status).toBe('pending');
    expect(noted.decision).toBeUndefined();
    const stranger = await errorOf(hp.noteTask(task.id, { actor: 'eve@acme.test', note: 'declined' }));
    expect(stranger.code).toBe('NOT_ASSIGNED');
    expect(stranger.message).not.toContain(task.versionDigest);
    const badWord = await errorOf(hp.noteTask(task.id, { actor: 'ann@acme.test', note: 'said no!' }));
    expect(badWord.code).toBe('VALIDATION');
    expect(badWord).toMatchObject({ field: 'noteTask.note' });
    await hp.noteTask(task.id, { actor: 'root', note: 'dismissed', asAdmin: true });

    const events = await auditEvents(hp, task.intentId);
    const notes = events.filter((event) => event.type === 'task-noted');
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatchObject({
      taskId: task.id,
      actor: { id: 'ann@acme.test', name: 'Ann' },
      data: { note: 'declined', comment: 'not in the client, please', via: 'mcp' },
    });
    expect(notes[1]).toMatchObject({ actor: { id: 'root' }, data: { note: 'dismissed', asAdmin: true } });
    expect((await hp.audit.verify(await hp.audit.export(task.intentId))).ok).toBe(true);

    // Still the assignee's to decide; a note on an ended task is refused and records nothing.
    await hp.decide(task.id, { outcome: 'approved', actor: 'ann@acme.test' });
    const ended = await errorOf(hp.noteTask(task.id, { actor: 'ann@acme.test', note: 'declined' }));
    expect(ended.code).toBe('ALREADY_DECIDED');
    expect((await auditEvents(hp, task.intentId)).map((event) => event.type)).toEqual([
      'intent-submitted',
      'task-created',
      'task-noted',
      'task-noted',
      'task-decided',
    ]);
  });

  it('records at most 100 notes on one task', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    for (let count = 0; count < 100; count++)
      await hp.noteTask(task.id, { actor: 'ann@acme.test', note: 'dismissed' });
    const refused = await errorOf(hp.noteTask(task.id, { actor: 'ann@acme.test', note: 'dismissed' }));
    expect(refused.code).toBe('INVALID_STATE');
    expect(
      (await auditEvents(hp, task.intentId)).filter((event) => event.type === 'task-noted'),
    ).toHaveLength(100);
  });

  it('lets exactly one of 50 concurrent decisions win', async () => {
    const hp = await engine();
    const task = await hp.requestHuman({ assignee: 'ann@acme.test' });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, index) =>
        hp.decide(task.id, { outcome: index % 2 ? 'approved' : 'rejected', actor: 'ann@acme.test' }),
      ),
    );
    const won = results.filter((result) => result.status === 'fulfilled');
    const codes = results.flatMap((result) =>
      result.status === 'rejected' ? [(result.reason as HoldpointError).code] : [],
    );
    expect(won).toHaveLength(1);
    expect(codes).toEqual(Array(49).fill('ALREADY_DECIDED'));
    const decisions = (await auditEvents(hp, task.intentId)).filter((event) => event.type === 'task-decided');
    expect(decisions).toHaveLength(1);
  });
});
