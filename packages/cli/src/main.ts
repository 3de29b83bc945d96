import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CliIo, Command, OptionSpec } from './command.js';
import { auditExport, auditKey, auditKeygen, auditVerify } from './commands/audit.js';
import { keysCreate, keysList, keysRevoke } from './commands/keys.js';
import { mcp } from './commands/mcp.js';
import {
  deadLettersList,
  deadLettersReplay,
  usersAdd,
  usersLink,
  usersList,
  webhooksAdd,
  webhooksList,
  webhooksRemove,
} from './commands/people-and-channels.js';
import { serve } from './commands/serve.js';
import { tasksDecide, tasksList, tasksShow } from './commands/tasks.js';
import { CliError, exitCodes } from './exit-codes.js';

/** Every command, in the order help lists them. */
export const commands: Command[] = [
  serve,
  tasksList,
  tasksShow,
  tasksDecide,
  auditExport,
  auditVerify,
  auditKey,
  auditKeygen,
  keysCreate,
  keysList,
  keysRevoke,
  usersAdd,
  usersList,
  usersLink,
  webhooksAdd,
  webhooksList,
  webhooksRemove,
  deadLettersList,
  deadLettersReplay,
  mcp,
];

const connectionOptions: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    value: '<url>',
    description: 'a running server (HOLDPOINT_URL); without it the store is opened directly',
  },
  key: { type: 'string', value: '<key>', description: 'API key for the server (HOLDPOINT_KEY)' },
  store: {
    type: 'string',
    value: '<url>',
    description: 'the store to open directly (HOLDPOINT_STORE; default sqlite://./.holdpoint/holdpoint.db)',
  },
  'audit-key-file': {
    type: 'string',
    value: '<file>',
    description: 'audit key for exports when the store is opened directly (HOLDPOINT_AUDIT_KEY_FILE)',
  },
};
const commonOptions: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print JSON (errors too, on stderr)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => [
    `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`,
    spec.description,
  ]);
  const width = Math.max(...rows.map(([left]) => (left as string).length));
  return rows.map(([left, right]) => `  ${(left as string).padEnd(width)}  ${right}`);
}

const exitCodeHelp = [
  'Exit codes:',
  '  0 ok   1 unexpected failure   2 usage or invalid input (400)   3 not found (404)',
  '  4 refused in the current state (409)   5 no key, wrong key or not allowed (401, 403)',
  '  6 server or store unreachable (503)   7 audit trail not verified',
];

function mainHelp(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'holdpoint — human approval gates for AI agents',
    '',
    'Usage: holdpoint <command> [options]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Commands other than serve talk to a running server (--url and --key, or HOLDPOINT_URL and',
    'HOLDPOINT_KEY) or, without a URL, open the store directly (--store or HOLDPOINT_STORE) as an admin.',
    'Run holdpoint <command> --help for its options.',
    '',
    ...exitCodeHelp,
  ].join('\n');
}

function commandHelp(command: Command): string {
  return [
    `Usage: holdpoint ${command.usage}`,
    '',
    command.summary,
    ...(command.description ? ['', command.description] : []),
    '',
    'Options:',
    ...optionLines({ ...command.options, ...(command.connects ? connectionOptions : {}), ...commonOptions }),
    '',
    ...exitCodeHelp,
  ].join('\n');
}

/** The command named by the first words of `argv`, and the rest. */
function find(argv: string[]): { command?: Command; rest: string[]; group?: string } {
  const [first = '', second = ''] = argv;
  const two = commands.find((command) => command.name === `${first} ${second}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = commands.find((command) => command.name === first);
  if (one) return { command: one, rest: argv.slice(1) };
  const group = commands.some((command) => command.name.startsWith(`${first} `)) ? first : undefined;
  return { rest: argv.slice(1), ...(group ? { group } : {}) };
}

/**
 * Run the `holdpoint` binary with these arguments. Resolves to the exit code; `serve` resolves when
 * the server has stopped.
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      const topic = argv[0] === 'help' ? find(argv.slice(1)).command : undefined;
      io.stdout(topic ? commandHelp(topic) : mainHelp());
      return argv.length === 0 ? exitCodes.usage : exitCodes.ok;
    }
    if (argv[0] === '--version' || argv[0] === '-v') {
      io.stdout(version());
      return exitCodes.ok;
    }
    const { command, rest, group } = find(argv);
    if (!command) {
      const inGroup = group ? commands.filter((candidate) => candidate.name.startsWith(`${group} `)) : [];
      const hint =
        inGroup.length > 0
          ? `: ${inGroup.map((candidate) => `holdpoint ${candidate.name}`).join(', ')}`
          : '; run holdpoint --help';
      throw new CliError(
        exitCodes.usage,
        `Unknown command "${argv.slice(0, group ? 2 : 1).join(' ')}"${hint}`,
      );
    }
    const options = { ...command.options, ...(command.connects ? connectionOptions : {}), ...commonOptions };
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    } catch (error) {
      throw new CliError(exitCodes.usage, `${(error as Error).message}\n\n${commandHelp(command)}`);
    }
    if (parsed.values.help) {
      io.stdout(commandHelp(command));
      return exitCodes.ok;
    }
    const [least, most] = command.positionals;
    if (parsed.positionals.length < least || parsed.positionals.length > most) {
      throw new CliError(exitCodes.usage, `Usage: holdpoint ${command.usage}`);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    const connection = {
      ...(text('url') === undefined ? {} : { url: text('url') }),
      ...(text('key') === undefined ? {} : { key: text('key') }),
      ...(text('store') === undefined ? {} : { store: text('store') }),
      ...(text('audit-key-file') === undefined ? {} : { auditKeyFile: text('audit-key-file') }),
    };
    return await command.run({ values, positionals: parsed.positionals, io, json, connection });
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(
        json
          ? JSON.stringify(error.body ?? { error: { message: error.message } })
          : `holdpoint: ${error.message}`,
      );
      return error.exitCode;
    }
    io.stderr(`holdpoint: ${(error as Error).stack ?? String(error)}`);
    return exitCodes.failure;
  }
}
