import { type HumanResult, StoreUnavailableError } from '@holdpoint/core';
import { Annotation, Command, END, START, StateGraph } from '@langchain/langgraph';
import { describe, expect, it } from 'vitest';
import {
  type GateEngine,
  HoldpointSaver,
  humanGate,
  isHumanTaskInterrupt,
  type ResumeEvent,
  waitForHuman,
} from '../src/index.js';
import { gateSetup, taskList } from './helpers/setup.js';

const Results = Annotation.Root({
  topic: Annotation<string>,
  results: Annotation<Record<string, HumanResult>>({
    reducer: (left, right) => ({ ...left, ...right }),
    default: () => ({}),
  }),
  runs: Annotation<string[]>({ reducer: (left, right) => [...left, ...right], default: () => [] }),
  sent: Annotation<boolean>,
});
type ResultsState = typeof Results.State;

const config = (thread: string) => ({ configurable: { thread_id: thread } });

function pendingTaskIds(output: unknown): string[] {
  const interrupts = (output as { __interrupt__?: Array<{ value: unknown }> }).__interrupt__ ?? [];
  return interrupts.map(({ value }) => {
    if (!isHumanTaskInterrupt(value)) throw new Error('not a gate interrupt');
    return value.holdpoint.taskId;
  });
}

/** Legal reviews, then the CFO approves: two gates in two steps. */
function legalThenCfo(holdpoint: GateEngine, checkpointer: HoldpointSaver) {
  const gate = (node: string, type: 'review' | 'approval', assignee: string) => async () => ({
    results: { [node]: await waitForHuman({ holdpoint, task: type, assignee }) },
  });
  return new StateGraph(Results)
    .addNode('legal', gate('legal', 'review', 'legal@acme.test'))
    .addNode('cfo', gate('cfo', 'approval', 'cfo@acme.test'))
    .addEdge(START, 'legal')
    .addEdge('legal', 'cfo')
    .addEdge('cfo', END)
    .compile({ checkpointer });
}

