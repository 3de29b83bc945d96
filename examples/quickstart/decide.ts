// Decide a task from another process, as its assignee would from an inbox:
//   node --import tsx decide.ts <taskId> <approved|rejected> [versionDigest]
import { createHoldpoint } from '@holdpoint/core';

const [taskId, outcome = 'approved', versionDigest] = process.argv.slice(2);
if (!taskId) {
  console.error('usage: decide.ts <taskId> <approved|rejected> [versionDigest]');
  process.exit(2);
}
// This engine only decides: the agent's engine runs the timers.
const hp = await createHoldpoint({
  store: process.env.HOLDPOINT_STORE ?? 'sqlite://./.holdpoint/holdpoint.db',
  timers: false,
});
const task = await hp.getTask(taskId);
const decided = await hp.decide(taskId, {
  outcome,
  comment: 'Looks right — send it.',
  actor: { id: task.assignees[0] as string, name: 'CFO' },
  ...(versionDigest ? { versionDigest } : {}),
});
console.log(`cfo decided ${decided.decision?.outcome} in process ${process.pid}`);
await hp.close();
