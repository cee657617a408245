/**
 * Command-line parsing for `aisix` (node:util parseArgs, no framework). Pure: turns argv and
 * the environment into one command, or a usage error that the caller reports with exit 2.
 * Running the command lives in main.ts (serve) and validate.ts.
 */
import { parseArgs } from 'node:util';
import { GITOPS_HELP, GITOPS_SUBCOMMANDS, type GitopsCommand, parseGitops } from './gitops/args.js';

export type Role = 'all' | 'admin' | 'gateway';
export const ROLES: readonly Role[] = ['all', 'admin', 'gateway'];

export type Command =
  | { readonly cmd: 'help' }
  | { readonly cmd: 'version' }
  | { readonly cmd: 'serve'; readonly configPath: string; readonly role: Role }
  | {
      readonly cmd: 'validate';
      readonly configPath: string | undefined;
      readonly resourcesPath: string | undefined;
      /** The role the config is checked for (a gateway-only config needs no admin keys). */
      readonly role: Role;
    }
  | GitopsCommand
  | { readonly cmd: 'usage'; readonly message: string; readonly code?: number; readonly usage?: string };

export const HELP = `aisix: AI gateway (OpenAI- and Anthropic-compatible proxy, Admin API, etcd cluster)

Usage:
  aisix --config <path> [--role all|admin|gateway]
  aisix validate [--config <path>] [--role all|admin|gateway] [--resources <file>]
  aisix export|diff|apply ...   (GitOps, below)
  aisix --version | --help

Options:
  -c, --config <path>    config.yaml to run (default: $AISIX_CONFIG)
  -r, --role <role>      all (default): admin API + gateway in one process
                         admin: only the admin API; gateway: only the proxy + metrics/status
                         (a cluster = one admin process + N gateway processes on one etcd)
  -h, --help             print this help
  -v, --version          print the version

validate:
  Checks a config file (and the resources_file it names) or a resources file alone, binds
  nothing. Prints "OK: ..." and exits 0, or prints the errors on stderr and exits 1.
  --role checks the config as that role would start it (default all; a gateway-only config
  needs no admin keys).

${GITOPS_HELP}
Exit codes: 0 ok, 1 config/resources/startup error, 2 usage error (diff: 2 = changes, see above).
Environment: AISIX_<SECTION>__<KEY> overrides config keys (e.g. AISIX_PROXY__ADDR),
LOG_LEVEL overrides observability.log_level. See docs/configuration.md.
`;

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      role: { type: 'string', short: 'r' },
      resources: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

function usageMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // parseArgs messages end with a hint to use `--` for positionals; keep the first sentence.
  return msg.split('. To specify')[0] ?? msg;
}

export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const [first, ...after] = argv;
  if (first !== undefined && GITOPS_SUBCOMMANDS.includes(first)) {
    if (after.includes('--help') || after.includes('-h')) return { cmd: 'help' };
    return parseGitops(first, after, env);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    return { cmd: 'usage', message: usageMessage(err) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { cmd: 'help' };
  if (values.version) return { cmd: 'version' };

  const configFlag = values.config;
  if (configFlag !== undefined && configFlag.trim() === '') {
    return { cmd: 'usage', message: '--config must not be empty' };
  }
  const configPath = configFlag ?? (env.AISIX_CONFIG?.trim() ? env.AISIX_CONFIG : undefined);

  const [sub, ...rest] = positionals;
  if (sub === undefined) {
    if (values.resources !== undefined)
      return { cmd: 'usage', message: '--resources is only valid with `validate`' };
    if (configPath === undefined) {
      return { cmd: 'usage', message: 'the following required argument was not provided: --config <path>' };
    }
    const role = roleOf(values.role);
    if (typeof role !== 'string') return role;
    return { cmd: 'serve', configPath, role };
  }
  if (sub !== 'validate') return { cmd: 'usage', message: `unknown command '${sub}'` };
  if (rest.length > 0) return { cmd: 'usage', message: `unexpected argument '${rest[0]}'` };
  const role = roleOf(values.role);
  if (typeof role !== 'string') return role;
  const resourcesPath = values.resources;
  if (resourcesPath !== undefined && resourcesPath.trim() === '') {
    return { cmd: 'usage', message: '--resources must not be empty' };
  }
  if (configPath === undefined && resourcesPath === undefined) {
    return { cmd: 'usage', message: 'validate needs --config <path> and/or --resources <file>' };
  }
  if (values.role !== undefined && configPath === undefined) {
    return { cmd: 'usage', message: '--role needs --config <path> (it says how the config is started)' };
  }
  return { cmd: 'validate', configPath, resourcesPath, role };
}

function roleOf(value: string | undefined): Role | { readonly cmd: 'usage'; readonly message: string } {
  const role = value ?? 'all';
  if ((ROLES as readonly string[]).includes(role)) return role as Role;
  return {
    cmd: 'usage',
    message: `invalid value '${role}' for --role (expected one of: ${ROLES.join(', ')})`,
  };
}
