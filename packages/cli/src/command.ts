import type { ConnectionOptions } from './connection.js';

/** Where a command writes. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** One option of a command, as `node:util` parseArgs takes it, with its help line. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in help: what the value is, e.g. `<id>`. */
  value?: string;
  description: string;
}

/** What a command is run with. */
export interface CommandInput {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  io: CliIo;
  /** Whether to print JSON. */
  json: boolean;
  connection: ConnectionOptions;
}

/** A command of the binary: `serve`, `tasks list`, … */
export interface Command {
  /** Words that name it: `tasks list`. */
  name: string;
  summary: string;
  /** The usage line after `holdpoint`: `tasks decide <task-id> --outcome <outcome>`. */
  usage: string;
  /** Longer help: what it does, where it looks, examples. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Whether it takes --url/--key/--store (it talks to a server or the store). */
  connects: boolean;
  /** How many positionals it needs, at least and at most. */
  positionals: [number, number];
  run(input: CommandInput): Promise<number>;
}
