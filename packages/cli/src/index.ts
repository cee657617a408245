/**
 * @aisix/cli: the `aisix` binary (main.ts) and the composition root (serve.ts). The exports
 * are the pure parts, for tests and for tools that embed the command-line rules.
 */
export { type Command, HELP, parseCommand, ROLES, type Role } from './args.js';
export { FileResources } from './file-source.js';
export { configEnv, loadConfig } from './load-config.js';
