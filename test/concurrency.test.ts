import { createHoldpoint } from '@holdpoint/core';
import { describe, expect, it } from 'vitest';
import { exited, runFixture, tempSqlite } from './helpers.js';

describe('concurrent decisions across processes', () => {
  it('50 decide calls from 5 processes on one SQLite file: exactly one wins, 49 get ALREADY_DECIDED', async () => {
    const store = tempSqlite();
    const hp = await createHoldpoint({ store });
    const task = await hp.requestHuman({ assignee: 'ann@acme.test', context: { amount: 5000 } });
    const children = Array.from({ length: 5 }, () =>
      runFixture('decider', [store, task.id, '10', 'ann@acme.test']),
    );
    const outputs = await Promise.all(
      children.map(
        (child) =>
          new Promise<string[]>((resolve, reject) => {
            let out = '';
            let err = '';
            child.stdout?.on('data', (chunk) => {
              out += chunk;
            });
            child.stderr?.on('data', (chunk) => {
              err += chunk;
            });
            void exited(child).then((code) =>
              code === 0
                ? resolve(JSON.parse(out) as string[])
                : reject(new Error(`decider exited ${code}: ${err}`)),
            );
          }),
      ),
    );
    const all = outputs.flat();
    expect(all).toHaveLength(50);
    expect(all.filter((result) => result === 'ok')).toHaveLength(1);
    expect(all.filter((result) => result === 'ALREADY_DECIDED')).toHaveLength(49);
    const jsonl = await hp.audit.export(task.intentId);
    expect(
      jsonl
        .trim()
        .split('\n')
        .filter((line) => JSON.parse(line).type === 'task-decided'),
    ).toHaveLength(1);
    expect(await hp.audit.verify(jsonl)).toMatchObject({ ok: true });
    await hp.close();
  });
});
