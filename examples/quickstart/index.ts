// Quick start: an agent submits its work, gates the risky step behind a human, and prints the
// verified audit trail. Run it with `npm run quickstart` from the repository root.
//
// The human answers from this terminal when there is one; otherwise (CI, a pipe) a second process
// plays the CFO and decides through its own engine on the same SQLite file — the waiting agent is
// woken across processes. Either way the story checks its own result and exits 0.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { createHoldpoint } from '@holdpoint/core';

const store = process.env.HOLDPOINT_STORE ?? 'sqlite://./.holdpoint/holdpoint.db';
const hp = await createHoldpoint({ store });
const run = randomUUID().slice(0, 8);

// 1. The agent submits its work: a durable intent that survives restarts.
const intent = await hp.submit({
  type: 'board-report',
  input: { quarter: 'Q3 2026' },
  idempotencyKey: `q3-2026-${run}`,
});
console.log(`intent ${intent.id} ${intent.status}`);

// 2. Before it distributes the report, it waits for the CFO. One line.
const draft = { subject: 'Q3 board report', recipients: ['board@acme.test'], revenue: 12.4 };
const waiting = hp.waitForHuman({
  intentId: intent.id,
  task: 'approval',
  title: 'Distribute the Q3 board report',
  assignee: 'cfo@acme.test',
  context: { draft },
  timeout: '48h',
  remind: { after: '24h', every: '8h', max: 2 },
  escalateTo: ['deputy-cfo@acme.test'],
  idempotencyKey: `q3-2026-${run}/cfo`,
});

// 3. The human acts: from this terminal, or from another process on the same store.
const task = await waitForTask(intent.id);
console.log(
  `task ${task.id} waits for ${task.assignees.join(', ')} (version ${task.versionDigest.slice(0, 19)}…)`,
);
if (process.stdin.isTTY && !process.env.CI) {
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await terminal.question('Approve distributing the Q3 board report? [y/N] ');
  terminal.close();
  const approved = /^y(es)?$/i.test(answer.trim());
  await hp.decide(task.id, {
    outcome: approved ? 'approved' : 'rejected',
    comment: approved ? 'Approved from the terminal' : 'Rejected from the terminal',
    actor: { id: 'cfo@acme.test', name: 'CFO' },
    versionDigest: task.versionDigest,
  });
} else {
  console.log('no terminal: a second process decides as the CFO');
  await decideInAnotherProcess(task.id, task.versionDigest);
}

const result = await waiting;
console.log(`decision: ${result.outcome} by ${result.actor?.id ?? 'policy'} (${result.decidedBy})`);
if (result.status === 'decided' && result.outcome === 'approved') {
  await hp.complete(intent.id, { result: { distributedTo: draft.recipients } });
} else {
  await hp.fail(intent.id, { error: `not approved: ${result.outcome ?? result.status}` });
}

// 4. The audit trail: a hash chain with a signed head, verifiable offline.
const jsonl = await hp.audit.export(intent.id);
for (const line of jsonl.trim().split('\n')) {
  const event = JSON.parse(line);
  if (event.type === 'signature') console.log(`  signed head ${event.head.slice(0, 16)}… (Ed25519)`);
  else console.log(`  #${event.seq} ${event.type.padEnd(16)} ${event.actor?.id ?? 'engine'} ${event.at}`);
}
const verification = await hp.audit.verify(jsonl);
console.log(`audit verified: ${verification.ok}`);
await hp.close();

const expected = ['intent-submitted', 'task-created', 'task-decided'];
const types = jsonl
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line).type);
if (
  !verification.ok ||
  !expected.every((type, index) => types[index] === type) ||
  types.at(-1) !== 'signature'
) {
  console.error('quickstart: the audit trail is not what it should be');
  process.exit(1);
}

async function waitForTask(intentId: string) {
  for (;;) {
    const current = await hp.getIntent(intentId);
    const [taskId] = current.taskIds;
    if (taskId !== undefined) return hp.getTask(taskId);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function decideInAnotherProcess(taskId: string, digest: string): Promise<void> {
  const script = fileURLToPath(new URL('./decide.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, taskId, 'approved', digest], {
      stdio: 'inherit',
      env: { ...process.env, HOLDPOINT_STORE: store },
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`decide.ts exited with ${code}`))));
  });
}
