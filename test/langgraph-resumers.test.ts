import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHoldpoint, createStore, type Holdpoint } from '@holdpoint/core';
import { HoldpointSaver } from '@holdpoint/langgraph';
import {
  deleteRedisPrefixes,
  dropPostgresSchemas,
  eventually,
  selectedStores,
  testPostgresUrl,
  testRedisUrl,
} from '@holdpoint/test-services';
import { afterAll, afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { jsonLines, readJsonLines, runFixture, runScript, taskList } from './helpers.js';

const children: Array<ReturnType<typeof runFixture>> = [];
const dirs: string[] = [];
const redisPrefixes: string[] = [];
const postgresSchemas: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => {
  // Not after each: a failed test describes its threads from the store in its directory.
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  await deleteRedisPrefixes(testRedisUrl, redisPrefixes).catch(() => {});
  await dropPostgresSchemas(testPostgresUrl, postgresSchemas).catch(() => {});
});

const unique = () => `${process.pid}_${randomBytes(4).toString('hex')}`;
const storeUrls = {
  sqlite: (dir: string) => `sqlite://${join(dir, 'holdpoint.db')}`,
  redis: () => {
    const prefix = `hp-lg-${unique()}`;
    redisPrefixes.push(prefix);
    return `${testRedisUrl}?prefix=${prefix}`;
  },
  postgres: () => {
    const schema = `hp_lg_${unique()}`;
    postgresSchemas.push(schema);
    return `${testPostgresUrl}?schema=${schema}`;
  },
};
const stores = selectedStores().filter((name): name is keyof typeof storeUrls => name in storeUrls);

/** Each thread's latest checkpoint, its pending writes, its lease and its intent's tasks. */
async function describeThreads(
  url: string,
  threads: string[],
  intentIds: string[],
  human: Holdpoint,
): Promise<string> {
  const store = await createStore(url);
  try {
    const saver = new HoldpointSaver(store);
    const interrupted: unknown[] = [];
    for await (const entry of saver.interruptedThreads()) interrupted.push(entry);
    const lines = [`interrupted index: ${JSON.stringify(interrupted)}`];
    for (const [at, threadId] of threads.entries()) {
      const tuple = await saver.getTuple({ configurable: { thread_id: threadId } });
      const [lease] = await store.readClaims([`langgraph:lease:${threadId}`]);
      const intentId = intentIds[at];
      const tasks = intentId === undefined ? [] : await taskList(human, { intentId, limit: 100 });
      lines.push(
        JSON.stringify({
          threadId,
          checkpoint: tuple?.checkpoint.id,
          next: tuple?.metadata?.step,
          writes: tuple?.pendingWrites?.map(([taskId, channel]) => `${taskId}:${channel}`),
          lease,
          tasks: tasks.map((task) => `${task.id} ${task.type} ${task.status} ${task.assignees.join(',')}`),
        }),
      );
    }
    return lines.join('\n');
  } catch (error) {
    return `(could not describe the threads: ${String(error)})`;
  } finally {
    await store.close();
  }
}

async function decideAll(human: Holdpoint, taskIds: string[], actor: string): Promise<void> {
  await Promise.all(
    taskIds.map(async (taskId) => {
      const task = await human.getTask(taskId);
      await human.decide(taskId, { outcome: 'approved', actor, versionDigest: task.versionDigest });
    }),
  );
}