describe('waitForHuman in a node', () => {
  it('pauses with an interrupt naming the task, and a node run again on resume asks no second time', async () => {
    const { hp, saver, notifications, resumer } = await gateSetup();
    let nodeRuns = 0;
    const graph = new StateGraph(Results)
      .addNode('legal', async (state: ResultsState) => {
        nodeRuns += 1;
        const review = await waitForHuman({
          holdpoint: hp,
          task: 'review',
          title: 'Review the wording',
          assignee: 'legal@acme.test',
          context: { draft: state.topic },
        });
        return { results: { legal: review } };
      })
      .addEdge(START, 'legal')
      .addEdge('legal', END)
      .compile({ checkpointer: saver });

    const first = await graph.invoke({ topic: 'Q3 summary v1' }, config('t-reexec'));
    const interrupts = (
      first as unknown as { __interrupt__: Array<{ value: unknown; response_schema?: unknown }> }
    ).__interrupt__;
    expect(interrupts).toHaveLength(1);
    const [taskId] = pendingTaskIds(first);
    const task = await hp.getTask(taskId as string);
    expect(interrupts[0]?.value).toMatchObject({
      holdpoint: {
        taskId,
        type: 'review',
        assignees: ['legal@acme.test'],
        allowedOutcomes: ['approved', 'changes_requested', 'rejected'],
        versionDigest: task.versionDigest,
        context: { draft: 'Q3 summary v1' },
      },
    });
    expect(interrupts[0]?.response_schema).toMatchObject({
      properties: {
        outcome: { enum: ['approved', 'changes_requested', 'rejected'] },
        taskId: { const: taskId },
      },
    });
    expect(task.metadata?.langgraph).toMatchObject({ threadId: 't-reexec', node: 'legal', position: 0 });

    // Invoking the thread again (as a client polling it might) runs the node again: same task.
    const again = await graph.invoke(null, config('t-reexec'));
    expect(pendingTaskIds(again)).toEqual([taskId]);

    await resumer({ graph });
    await hp.decide(taskId as string, {
      outcome: 'approved',
      comment: 'fine',
      actor: 'legal@acme.test',
      versionDigest: task.versionDigest,
    });
    await expect
      .poll(async () => (await graph.getState(config('t-reexec'))).values.results?.legal)
      .toMatchObject({
        status: 'decided',
        outcome: 'approved',
        comment: 'fine',
        actor: { id: 'legal@acme.test' },
        decidedBy: 'human',
        taskId,
      });
    expect(nodeRuns).toBe(3);
    expect((await taskList(hp)).map((listed) => listed.id)).toEqual([taskId]);
    expect(notifications.filter((notification) => notification.type === 'task-created')).toHaveLength(1);
  });

  it('resumes a decided gate within a few polls when the store failed for a moment, not at the rescan', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const graph = new StateGraph(Results)
      .addNode('legal', async () => {
        const review = await waitForHuman({ holdpoint: hp, task: 'approval', assignee: 'legal@acme.test' });
        return { results: { legal: review } };
      })
      .addEdge(START, 'legal')
      .addEdge('legal', END)
      .compile({ checkpointer: saver });
    const [taskId] = pendingTaskIds(await graph.invoke({ topic: 'flaky store' }, config('t-flaky')));
    // The resumer's engine cannot read tasks for its first three tries: the decision's event and
    // the looks that follow it all fail, as on a store that is away or overloaded for a moment.
    let failures = 3;
    const errors: unknown[] = [];
    const flaky = {
      requestHuman: hp.requestHuman.bind(hp),
      subscribe: hp.subscribe.bind(hp),
      getTask: async (id: string) => {
        if (failures > 0) {
          failures--;
          throw new StoreUnavailableError({ store: 'sqlite', operation: 'read', cause: new Error('busy') });
        }
        return hp.getTask(id);
      },
    };
    await resumer({ graph, holdpoint: flaky, rescanInterval: '1h', onError: (error) => errors.push(error) });
    const task = await hp.getTask(taskId as string);
    await hp.decide(task.id, {
      outcome: 'approved',
      actor: 'legal@acme.test',
      versionDigest: task.versionDigest,
    });
    await expect
      .poll(async () => (await graph.getState(config('t-flaky'))).values.results?.legal?.outcome, {
        timeout: 10_000,
      })
      .toBe('approved');
    expect(failures).toBe(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((error) => StoreUnavailableError.isInstance(error))).toBe(true);
  });

  // A resumed run that fails between two gates leaves the thread on the step before the second:
  // the resumer continues it from there, and the second gate is asked once.
  describe.each([
    ['the checkpoint after the first gate cannot be written', 'put'],
    [
      'the checkpoint after the first gate cannot be written, nor the thread read right after',
      'put-and-read',
    ],
    ['the second gate cannot reach the store', 'request'],
    ['the second gate cannot reach the store, nor its error be written', 'request-and-error'],
  ] as const)('continues a resumed run that stopped when %s', (_, fault) => {
    it('asks the second gate once, and the thread ends with both decisions', async () => {
      const { hp, store, notifications, resumer } = await gateSetup();
      let failPut = false;
      let failRequest = false;
      let failErrorWrite = false;
      let failRead = false;
      const unavailable = () =>
        new StoreUnavailableError({
          store: 'sqlite',
          operation: 'write',
          cause: new Error('too many clients'),
        });
      class FlakySaver extends HoldpointSaver {
        override async put(...args: Parameters<HoldpointSaver['put']>) {
          if (failPut) {
            failPut = false;
            failRead = fault === 'put-and-read';
            throw unavailable();
          }
          return super.put(...args);
        }
        override async getTuple(...args: Parameters<HoldpointSaver['getTuple']>) {
          if (failRead) {
            failRead = false;
            throw unavailable();
          }
          return super.getTuple(...args);
        }
        override async putWrites(...args: Parameters<HoldpointSaver['putWrites']>) {
          if (failErrorWrite && args[1].some(([channel]) => channel === '__error__')) {
            failErrorWrite = false;
            throw unavailable();
          }
          return super.putWrites(...args);
        }
      }
      const flaky = {
        requestHuman: async (options: Parameters<typeof hp.requestHuman>[0]) => {
          if (failRequest && options.task === 'approval') {
            failRequest = false;
            throw unavailable();
          }
          return hp.requestHuman(options);
        },
        subscribe: hp.subscribe.bind(hp),
        getTask: hp.getTask.bind(hp),
      };
      const graph = legalThenCfo(flaky, new FlakySaver(store));
      const errors: unknown[] = [];
      const resumes: ResumeEvent[] = [];
      await resumer({
        graph,
        holdpoint: flaky,
        rescanInterval: '1h',
        onError: (error) => errors.push(error),
        onResume: (event) => resumes.push(event),
      });
      const [legalTask] = pendingTaskIds(await graph.invoke({ topic: 'two steps' }, config(`t-${fault}`)));
      failPut = fault.startsWith('put');
      failRequest = !failPut;
      failErrorWrite = fault === 'request-and-error';
      await hp.decide(legalTask as string, { outcome: 'approved', actor: 'legal@acme.test' });

      const cfoTask = await expect
        .poll(async () => (await taskList(hp, { assignee: 'cfo@acme.test' })).map((task) => task.id), {
          timeout: 10_000,
        })
        .toHaveLength(1)
        .then(async () => (await taskList(hp, { assignee: 'cfo@acme.test' }))[0]?.id as string);
      expect(failPut || failRequest || failErrorWrite || failRead).toBe(false);
      expect(errors.length).toBeGreaterThan(0);
      await hp.decide(cfoTask, { outcome: 'approved', actor: 'cfo@acme.test' });
      await expect
        .poll(async () => (await graph.getState(config(`t-${fault}`))).values.results?.cfo?.outcome, {
          timeout: 10_000,
        })
        .toBe('approved');
      const state = await graph.getState(config(`t-${fault}`));
      expect(state.next).toEqual([]);
      expect((state.values as ResultsState).results.legal).toMatchObject({
        taskId: legalTask,
        outcome: 'approved',
      });
      expect((state.values as ResultsState).results.cfo).toMatchObject({ taskId: cfoTask });
      // The legal gate's resume is told once, though its run failed and another run finished it.
      expect(resumes.flatMap((event) => event.interrupts.flatMap((item) => item.taskIds))).toEqual([
        legalTask,
        cfoTask,
      ]);
      expect(await taskList(hp, { limit: 10 })).toHaveLength(2);
      expect(notifications.filter((notification) => notification.type === 'task-created')).toHaveLength(2);
    });
  });

  it('continues at start-up a run whose process stopped inside a node, before the node wrote anything', async () => {
    const { hp, saver, notifications, resumer } = await gateSetup();
    // The first resumer's run hangs in the CFO node until the test lets it fail: a process that
    // stopped there. Its lease is short, so that a second resumer may take the thread over.
    let hang: ((error: Error) => void) | undefined;
    let cfoRuns = 0;
    const graph = new StateGraph(Results)
      .addNode('legal', async () => ({
        results: {
          legal: await waitForHuman({ holdpoint: hp, task: 'review', assignee: 'legal@acme.test' }),
        },
      }))
      .addNode('cfo', async () => {
        cfoRuns += 1;
        if (cfoRuns === 1) await new Promise((_, reject) => (hang = reject));
        return {
          results: {
            cfo: await waitForHuman({ holdpoint: hp, task: 'approval', assignee: 'cfo@acme.test' }),
          },
        };
      })
      .addEdge(START, 'legal')
      .addEdge('legal', 'cfo')
      .addEdge('cfo', END)
      .compile({ checkpointer: saver });
    await resumer({ graph, lease: '300ms', onError: () => {} });
    const [legalTask] = pendingTaskIds(await graph.invoke({ topic: 'crash' }, config('t-crash')));
    await hp.decide(legalTask as string, { outcome: 'approved', actor: 'legal@acme.test' });
    await expect.poll(() => hang).toBeDefined();
    // Nothing in the thread's checkpoints says a run is under way; the resumer's running index does.
    expect(
      (await graph.getState(config('t-crash'))).tasks.every((task) => task.interrupts.length === 0),
    ).toBe(true);

    await resumer({ graph, rescanInterval: '1h' });
    const cfoTask = await expect
      .poll(async () => (await taskList(hp, { assignee: 'cfo@acme.test' })).map((task) => task.id), {
        timeout: 10_000,
      })
      .toHaveLength(1)
      .then(async () => (await taskList(hp, { assignee: 'cfo@acme.test' }))[0]?.id as string);
    expect(cfoRuns).toBe(2);
    hang?.(new Error('the first process is gone'));
    await hp.decide(cfoTask, { outcome: 'approved', actor: 'cfo@acme.test' });
    await expect
      .poll(async () => (await graph.getState(config('t-crash'))).values.results?.cfo?.outcome, {
        timeout: 10_000,
      })
      .toBe('approved');
    expect((await graph.getState(config('t-crash'))).next).toEqual([]);
    expect(await taskList(hp, { limit: 10 })).toHaveLength(2);
    expect(notifications.filter((notification) => notification.type === 'task-created')).toHaveLength(2);
  });

  it('drops a run listed as not ended whose thread was deleted since, without continuing or reporting anything', async () => {
    const { hp, saver, resumer } = await gateSetup();
    let hang: ((error: Error) => void) | undefined;
    const graph = new StateGraph(Results)
      .addNode('slow', async () => {
        await new Promise((_, reject) => (hang = reject));
        return {};
      })
      .addEdge(START, 'slow')
      .addEdge('slow', END)
      .compile({ checkpointer: saver });
    // A run that stops inside its node, as in a process that died there, stays listed as running.
    const first = await resumer({ graph, lease: '200ms', onError: () => {} });
    const run = first.invoke({ topic: 'deleted' }, config('t-deleted')).catch((error: unknown) => error);
    await expect.poll(() => hang).toBeDefined();
    await saver.deleteThread('t-deleted');
    const errors: unknown[] = [];
    const runs: unknown[] = [];
    const second = await resumer({
      graph: { checkpointer: saver, invoke: async (...args) => runs.push(args) },
      holdpoint: hp,
      rescanInterval: '1h',
      onError: (error) => errors.push(error),
    });
    await new Promise((resolve) => setTimeout(resolve, 600));
    await second.scan();
    expect(runs).toEqual([]);
    expect(errors).toEqual([]);
    hang?.(new Error('gone'));
    await run;
  });

  it('releases a thread whose lease could not be released at first, so the next decision resumes it at once', async () => {
    const { hp, store, saver, resumer } = await gateSetup();
    // The store refuses the first release of a lease, as one that is overloaded for a moment would.
    let failRelease = 1;
    const leases = new Proxy(store, {
      get(target, property) {
        if (property === 'releaseClaim') {
          return async (key: string, value: string) => {
            if (failRelease > 0) {
              failRelease--;
              throw new StoreUnavailableError({
                store: 'sqlite',
                operation: 'write',
                cause: new Error('busy'),
              });
            }
            return target.releaseClaim(key, value);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const graph = legalThenCfo(hp, saver);
    const errors: unknown[] = [];
    await resumer({ graph, store: leases, onError: (error) => errors.push(error) });
    const [legalTask] = pendingTaskIds(await graph.invoke({ topic: 'release' }, config('t-release')));
    await hp.decide(legalTask as string, { outcome: 'approved', actor: 'legal@acme.test' });
    const cfoTask = await expect
      .poll(async () => (await taskList(hp, { assignee: 'cfo@acme.test' }))[0]?.id)
      .toBeDefined()
      .then(async () => (await taskList(hp, { assignee: 'cfo@acme.test' }))[0]?.id as string);
    await hp.decide(cfoTask, { outcome: 'approved', actor: 'cfo@acme.test' });
    // The lease lasts 10 minutes: without a second try of the release, the thread stays held.
    await expect
      .poll(async () => (await graph.getState(config('t-release'))).values.results?.cfo?.outcome, {
        timeout: 10_000,
      })
      .toBe('approved');
    expect(failRelease).toBe(0);
    expect(errors.some((error) => StoreUnavailableError.isInstance(error))).toBe(true);
  });

  it('answers two gates of one node, each with its own decision', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const graph = new StateGraph(Results)
      .addNode('both', async (state: ResultsState) => {
        const legal = await waitForHuman({
          holdpoint: hp,
          task: 'review',
          assignee: 'legal@acme.test',
          context: state.topic,
        });
        const cfo = await waitForHuman({
          holdpoint: hp,
          task: 'approval',
          assignee: 'cfo@acme.test',
          context: state.topic,
        });
        return { results: { legal, cfo } };
      })
      .addEdge(START, 'both')
      .addEdge('both', END)
      .compile({ checkpointer: saver });
    await resumer({ graph });

    const [legalTask] = pendingTaskIds(await graph.invoke({ topic: 'two gates' }, config('t-two')));
    await hp.decide(legalTask as string, {
      outcome: 'changes_requested',
      comment: 'L',
      actor: 'legal@acme.test',
    });
    const cfoTask = await expect
      .poll(async () => (await taskList(hp, { assignee: 'cfo@acme.test' }))[0]?.id)
      .toBeDefined()
      .then(async () => (await taskList(hp, { assignee: 'cfo@acme.test' }))[0]?.id as string);
    expect((await hp.getTask(cfoTask)).metadata?.langgraph).toMatchObject({ node: 'both', position: 1 });
    await hp.decide(cfoTask, { outcome: 'rejected', comment: 'C', actor: 'cfo@acme.test' });

    await expect.poll(async () => (await graph.getState(config('t-two'))).tasks).toEqual([]);
    const { results } = (await graph.getState(config('t-two'))).values as ResultsState;
    expect(results.legal).toMatchObject({ taskId: legalTask, outcome: 'changes_requested', comment: 'L' });
    expect(results.cfo).toMatchObject({ taskId: cfoTask, outcome: 'rejected', comment: 'C' });
  });

  it('answers two parallel branches by interrupt id, also when both are decided before the resumer starts', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const branch = (name: string, assignee: string) => async (state: ResultsState) => ({
      results: {
        [name]: await waitForHuman({
          holdpoint: hp,
          assignee,
          context: { branch: name, topic: state.topic },
        }),
      },
      runs: [name],
    });
    const graph = new StateGraph(Results)
      .addNode('a', branch('a', 'alice@acme.test'))
      .addNode('b', branch('b', 'bob@acme.test'))
      .addNode('join', () => ({ runs: ['join'] }))
      .addEdge(START, 'a')
      .addEdge(START, 'b')
      .addEdge(['a', 'b'], 'join')
      .addEdge('join', END)
      .compile({ checkpointer: saver });

    const byAssignee = async (output: unknown) =>
      new Map(
        await Promise.all(
          pendingTaskIds(output).map(
            async (id) => [(await hp.getTask(id)).assignees[0] as string, id] as const,
          ),
        ),
      );
    // Both decided while no resumer runs: the resumer's start-up answers both in one resume, by id.
    const both = await byAssignee(await graph.invoke({ topic: 'together' }, config('t-both')));
    await hp.decide(both.get('alice@acme.test') as string, { outcome: 'rejected', actor: 'alice@acme.test' });
    await hp.decide(both.get('bob@acme.test') as string, { outcome: 'approved', actor: 'bob@acme.test' });
    const resumes: ResumeEvent[] = [];
    const live = await byAssignee(await graph.invoke({ topic: 'one by one' }, config('t-live')));
    await resumer({ graph, onResume: (event) => resumes.push(event) });
    const together = (await graph.getState(config('t-both'))).values as ResultsState;
    expect(together.results.a).toMatchObject({ outcome: 'rejected', taskId: both.get('alice@acme.test') });
    expect(together.results.b).toMatchObject({ outcome: 'approved', taskId: both.get('bob@acme.test') });
    expect(
      resumes.filter((event) => event.threadId === 't-both').map((event) => event.interrupts.length),
    ).toEqual([2]);

    // One at a time: b is answered first, a stays waiting (asked again, not a second time).
    await hp.decide(live.get('bob@acme.test') as string, { outcome: 'rejected', actor: 'bob@acme.test' });
    await expect
      .poll(async () => ((await graph.getState(config('t-live'))).values as ResultsState).results.b?.outcome)
      .toBe('rejected');
    expect(((await graph.getState(config('t-live'))).values as ResultsState).results.a).toBeUndefined();
    await hp.decide(live.get('alice@acme.test') as string, { outcome: 'approved', actor: 'alice@acme.test' });
    await expect.poll(async () => (await graph.getState(config('t-live'))).tasks).toEqual([]);
    const live2 = (await graph.getState(config('t-live'))).values as ResultsState;
    expect(live2.results.a).toMatchObject({ outcome: 'approved', actor: { id: 'alice@acme.test' } });
    expect(live2.results.b).toMatchObject({ outcome: 'rejected', actor: { id: 'bob@acme.test' } });
    expect(live2.runs.filter((run) => run === 'join')).toHaveLength(1);
    expect(await taskList(hp)).toHaveLength(4);
  });

  it('reports a timeout policy as the policy, and routes a gate by outcome or status', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const gate = humanGate<ResultsState>({
      holdpoint: hp,
      task: 'approval',
      assignee: 'cfo@acme.test',
      timeout: '100ms',
      ask: (state) => ({
        context: { topic: state.topic },
        onTimeout: state.topic === 'reject' ? 'reject' : 'fail',
      }),
      routes: { approved: 'send', rejected: END, timed_out: END },
      update: (result) => ({ results: { cfo: result } }),
    });
    expect(gate.ends.sort()).toEqual([END, 'send'].sort());
    const graph = new StateGraph(Results)
      .addNode('cfo', gate, { ends: gate.ends })
      .addNode('send', () => ({ sent: true }))
      .addEdge(START, 'cfo')
      .addEdge('send', END)
      .compile({ checkpointer: saver });
    await resumer({ graph });

    await graph.invoke({ topic: 'reject' }, config('t-policy'));
    await graph.invoke({ topic: 'fail' }, config('t-timeout'));
    await expect.poll(async () => (await graph.getState(config('t-policy'))).next).toEqual([]);
    await expect.poll(async () => (await graph.getState(config('t-timeout'))).next).toEqual([]);
    const policy = (await graph.getState(config('t-policy'))).values as ResultsState;
    expect(policy.results.cfo).toMatchObject({
      status: 'decided',
      outcome: 'rejected',
      decidedBy: 'policy',
      actor: null,
    });
    expect(policy.sent).toBeUndefined();
    const timedOut = (await graph.getState(config('t-timeout'))).values as ResultsState;
    expect(timedOut.results.cfo).toMatchObject({ status: 'timed_out', decidedBy: 'policy', actor: null });
    expect(timedOut.sent).toBeUndefined();

    await graph.invoke({ topic: 'approve' }, config('t-approve'));
    const [pending] = await taskList(hp, { status: 'pending' });
    await hp.decide(pending?.id as string, { outcome: 'approved', actor: 'cfo@acme.test' });
    await expect
      .poll(async () => ((await graph.getState(config('t-approve'))).values as ResultsState).sent)
      .toBe(true);
  });

  it('refuses a resume by hand while the task is still pending', async () => {
    const { hp, saver } = await gateSetup();
    const graph = new StateGraph(Results)
      .addNode('gate', async () => ({
        results: { x: await waitForHuman({ holdpoint: hp, assignee: 'cfo@acme.test' }) },
      }))
      .addEdge(START, 'gate')
      .addEdge('gate', END)
      .compile({ checkpointer: saver });
    const [taskId] = pendingTaskIds(await graph.invoke({ topic: 'x' }, config('t-hand')));
    await expect(
      graph.invoke(new Command({ resume: { status: 'decided', outcome: 'approved' } }), config('t-hand')),
    ).rejects.toMatchObject({ code: 'INVALID_STATE', id: taskId });
    // Naming the task does not make it decided: the engine is asked.
    await expect(
      graph.invoke(
        new Command({ resume: { status: 'decided', outcome: 'approved', taskId, decidedBy: 'human' } }),
        config('t-hand'),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_STATE', id: taskId });
    expect((await hp.getTask(taskId as string)).status).toBe('pending');
  });

  it('refuses a graph without a checkpointer before asking anyone: no task, no notification', async () => {
    const { hp, saver, notifications } = await gateSetup();
    const build = () =>
      new StateGraph(Results)
        .addNode('gate', async () => ({
          results: { x: await waitForHuman({ holdpoint: hp, assignee: 'cfo@acme.test' }) },
        }))
        .addEdge(START, 'gate')
        .addEdge('gate', END);
    await expect(build().compile().invoke({ topic: 'x' }, config('t-no-saver'))).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'waitForHuman',
      message: expect.stringContaining('checkpointer'),
    });
    expect(await taskList(hp)).toEqual([]);
    expect(notifications).toEqual([]);
    // The same graph with a checkpointer pauses at the gate as before.
    const [taskId] = pendingTaskIds(
      await build().compile({ checkpointer: saver }).invoke({ topic: 'x' }, config('t-saver')),
    );
    expect((await hp.getTask(taskId as string)).status).toBe('pending');
    expect(await taskList(hp)).toHaveLength(1);
  });

  it('finds the engine in the run context', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const graph = new StateGraph(Results)
      .addNode('gate', async () => ({ results: { x: await waitForHuman({ assignee: 'cfo@acme.test' }) } }))
      .addEdge(START, 'gate')
      .addEdge('gate', END)
      .compile({ checkpointer: saver });
    await expect(graph.invoke({ topic: 'x' }, config('t-none'))).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'waitForHuman.holdpoint',
    });
    const [taskId] = pendingTaskIds(
      await graph.invoke({ topic: 'x' }, { ...config('t-context'), context: { holdpoint: hp } }),
    );
    // The resumer puts the engine in the context of the runs it resumes.
    await resumer({ graph });
    await hp.decide(taskId as string, { outcome: 'approved', actor: 'cfo@acme.test' });
    await expect
      .poll(
        async () => ((await graph.getState(config('t-context'))).values as ResultsState).results.x?.outcome,
      )
      .toBe('approved');
  });

  it('waits inside a subgraph, and the resumer resumes it through the parent thread', async () => {
    const { hp, saver, resumer } = await gateSetup();
    const inner = new StateGraph(Results)
      .addNode('ask', async (state: ResultsState) => ({
        results: {
          inner: await waitForHuman({ holdpoint: hp, assignee: 'cfo@acme.test', context: state.topic }),
        },
      }))
      .addEdge(START, 'ask')
      .addEdge('ask', END)
      .compile();
    const graph = new StateGraph(Results)
      .addNode('review', inner)
      .addNode('after', () => ({ runs: ['after'] }))
      .addEdge(START, 'review')
      .addEdge('review', 'after')
      .addEdge('after', END)
      .compile({ checkpointer: saver });
    const [taskId] = pendingTaskIds(await graph.invoke({ topic: 'nested' }, config('t-sub')));
    expect((await hp.getTask(taskId as string)).metadata?.langgraph).toMatchObject({
      threadId: 't-sub',
      node: 'ask',
    });
    await resumer({ graph });
    await hp.decide(taskId as string, { outcome: 'approved', actor: 'cfo@acme.test' });
    await expect
      .poll(async () => ((await graph.getState(config('t-sub'))).values as ResultsState).runs)
      .toEqual(['after']);
    const done = (await graph.getState(config('t-sub'))).values as ResultsState;
    expect(done.results.inner).toMatchObject({ taskId, outcome: 'approved' });
    expect(await taskList(hp)).toHaveLength(1);
  });
});
