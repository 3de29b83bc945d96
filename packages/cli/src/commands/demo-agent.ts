import type { Holdpoint } from '@holdpoint/core';

/** The demo agent of `serve --admin <email> --demo`. */
export interface DemoAgent {
  stop(): Promise<void>;
}

const title = 'Publish the weekly status report';

/**
 * A small agent in the server's own process: it asks the admin to approve publishing a report and
 * waits. Its intent and task have idempotency keys, so after a restart it waits on the same task;
 * once the task has ended it does nothing (the demo runs until it has been answered once).
 */
export function startDemoAgent(
  hp: Holdpoint,
  admin: string,
  say: (line: { demo: string; message: string; taskId?: string }) => void,
): DemoAgent {
  const stopping = new AbortController();
  const done = (async () => {
    const intent = await hp.submit({
      type: 'demo-report',
      idempotencyKey: 'holdpoint-demo',
      input: { week: 'this week' },
    });
    if (!['SUBMITTED', 'IN_PROGRESS', 'WAITING', 'CREATED'].includes(intent.status)) return;
    const request = {
      intentId: intent.id,
      task: 'approval' as const,
      title,
      description: 'The demo agent drafted this report and will publish it once you approve.',
      assignee: admin,
      context: {
        report: 'Weekly status',
        highlights: ['Checkout conversion +3.1%', 'Two incidents, both resolved within an hour'],
        audience: 'all-staff@acme.test',
      },
      idempotencyKey: 'holdpoint-demo/approve-report',
    };
    const task = await hp.requestHuman(request);
    if (task.status !== 'pending') return;
    say({
      demo: 'waiting',
      taskId: task.id,
      message: `asked ${admin} to approve “${title}” — open the sign-in link above; waiting…`,
    });
    const result = await hp.waitForHuman({ ...request, signal: stopping.signal });
    if (result.status === 'decided' && result.outcome === 'approved') {
      say({
        demo: 'continued',
        taskId: task.id,
        message: `approved by ${result.actor?.id ?? 'someone'}${result.comment ? ` (“${result.comment}”)` : ''} — continuing: the report is published.`,
      });
      await hp.complete(intent.id, { result: { published: true } });
    } else {
      say({
        demo: 'stopped',
        taskId: task.id,
        message: `the task ended ${result.outcome ?? result.status} — the report is not published.`,
      });
      await hp.fail(intent.id, { error: `not approved: ${result.outcome ?? result.status}` });
    }
  })().catch((error: unknown) => {
    if (!stopping.signal.aborted) say({ demo: 'failed', message: `stopped: ${(error as Error).message}` });
  });
  return {
    async stop() {
      stopping.abort();
      await done;
    },
  };
}
