/**
 * Reads and parses config.yaml for the CLI. The schema, defaults, env overrides and
 * cross-field checks all live in `@aisix/core` (parseConfig); this file only adds what is
 * about the process: the file must exist, `AISIX_CONFIG` is ours (not a config key), and a
 * `--role gateway` process never binds the admin listener so it needs no admin key.
 */
import { readFile } from 'node:fs/promises';
import { type Config, type ConfigSource, formatConfigFailure, parseConfig } from '@aisix/core';
import type { Role } from './args.js';

export type LoadedConfig =
  | { readonly ok: true; readonly config: Config; readonly warnings: string[]; readonly source: ConfigSource }
  | { readonly ok: false; readonly message: string };

/** The environment the config loader sees for a process of this role. */
export function configEnv(env: NodeJS.ProcessEnv, role: Role): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  // The CLI reads AISIX_CONFIG itself (config path fallback); it names no config key.
  delete out.AISIX_CONFIG;
  // A gateway-only process does not bind the admin listener: the admin checks
  // (admin_keys, admin.addr) would refuse a config the process never uses.
  if (role === 'gateway') out.AISIX_ADMIN__ENABLED = 'false';
  return out;
}

export async function loadConfig(path: string, env: NodeJS.ProcessEnv, role: Role): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return {
        ok: false,
        message: `Error: config file not found: ${path} (pass --config <path> or set AISIX_CONFIG)`,
      };
    }
    return { ok: false, message: formatConfigFailure(`build: cannot read ${path}: ${code ?? String(err)}`) };
  }
  const r = parseConfig({ text, path, env: configEnv(env, role) });
  if (!r.ok) return { ok: false, message: formatConfigFailure(r.error) };
  return { ok: true, config: r.config, warnings: r.warnings, source: r.source };
}
