import type { ApiKeyInfo } from '@holdpoint/server';
import type { Command } from '../command.js';
import { withApi } from '../connection.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { table } from '../output.js';

export const keysCreate: Command = {
  name: 'keys create',
  summary: 'Create an API key (the secret is printed once)',
  usage: 'keys create --name <name> --scope agent|person|admin [--actor <id>] [--actor-name <name>]',
  description:
    'agent: submit intents, ask humans, read and end its own. person: see and decide the tasks of --actor (their id, e.g. an email). admin: everything, deciding on behalf of a person.',
  options: {
    name: { type: 'string', value: '<name>', description: 'what the key is for, e.g. billing-agent' },
    scope: { type: 'string', value: '<scope>', description: 'agent, person or admin' },
    actor: {
      type: 'string',
      value: '<id>',
      description: 'the identity recorded for what the key does (required for person)',
    },
    'actor-name': { type: 'string', value: '<name>', description: 'display name of that identity' },
  },
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const { name, scope, actor } = input.values;
    if (typeof name !== 'string' || typeof scope !== 'string')
      throw new CliError(exitCodes.usage, 'Give --name and --scope');
    const body = {
      name,
      scope,
      ...(typeof actor === 'string' ? { actor } : {}),
      ...(typeof input.values['actor-name'] === 'string' ? { actorName: input.values['actor-name'] } : {}),
    };
    const created = (await withApi(input, (api) => api.request('POST', '/v1/keys', { body }))) as {
      key: ApiKeyInfo;
      secret: string;
    };
    if (input.json) input.io.stdout(JSON.stringify(created));
    else {
      input.io.stdout(created.secret);
      input.io.stderr(
        `Created ${created.key.scope} key ${created.key.id} for ${created.key.actor.id}. The secret above is shown once: store it now.`,
      );
    }
    return exitCodes.ok;
  },
};

export const keysList: Command = {
  name: 'keys list',
  summary: 'List API keys (never their secrets)',
  usage: 'keys list',
  options: {},
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const { keys } = (await withApi(input, (api) => api.request('GET', '/v1/keys'))) as {
      keys: ApiKeyInfo[];
    };
    if (input.json) input.io.stdout(JSON.stringify({ keys }));
    else
      input.io.stdout(
        table(
          ['ID', 'SCOPE', 'NAME', 'ACTOR', 'CREATED', 'REVOKED'],
          keys.map((key) => [key.id, key.scope, key.name, key.actor.id, key.createdAt, key.revokedAt ?? '-']),
        ),
      );
    return exitCodes.ok;
  },
};

export const keysRevoke: Command = {
  name: 'keys revoke',
  summary: 'Revoke an API key: it stops working at once',
  usage: 'keys revoke <key-id>',
  options: {},
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const id = input.positionals[0] as string;
    const key = (await withApi(input, (api) =>
      api.request('POST', `/v1/keys/${encodeURIComponent(id)}/revoke`),
    )) as ApiKeyInfo;
    input.io.stdout(input.json ? JSON.stringify(key) : `Revoked ${key.id} (${key.name}) at ${key.revokedAt}`);
    return exitCodes.ok;
  },
};
