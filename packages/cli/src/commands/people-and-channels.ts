import type { DeadLetter, User, Webhook } from '@holdpoint/server';
import type { Command } from '../command.js';
import { withApi } from '../connection.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { table } from '../output.js';

export const usersAdd: Command = {
  name: 'users add',
  summary: 'Add a person to the inbox (or change their name or admin flag)',
  usage: 'users add <email> [--name <name>] [--admin]',
  description: 'Their id is their email address: give tasks to it (assignee) and they see them in the inbox.',
  options: {
    name: { type: 'string', value: '<name>', description: 'display name' },
    admin: { type: 'boolean', description: 'an admin sees and may decide every task' },
  },
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const body = {
      email: input.positionals[0] as string,
      ...(typeof input.values.name === 'string' ? { name: input.values.name } : {}),
      ...(input.values.admin === true ? { admin: true } : {}),
    };
    const user = (await withApi(input, (api) => api.request('POST', '/v1/users', { body }))) as User;
    input.io.stdout(input.json ? JSON.stringify(user) : `${user.id}${user.admin ? ' (admin)' : ''}`);
    return exitCodes.ok;
  },
};

export const usersList: Command = {
  name: 'users list',
  summary: 'List the people of the inbox',
  usage: 'users list',
  options: {},
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const { users } = (await withApi(input, (api) => api.request('GET', '/v1/users'))) as { users: User[] };
    if (input.json) input.io.stdout(JSON.stringify({ users }));
    else
      input.io.stdout(
        table(
          ['EMAIL', 'NAME', 'ADMIN', 'CREATED'],
          users.map((user) => [user.id, user.name ?? '-', user.admin ? 'yes' : 'no', user.createdAt]),
        ),
      );
    return exitCodes.ok;
  },
};

export const usersLink: Command = {
  name: 'users link',
  summary: 'Print a one-time sign-in link for a person',
  usage: 'users link <email> [--ttl 1h] [--next /tasks/<id>] [--create]',
  description:
    'The link works once, until it expires. Opening it shows a confirm page; confirming signs in. Against a store opened directly the link starts with --public-url (or HOLDPOINT_PUBLIC_URL).',
  options: {
    ttl: { type: 'string', value: '<duration>', description: 'how long it works, 1m to 7d (default 1h)' },
    next: { type: 'string', value: '<path>', description: 'where to go after signing in (default /)' },
    create: { type: 'boolean', description: 'add the person first when they are not a user yet' },
    'public-url': {
      type: 'string',
      value: '<url>',
      description: 'the server’s URL, when the store is opened directly (HOLDPOINT_PUBLIC_URL)',
    },
  },
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const body = {
      email: input.positionals[0] as string,
      ...(typeof input.values.ttl === 'string' ? { ttl: input.values.ttl } : {}),
      ...(typeof input.values.next === 'string' ? { next: input.values.next } : {}),
      ...(input.values.create === true ? { createUser: true } : {}),
    };
    const link = (await withApi(input, (api) =>
      api.request('POST', '/v1/sign-in-links', { body }).catch((error: unknown) => {
        // The API says what to send; here that is a flag.
        if (error instanceof CliError && error.message.includes('createUser: true'))
          throw new CliError(
            error.exitCode,
            `No user has email ${body.email}: add them first (holdpoint users add ${body.email}), or pass --create.`,
            error.body,
          );
        throw error;
      }),
    )) as {
      url: string;
      userId: string;
      expiresAt: string;
    };
    const publicUrl =
      typeof input.values['public-url'] === 'string'
        ? input.values['public-url']
        : input.io.env.HOLDPOINT_PUBLIC_URL;
    // On the store directly, the in-process server does not know its address.
    if (link.url.startsWith('http://holdpoint.local')) {
      if (!publicUrl)
        throw new CliError(
          exitCodes.usage,
          'Give --public-url (the server’s URL) to make a link on the store directly, or use --url.',
        );
      link.url = link.url.replace('http://holdpoint.local', publicUrl.replace(/\/+$/, ''));
    }
    if (input.json) input.io.stdout(JSON.stringify(link));
    else {
      input.io.stdout(link.url);
      input.io.stderr(`Signs in ${link.userId} once, until ${link.expiresAt}.`);
    }
    return exitCodes.ok;
  },
};

