// The process one scenario runs in (forked by run.ts): it reads the scenario from argv, runs it and
// sends the result back over IPC. A process per scenario gives each its own peak RSS and a cold
// start, so one store's leftovers (caches, pools, garbage) never weigh on the next one's numbers.
import { runScenario, type ScenarioSpec } from './scenario.js';
import { messageOf } from './stores.js';

/** What the scenario process sends to its parent. */
export type ScenarioMessage =
  | { ok: true; result: Awaited<ReturnType<typeof runScenario>> }
  | { ok: false; error: string };

const send = (message: ScenarioMessage) =>
  new Promise<void>((resolve) => {
    if (process.send) process.send(message, () => resolve());
    else {
      console.log(JSON.stringify(message));
      resolve();
    }
  });

try {
  const spec = JSON.parse(process.argv[2] ?? '') as ScenarioSpec;
  await send({ ok: true, result: await runScenario(spec) });
  process.exitCode = 0;
} catch (error) {
  await send({ ok: false, error: messageOf(error) });
  process.exitCode = 1;
}
// Connections that linger after close (a pool's idle timer, a subscriber's reconnect) must not
// keep the scenario alive: its work is done and reported.
process.exit();
