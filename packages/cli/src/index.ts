export type { CliIo, Command, CommandInput, OptionSpec } from './command.js';
export { type ServeInfo, type ServeOptions, startServe } from './commands/serve.js';
export { composeServer, type ServeParts } from './compose.js';
export { CliError, exitCodes } from './exit-codes.js';
export { commands, run } from './main.js';
