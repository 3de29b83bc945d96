// Ten humans decide each task at the same moment, from three processes with an engine each: exactly
// one decision per task (one vote per approver under a quorum), and every loser is told ALREADY_DECIDED.
import { createHoldpoint, type HumanTask } from '@holdpoint/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { RaceDecision } from './fixtures/race-decider.js';
import {
  chainOf,
  finished,
  isolatedStore,
  killChildren,
  seconds,
  startFixture,
  storeSelected,
} from './support.js';

const processCount = 3;
const decidersPerTask = 10;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await killChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A task, the ten decisions sent to it, and how many of them must win. */
interface Race {
  task: HumanTask;
  decisions: RaceDecision[];
  winners: number;
}

const stores = (['redis', 'postgres', 'sqlite'] as const).filter((name) => storeSelected(name));

describe.each(stores)('racing deciders on one %s store', (kind) => {
  it(`30 tasks, ${decidersPerTask} concurrent deciders each over ${processCount} processes: one decision per task (per approver under a quorum), the rest ALREADY_DECIDED`, async () => {
    const started = Date.now();
    const store = isolatedStore(kind);
    cleanups.push(store.cleanup);
    const hp = await createHoldpoint({ store: store.spec, timers: false });
    cleanups.push(() => hp.close());

    const people = Array.from({ length: decidersPerTask }, (_, n) => `person-${n}@acme.test`);
    const races: Race[] = [];
    // 20 tasks anyone of ten may decide, approving or rejecting: the first decision stands.
    for (let n = 0; n < 20; n++) {
      const task = await hp.requestHuman({ assignees: people, context: { race: n } });
      const decisions = people.map((actor, j) => ({
        taskId: task.id,
        actor,
        outcome: j % 2 ? 'rejected' : 'approved',
      }));
      races.push({ task, decisions, winners: 1 });
    }
    // 5 tasks that need all of three approvers, 5 that need two of four: every approver tries
    // several times, and each approver's vote counts once.
    for (const [count, quorum, winners] of [
      [3, 'all', 3],
      [4, 2, 2],
    ] as const) {
      for (let n = 0; n < 5; n++) {
        const approvers = people.slice(0, count);
        const task = await hp.requestHuman({ assignees: approvers, quorum, context: { quorum, n } });
        const decisions = Array.from({ length: decidersPerTask }, (_, j) => ({
          taskId: task.id,
          actor: approvers[j % count] as string,
          outcome: 'approved',
        }));
        races.push({ task, decisions, winners });
      }
    }

    // Decider j of task i runs in process (i + j) mod 3, so every task is raced from every process.
    const shares: RaceDecision[][] = Array.from({ length: processCount }, () => []);
    races.forEach((race, i) => {
      race.decisions.forEach((decision, j) => {
        shares[(i + j) % processCount]?.push(decision);
      });
    });
    const children = shares.map((share) =>
      startFixture('race-decider', [store.spec, JSON.stringify(share)], { stdin: true }),
    );
    await Promise.all(children.map((child) => child.next((line) => 'ready' in line, 30_000)));
    for (const child of children) child.child.stdin?.end('go\n');
    const reports = await Promise.all(
      children.map((child) => child.next((line) => 'results' in line, 30_000)),
    );
    for (const child of children) expect(await finished(child.child), child.stderr()).toBe(0);
    const results = reports.flatMap((report) => report.results as Array<RaceDecision & { result: string }>);
    expect(results).toHaveLength(races.length * decidersPerTask);

    let doubleDecisions = 0;
    let unverified = 0;
    let winnersTotal = 0;
    for (const race of races) {
      const mine = results.filter((result) => result.taskId === race.task.id);
      const won = mine.filter((result) => result.result === 'ok');
      winnersTotal += won.length;
      expect(won, `winners of task ${race.task.id}`).toHaveLength(race.winners);
      expect(mine.filter((result) => result.result !== 'ok').map((result) => result.result)).toEqual(
        Array(decidersPerTask - race.winners).fill('ALREADY_DECIDED'),
      );
      // One per approver: the winners are distinct people, and they are the votes on record.
      expect(new Set(won.map((result) => result.actor)).size).toBe(race.winners);
      const chain = await chainOf(hp, race.task.intentId);
      if (!chain.verified) unverified++;
      const decided = chain.events.filter((event) => event.type === 'task-decided');
      doubleDecisions += Math.max(0, decided.length - 1);
      expect(decided).toHaveLength(1);
      expect(chain.events.filter((event) => event.type === 'task-voted')).toHaveLength(race.winners - 1);
      const task = await hp.getTask(race.task.id);
      expect(task.status).toBe('decided');
      if (race.winners === 1) {
        expect(task.decision?.actor?.id).toBe(won[0]?.actor);
        expect(task.decision?.outcome).toBe(won[0]?.outcome);
      } else {
        expect(task.decision?.outcome).toBe('approved');
        expect((task.decision?.votes ?? []).map((vote) => vote.actor.id).sort()).toEqual(
          won.map((result) => result.actor).sort(),
        );
      }
    }
    const refused = results.filter((result) => result.result === 'ALREADY_DECIDED').length;
    const other = results.length - winnersTotal - refused;
    const summary =
      `faults: races on ${kind}: ${races.length} tasks, ${results.length} concurrent decisions from ${processCount} processes: ` +
      `${races.length - doubleDecisions} decided once, ${doubleDecisions} decided twice, ${winnersTotal} winning decisions ` +
      `(one per approver), ${refused} ALREADY_DECIDED, ${other} other outcomes, ${unverified} chains failing verification, ` +
      `${seconds(Date.now() - started)}`;
    console.log(summary);
    expect({ doubleDecisions, other, unverified }, summary).toEqual({
      doubleDecisions: 0,
      other: 0,
      unverified: 0,
    });
  }, 60_000);
});
