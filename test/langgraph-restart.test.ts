import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHoldpoint } from '@holdpoint/core';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, jsonLines, readJsonLines, runFixture, taskList } from './helpers.js';

const children: Array<ReturnType<typeof runFixture>> = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('a LangGraph graph whose process is killed while it waits for the CFO', () => {
  it('completes once a new process starts the resumer: one distribution, one notification per gate', {
    timeout: 180_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdpoint-langgraph-restart-'));
    dirs.push(dir);
    const store = `sqlite://${join(dir, 'holdpoint.db')}`;
    const human = await createHoldpoint({ store, timers: false });

    const first = runFixture('board-report-worker', [store, dir, 'start', 'q3-restart']);
    children.push(first);
    const firstOutput = jsonLines(first);
    const waiting = await firstOutput.next((line) => line.waiting === 'q3-restart', 60_000);
    const [legalTaskId] = waiting.taskIds as string[];
    const legalTask = await human.getTask(legalTaskId as string);
    expect(legalTask).toMatchObject({ type: 'review', assignees: ['legal@acme.test'], status: 'pending' });
    await human.decide(legalTask.id, {
      outcome: 'approved',
      actor: 'legal@acme.test',
      versionDigest: legalTask.versionDigest,
    });
    // The first process resumes the graph, which stops at the CFO's gate (it has let go of the
    // thread when it says so).
    const resumed = await firstOutput.next((line) => line.resumed === 'q3-restart', 60_000);
    expect(resumed.taskIds).toEqual([legalTask.id]);
    const [cfoTask] = await taskList(human, { assignee: 'cfo@acme.test', status: 'pending' });
    expect(cfoTask).toMatchObject({ type: 'approval', intentId: legalTask.intentId });

    first.kill('SIGKILL');
    expect(await exited(first)).toBe('SIGKILL');
    // While no process runs the graph, the CFO approves.
    await human.decide(cfoTask?.id as string, {
      outcome: 'approved',
      comment: 'Send it',
      actor: 'cfo@acme.test',
      versionDigest: cfoTask?.versionDigest as string,
    });

    const second = runFixture('board-report-worker', [store, dir, 'serve']);
    children.push(second);
    const secondOutput = jsonLines(second);
    await secondOutput.next((line) => line.distributed === legalTask.intentId, 60_000);
    expect((await secondOutput.next((line) => line.resumed === 'q3-restart')).taskIds).toEqual([cfoTask?.id]);

    // Give a second distribution or notification every chance to appear before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    second.kill('SIGKILL');
    await exited(second);
    expect(readJsonLines(join(dir, 'distributions.jsonl'))).toEqual([
      expect.objectContaining({ intentId: legalTask.intentId, version: 1, pid: second.pid }),
    ]);
    const notifications = readJsonLines(join(dir, 'notifications.jsonl'));
    const created = notifications.filter((line) => line.type === 'task-created');
    expect(created.map((line) => line.taskId).sort()).toEqual([legalTask.id, cfoTask?.id].sort());
    expect(new Set(notifications.map((line) => line.deliveryId)).size).toBe(notifications.length);
    expect(await taskList(human)).toHaveLength(2);
    const intent = await human.getIntent(legalTask.intentId);
    expect(intent.status).toBe('COMPLETED');
    expect(await human.audit.verify(await human.audit.export(intent.id))).toMatchObject({ ok: true });
    await human.close();
  });
});
