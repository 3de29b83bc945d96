// The scripted humans of the standalone story. They act on the notifications the engine delivers
// (what would be an email or an inbox entry), through `decide` on the same store — the same path
// a decision from the server's inbox takes. Against a running server the real people act instead,
// and this file is not used.
import { type Holdpoint, type HumanTask, type Notification, StaleVersionError } from '@holdpoint/core';
import { people } from './graph.js';

export interface Script {
  /** Legal asks for a change on the first version, then approves the revision. */
  legal: 'request-changes-then-approve' | 'approve' | 'silent';
  /** The CFO approves at once, after the first reminder, or never. */
  cfo: 'approve' | 'approve-after-reminder' | 'silent';
  /** The deputy CFO approves once reminded as an assignee (after an escalation). */
  deputyCfo: 'approve-when-reminded' | 'silent';
}

export interface ScriptedHumans {
  /** Hand every notification here (from the engine's `notify`). */
  notice(notification: Notification): void;
  /** What the humans were refused, e.g. a decision on an old version. */
  readonly refusals: string[];
  /** Errors that should not have happened. */
  readonly errors: unknown[];
}

const versionOf = (task: HumanTask) => (task.context as { version?: number } | null)?.version ?? 0;

export function scriptedHumans(hp: Holdpoint, script: Script): ScriptedHumans {
  const refusals: string[] = [];
  const errors: unknown[] = [];
  const digests = new Map<number, string>();
  const act = (work: () => Promise<void>) => {
    // Not inside the delivery hook: a person reads the message later.
    setImmediate(() => void work().catch((error: unknown) => errors.push(error)));
  };

  const onCreated = (task: HumanTask) => {
    if (task.type === 'review' && task.assignees.includes(people.legal)) {
      const version = versionOf(task);
      digests.set(version, task.versionDigest);
      if (script.legal === 'silent') return;
      act(async () => {
        if (script.legal === 'request-changes-then-approve' && version === 1) {
          await hp.decide(task.id, {
            outcome: 'changes_requested',
            comment: 'Avoid forward-looking statements: drop the sentence about next year.',
            actor: { id: people.legal, name: 'Legal' },
            versionDigest: task.versionDigest,
          });
          return;
        }
        const old = digests.get(1);
        if (version > 1 && old !== undefined) {
          // Approving what was read earlier — the first version — is refused: it is not what is asked now.
          try {
            await hp.decide(task.id, { outcome: 'approved', actor: people.legal, versionDigest: old });
            errors.push(new Error('a decision on the old version was accepted'));
          } catch (error) {
            if (!StaleVersionError.isInstance(error)) throw error;
            refusals.push(`legal's approval of v1 refused on v${version}: ${error.code}`);
          }
        }
        await hp.decide(task.id, {
          outcome: 'approved',
          comment: 'Wording is fine now.',
          actor: { id: people.legal, name: 'Legal' },
          versionDigest: task.versionDigest,
        });
      });
    }
    if (task.type === 'approval' && script.cfo === 'approve') {
      act(() => approve(task, people.cfo, 'CFO'));
    }
  };

  const approve = async (task: HumanTask, id: string, name: string) => {
    await hp.decide(task.id, {
      outcome: 'approved',
      comment: `Approved for the board (${name}).`,
      actor: { id, name },
      versionDigest: task.versionDigest,
    });
  };

  let cfoActed = false;
  let deputyActed = false;
  return {
    refusals,
    errors,
    notice(notification) {
      const { task } = notification;
      if (notification.type === 'task-created') onCreated(task);
      if (notification.type !== 'task-reminded' || task.type !== 'approval' || task.status !== 'pending')
        return;
      if (script.cfo === 'approve-after-reminder' && !cfoActed) {
        cfoActed = true;
        act(() => approve(task, people.cfo, 'CFO'));
      }
      if (
        script.deputyCfo === 'approve-when-reminded' &&
        !deputyActed &&
        task.assignees.includes(people.deputyCfo)
      ) {
        deputyActed = true;
        act(() => approve(task, people.deputyCfo, 'Deputy CFO'));
      }
    },
  };
}
