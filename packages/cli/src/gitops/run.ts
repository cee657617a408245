/**
 * Running `aisix export`, `aisix diff` and `aisix apply`. Exit codes:
 *  - export: 0 written, 1 error (nothing written);
 *  - diff:   0 the cluster matches the file, 2 it would change, 1 error;
 *  - apply:  0 the cluster matches the file (changed or not), 1 error.
 * The file is validated by the file-mode pipeline before the Admin API is contacted, so an
 * invalid file changes nothing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { type KindName, loadResourcesFile, type ResourcesFileEntry } from '@aisix/core';
import type { Output } from '../validate.js';
import { AdminApi, type LiveEntry } from './admin-client.js';
import { executePlan } from './apply.js';
import type { GitopsCommand, PlanOptions } from './args.js';
import { readEtcd } from './etcd-read.js';
import { exportResources } from './export.js';
import { FILE_KINDS } from './identity.js';
import { buildPlan, type Plan } from './plan.js';
import { renderPlan, stepTitle } from './render.js';

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function listLive(api: AdminApi, kinds: readonly KindName[]): Promise<LiveEntry[]> {
  const out: LiveEntry[] = [];
  for (const kind of kinds) out.push(...(await api.list(kind)));
  return out;
}

export async function runExport(
  command: Extract<GitopsCommand, { cmd: 'export' }>,
  io: Output,
): Promise<number> {
  let entries: LiveEntry[];
  let notes: string[] = [];
  let source: string;
  try {
    if ('etcd' in command.from) {
      source = `etcd ${command.from.etcd.join(',')} prefix ${command.from.prefix}`;
      ({ entries, notes } = await readEtcd(command.from.etcd, command.from.prefix));
    } else {
      source = `the Admin API at ${command.from.admin}`;
      entries = await listLive(new AdminApi(command.from.admin, command.from.adminKey), FILE_KINDS);
    }
  } catch (err) {
    io.err(`error: ${errText(err)}`);
    return 1;
  }
  const reveal = 'etcd' in command.from && command.from.revealSecrets;
  const r = exportResources(entries, { revealSecrets: reveal, source });
  for (const n of notes) io.err(`note: ${n}`);
  if (!r.ok) {
    io.err(`error: cannot export ${r.errors.length} resource(s):`);
    for (const e of r.errors) io.err(`  - ${e}`);
    return 1;
  }
  for (const n of r.notes) io.err(`note: ${n}`);
  if (command.output === undefined) process.stdout.write(r.text);
  else {
    try {
      await writeFile(command.output, r.text, { mode: reveal ? 0o600 : 0o644 });
    } catch (err) {
      io.err(`error: cannot write ${command.output}: ${(err as NodeJS.ErrnoException).code ?? errText(err)}`);
      return 1;
    }
  }
  io.err(`exported ${r.count} resource(s) from ${source}${command.output ? ` to ${command.output}` : ''}`);
  if (r.placeholders.length > 0) {
    io.err(`secrets are \${VAR} placeholders; set these variables before diff/apply:`);
    for (const p of r.placeholders) io.err(`  ${p.variable}  (${p.kind} "${p.identity}" ${p.path})`);
  }
  return 0;
}

async function loadDesired(
  path: string,
  env: NodeJS.ProcessEnv,
  io: Output,
): Promise<ResourcesFileEntry[] | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    io.err(
      `resources file ${path}: 1 error(s):\n  - (file): cannot read file: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
    return null;
  }
  const r = loadResourcesFile({ text, path, env: { ...env } });
  if (!r.ok) {
    io.err(r.report);
    io.err('nothing was changed: the file is invalid');
    return null;
  }
  return r.entries;
}

async function makePlan(
  command: PlanOptions,
  env: NodeJS.ProcessEnv,
  io: Output,
): Promise<{ api: AdminApi; plan: Plan } | null> {
  const desired = await loadDesired(command.file, env, io);
  if (desired === null) return null;
  const api = new AdminApi(command.admin, command.adminKey);
  let live: LiveEntry[];
  try {
    live = await listLive(api, FILE_KINDS);
  } catch (err) {
    io.err(`error: ${errText(err)}`);
    return null;
  }
  const r = buildPlan(desired, live, { prune: command.prune });
  if (!r.ok) {
    for (const e of r.errors) io.err(`error: ${e}`);
    return null;
  }
  return { api, plan: r.plan };
}

export async function runDiff(
  command: Extract<GitopsCommand, { cmd: 'diff' }>,
  env: NodeJS.ProcessEnv,
  io: Output,
): Promise<number> {
  const made = await makePlan(command, env, io);
  if (made === null) return 1;
  for (const line of renderPlan(made.plan, command.admin)) io.out(line);
  return made.plan.steps.length === 0 ? 0 : 2;
}

export async function runApply(
  command: Extract<GitopsCommand, { cmd: 'apply' }>,
  env: NodeJS.ProcessEnv,
  io: Output,
): Promise<number> {
  const made = await makePlan(command, env, io);
  if (made === null) return 1;
  const { api, plan } = made;
  for (const line of renderPlan(plan, command.admin)) io.out(line);
  if (command.dryRun) {
    io.out('Dry run: nothing was written.');
    return 0;
  }
  if (plan.steps.length === 0) return 0;
  const outcome = await executePlan(api, plan, io.out);
  if (outcome.failed !== undefined) {
    io.err(`error: ${stepTitle(outcome.failed.step)}: ${outcome.failed.message}`);
    io.err(
      `Stopped: ${outcome.applied.length} of ${plan.steps.length} step(s) applied; not applied: ${[
        outcome.failed.step,
        ...outcome.notApplied,
      ]
        .map(stepTitle)
        .join('; ')}`,
    );
    return 1;
  }
  io.out(`Apply complete: ${outcome.applied.length} step(s) applied.`);
  return 0;
}
