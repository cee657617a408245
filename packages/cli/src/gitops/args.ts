/**
 * Command lines of the GitOps subcommands (`export`, `diff`, `apply`). Pure, like ../args.ts.
 * The admin key comes from --admin-key or, better (it stays out of `ps` and shell history),
 * the AISIX_ADMIN_KEY environment variable; it is never printed.
 */
import { parseArgs } from 'node:util';

/** The options of `diff` and `apply`. */
export interface PlanOptions {
  readonly file: string;
  readonly admin: string;
  readonly adminKey: string;
  readonly prune: boolean;
  readonly dryRun: boolean;
}

export type GitopsCommand =
  | {
      readonly cmd: 'export';
      readonly from:
        | { readonly etcd: string[]; readonly prefix: string; readonly revealSecrets: boolean }
        | { readonly admin: string; readonly adminKey: string };
      readonly output: string | undefined;
    }
  | ({ readonly cmd: 'diff' } & PlanOptions)
  | ({ readonly cmd: 'apply' } & PlanOptions);

export type GitopsParse =
  | GitopsCommand
  | { readonly cmd: 'usage'; readonly message: string; readonly code: number; readonly usage: string };

const USAGE: Readonly<Record<string, string>> = {
  export:
    'aisix export (--etcd <url>[,<url>...] [--prefix /aisix] [--reveal-secrets] | --admin <url>) [-o <file>]',
  diff: 'aisix diff -f <file> --admin <url> [--prune]',
  apply: 'aisix apply -f <file> --admin <url> [--prune] [--dry-run]',
};

export const GITOPS_SUBCOMMANDS: readonly string[] = ['export', 'diff', 'apply'];

export const GITOPS_HELP = `GitOps (see docs/gitops.md):
  aisix export --etcd <url>[,<url>...] [--prefix /aisix] [--reveal-secrets] [-o <file>]
  aisix export --admin <url> [-o <file>]
  aisix diff   -f <file> --admin <url> [--prune]
  aisix apply  -f <file> --admin <url> [--prune] [--dry-run]

  The admin key is read from $AISIX_ADMIN_KEY (or --admin-key <key>).
  export writes a resources file (stdout or -o); secrets become \${VAR} placeholders, listed
  on stderr; it exits 3 when stored documents the gateway rejects were left out (each named
  in a note), 1 on error. diff exits 0 when the cluster matches the file, 2 when it would change, 1 on
  error. apply exits 0 when the cluster matches the file afterwards, 1 on error (nothing is
  written when the file is invalid; it stops at the first failed step).
`;

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      etcd: { type: 'string' },
      prefix: { type: 'string' },
      'reveal-secrets': { type: 'boolean' },
      admin: { type: 'string' },
      'admin-key': { type: 'string' },
      output: { type: 'string', short: 'o' },
      file: { type: 'string', short: 'f' },
      prune: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    },
  });
}

const ONLY: Readonly<Record<string, readonly string[]>> = {
  export: ['etcd', 'prefix', 'reveal-secrets', 'admin', 'admin-key', 'output'],
  diff: ['file', 'admin', 'admin-key', 'prune'],
  apply: ['file', 'admin', 'admin-key', 'prune', 'dry-run'],
};

export function parseGitops(sub: string, argv: readonly string[], env: NodeJS.ProcessEnv): GitopsParse {
  // A usage error of `diff` must not read as its "changes" exit code (2).
  const code = sub === 'diff' ? 1 : 2;
  const usage = (message: string): GitopsParse => ({ cmd: 'usage', message, code, usage: USAGE[sub] ?? '' });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return usage(msg.split('. To specify')[0] ?? msg);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 0) return usage(`unexpected argument '${positionals[0]}'`);
  for (const key of Object.keys(values)) {
    if (!(ONLY[sub] ?? []).includes(key)) return usage(`--${key} is not an option of \`${sub}\``);
  }
  for (const [key, v] of Object.entries(values)) {
    if (typeof v === 'string' && v.trim() === '') return usage(`--${key} must not be empty`);
  }
  const adminKey = values['admin-key'] ?? env.AISIX_ADMIN_KEY ?? '';
  const needKey = (): GitopsParse | undefined =>
    adminKey.trim() === ''
      ? usage('the admin key is missing: set AISIX_ADMIN_KEY (or --admin-key)')
      : undefined;

  if (sub === 'export') {
    if ((values.etcd === undefined) === (values.admin === undefined)) {
      return usage('export needs exactly one source: --etcd <url> or --admin <url>');
    }
    if (values.admin !== undefined) {
      if (values.prefix !== undefined || values['reveal-secrets']) {
        return usage('--prefix and --reveal-secrets go with --etcd (the Admin API never returns secrets)');
      }
      const missing = needKey();
      if (missing) return missing;
      return { cmd: 'export', from: { admin: values.admin, adminKey }, output: values.output };
    }
    const etcd = (values.etcd ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (etcd.length === 0) return usage('--etcd needs at least one URL such as http://127.0.0.1:2379');
    const notUrl = etcd.find((e) => !/^https?:\/\/[^/]/.test(e));
    if (notUrl !== undefined)
      return usage(`--etcd ${notUrl}: an etcd endpoint is a URL such as http://127.0.0.1:2379`);
    const prefix = (values.prefix ?? '/aisix').replace(/\/+$/, '');
    if (prefix === '') return usage('--prefix must name a key prefix such as /aisix');
    return {
      cmd: 'export',
      from: { etcd, prefix, revealSecrets: values['reveal-secrets'] === true },
      output: values.output,
    };
  }
  if (values.file === undefined) return usage(`${sub} needs -f <resources file>`);
  if (values.admin === undefined) return usage(`${sub} needs --admin <admin API URL>`);
  const missing = needKey();
  if (missing) return missing;
  const options: PlanOptions = {
    file: values.file,
    admin: values.admin,
    adminKey,
    prune: values.prune === true,
    dryRun: values['dry-run'] === true,
  };
  return sub === 'diff' ? { cmd: 'diff', ...options } : { cmd: 'apply', ...options };
}