describe.each(stores)('three processes resuming one graph on %s', (storeName) => {
  // Four processes of LangGraph on two shared cores: the waits are for conditions, given room.
  it('resumes each thread once per decision: one resume per task, one distribution per report', {
    timeout: 180_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdpoint-langgraph-resumers-'));
    dirs.push(dir);
    const store = storeUrls[storeName](dir);
    const threads = ['report-a', 'report-b', 'report-c', 'report-d'];
    const human = await createHoldpoint({ store, timers: false });
    const starter = runFixture('board-report-worker', [store, dir, 'start-only', ...threads]);
    children.push(starter);
    const starterOutput = jsonLines(starter);
    await starterOutput.next((line) => line.stopped === true, 60_000);
    const started = starterOutput.lines.filter((line) => typeof line.waiting === 'string');
    const intentIds = started.map((line) => line.intentId as string);
    expect(started.map((line) => line.waiting)).toEqual(threads);
    // Every legal review is approved while no resumer runs…
    await decideAll(
      human,
      started.flatMap((line) => line.taskIds as string[]),
      'legal@acme.test',
    );
    // …then three processes start their resumers at one moment: their start-up scans race for
    // every thread, and later for every CFO decision.
    const workers = [1, 2, 3].map(() =>
      runScript(new URL('./fixtures/board-report-worker.ts', import.meta.url), [store, dir, 'serve-on-go'], {
        stdin: true,
      }),
    );
    children.push(...workers);
    // What the workers report on stderr (the resumer's onError), shown if the test fails.
    const reported = workers.map(() => [] as string[]);
    for (const [at, worker] of workers.entries()) {
      worker.stderr?.on('data', (chunk) => reported[at]?.push(String(chunk)));
    }
    onTestFailed(async () => {
      reported.forEach((lines, at) => {
        if (lines.length > 0) console.error(`worker ${at + 1} stderr:\n${lines.join('').slice(-4_000)}`);
      });
      // Where each thread stands, and what each worker printed: enough to tell a thread no one
      // resumed from a resume that went elsewhere, or a task made but not listed.
      for (const [at, output] of outputs.entries()) {
        console.error(`worker ${at + 1} stdout: ${JSON.stringify(output.lines)}`);
      }
      console.error(`threads:\n${await describeThreads(store, threads, intentIds, human)}`);
    });
    const outputs = workers.map((worker) => jsonLines(worker));
    await Promise.all(outputs.map((output) => output.next((line) => line.loaded === true, 60_000)));
    for (const worker of workers) worker.stdin?.write('go\n');
    await Promise.all(outputs.map((output) => output.next((line) => line.ready === true, 60_000)));
    const cfoTasks = await expect
      .poll(async () => (await taskList(human, { assignee: 'cfo@acme.test', status: 'pending' })).length, {
        timeout: 60_000,
      })
      .toBe(threads.length)
      .then(async () =>
        (await taskList(human, { assignee: 'cfo@acme.test', status: 'pending' })).map((task) => task.id),
      );
    await decideAll(human, cfoTasks, 'cfo@acme.test');

    const expectedResumes = [...started.flatMap((line) => line.taskIds as string[]), ...cfoTasks].sort();
    const resumedTasks = () =>
      outputs
        .flatMap((output) => output.lines.filter((line) => typeof line.resumed === 'string'))
        .flatMap((line) => line.taskIds as string[]);
    // A worker prints that it resumed a thread after the graph step it ran (the distribution) ended:
    // wait for both, the very things counted below.
    await eventually(
      () => {
        expect(readJsonLines(join(dir, 'distributions.jsonl'))).toHaveLength(threads.length);
        expect(resumedTasks().length).toBeGreaterThanOrEqual(expectedResumes.length);
      },
      { timeout: 60_000 },
    );
    // Give a duplicate every chance to appear before counting.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (const worker of workers) worker.kill('SIGKILL');

    const distributions = readJsonLines(join(dir, 'distributions.jsonl'));
    expect(distributions.map((line) => line.intentId).sort()).toEqual([...intentIds].sort());
    expect(resumedTasks().sort()).toEqual(expectedResumes);
    const created = readJsonLines(join(dir, 'notifications.jsonl')).filter(
      (line) => line.type === 'task-created',
    );
    expect(created).toHaveLength(threads.length * 2);
    expect(new Set(created.map((line) => line.taskId)).size).toBe(threads.length * 2);
    expect(await taskList(human, { limit: 100 })).toHaveLength(threads.length * 2);
    await human.close();
  });
});
