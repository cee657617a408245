/**
 * `aisix validate`: the config checks and the resources-file pipeline of a real boot, without
 * opening a store or binding a listener. The resources file uses this process's environment
 * for `${VAR}` and `key_env`, exactly as a boot would.
 */

import { readFile } from 'node:fs/promises';
import { loadResourcesFile } from '@aisix/core';
import type { Role } from './args.js';
import { startProblem } from './cluster.js';
import { loadConfig } from './load-config.js';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** Runs the resources-file pipeline; returns the entries count or the printable report. */
export async function checkResourcesFile(
  path: string,
  env: NodeJS.ProcessEnv,
): Promise<{ ok: true; count: number } | { ok: false; report: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return {
      ok: false,
      report: `resources file ${path}: 1 error(s):\n  - (file): cannot read file: ${code}`,
    };
  }
  const r = loadResourcesFile({ text, path, env: { ...env } });
  if (!r.ok) return { ok: false, report: r.report };
  return { ok: true, count: r.entries.length };
}

export async function runValidate(
  configPath: string | undefined,
  resourcesPath: string | undefined,
  env: NodeJS.ProcessEnv,
  io: Output,
  role: Role = 'all',
): Promise<number> {
  let resources = resourcesPath;
  if (configPath !== undefined) {
    const loaded = await loadConfig(configPath, env, role);
    if (!loaded.ok) {
      io.err(loaded.message);
      return 1;
    }
    for (const w of loaded.warnings) io.err(`warning: ${w}`);
    const problem = startProblem(loaded.config, role, loaded.source);
    if (problem !== undefined) {
      io.err(problem);
      return 1;
    }
    io.out(
      `OK: ${configPath} is a valid configuration${role === 'all' ? '' : ` for --role ${role}`} (resource source: ${loaded.source})`,
    );
    resources ??= loaded.config.resources_file;
  }
  if (resources === undefined) return 0;
  const r = await checkResourcesFile(resources, env);
  if (!r.ok) {
    io.err(r.report);
    return 1;
  }
  io.out(`OK: ${resources} loaded ${r.count} resource(s)`);
  return 0;
}