export const webhooksAdd: Command = {
  name: 'webhooks add',
  summary: 'Subscribe a URL to task events (the signing secret is printed once)',
  usage: 'webhooks add <url> [--events task-created,task-decided] [--description <text>]',
  options: {
    events: {
      type: 'string',
      value: '<types>',
      description:
        'comma-separated: task-created, task-reminded, task-escalated, task-decided, task-timed-out, task-canceled (default all)',
    },
    description: { type: 'string', value: '<text>', description: 'what it is for' },
  },
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const body = {
      url: input.positionals[0] as string,
      ...(typeof input.values.events === 'string'
        ? { events: input.values.events.split(',').map((type) => type.trim()) }
        : {}),
      ...(typeof input.values.description === 'string' ? { description: input.values.description } : {}),
    };
    const created = (await withApi(input, (api) => api.request('POST', '/v1/webhooks', { body }))) as {
      webhook: Webhook;
      secret: string;
    };
    if (input.json) input.io.stdout(JSON.stringify(created));
    else {
      input.io.stdout(created.secret);
      input.io.stderr(
        `Subscribed ${created.webhook.url} as ${created.webhook.id}. The secret above signs every delivery; it is shown once.`,
      );
    }
    return exitCodes.ok;
  },
};

export const webhooksList: Command = {
  name: 'webhooks list',
  summary: 'List webhook subscriptions',
  usage: 'webhooks list',
  options: {},
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const { webhooks } = (await withApi(input, (api) => api.request('GET', '/v1/webhooks'))) as {
      webhooks: Webhook[];
    };
    if (input.json) input.io.stdout(JSON.stringify({ webhooks }));
    else
      input.io.stdout(
        table(
          ['ID', 'URL', 'EVENTS', 'CREATED'],
          webhooks.map((webhook) => [webhook.id, webhook.url, webhook.events.join(','), webhook.createdAt]),
        ),
      );
    return exitCodes.ok;
  },
};

export const webhooksRemove: Command = {
  name: 'webhooks remove',
  summary: 'Unsubscribe a webhook',
  usage: 'webhooks remove <webhook-id>',
  options: {},
  connects: true,
  positionals: [1, 1],
  async run(input) {
    const id = input.positionals[0] as string;
    const webhook = (await withApi(input, (api) =>
      api.request('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`),
    )) as Webhook;
    input.io.stdout(input.json ? JSON.stringify(webhook) : `Removed ${webhook.id} (${webhook.url})`);
    return exitCodes.ok;
  },
};

export const deadLettersList: Command = {
  name: 'dead-letters list',
  summary: 'List deliveries that failed on every attempt',
  usage: 'dead-letters list',
  options: {},
  connects: true,
  positionals: [0, 0],
  async run(input) {
    const { deadLetters } = (await withApi(input, (api) => api.request('GET', '/v1/dead-letters'))) as {
      deadLetters: DeadLetter[];
    };
    if (input.json) input.io.stdout(JSON.stringify({ deadLetters }));
    else
      input.io.stdout(
        table(
          ['ID', 'CHANNEL', 'TARGET', 'EVENT', 'TASK', 'ATTEMPTS', 'LAST ERROR'],
          deadLetters.map((letter) => [
            letter.id,
            letter.channel,
            letter.target,
            letter.eventType,
            letter.taskId,
            String(letter.attempts),
            letter.lastError,
          ]),
        ),
      );
    return exitCodes.ok;
  },
};

export const deadLettersReplay: Command = {
  name: 'dead-letters replay',
  summary: 'Queue dead letters again (same delivery ids, fresh attempts)',
  usage: 'dead-letters replay <delivery-id>… | --all',
  options: { all: { type: 'boolean', description: 'replay every dead letter' } },
  connects: true,
  positionals: [0, 1000],
  async run(input) {
    const replayed = await withApi(input, async (api) => {
      let ids = input.positionals;
      if (input.values.all === true) {
        const { deadLetters } = (await api.request('GET', '/v1/dead-letters')) as {
          deadLetters: DeadLetter[];
        };
        ids = deadLetters.map((letter) => letter.id);
      } else if (ids.length === 0) throw new CliError(exitCodes.usage, 'Give delivery ids, or --all');
      for (const id of ids) await api.request('POST', `/v1/dead-letters/${encodeURIComponent(id)}/replay`);
      return ids;
    });
    input.io.stdout(
      input.json ? JSON.stringify({ replayed }) : `Replayed ${replayed.length} dead letter(s).`,
    );
    return exitCodes.ok;
  },
};
