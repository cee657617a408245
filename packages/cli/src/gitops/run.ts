/**
 * Running `aisix export`, `aisix diff` and `aisix apply`. Exit codes:
 *  - export: 0 written, 3 written but stored documents the gateway does not serve were left out
 *    (each named in a note), 1 error (nothing written);
 *  - diff:   0 the cluster matches the file, 2 it would change, 1 error;
 *  - apply:  0 the cluster matches the file (changed or not), 1 error.
 * The file is validated by the file-mode pipeline before the Admin API is contacted, so an
 * invalid file changes nothing.
 */
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KIND_NAMES, type KindName, loadResourcesFile, type ResourcesFileEntry } from '@aisix/core';
import type { Output } from '../validate.js';
import { AdminApi, AdminError, type LiveEntry } from './admin-client.js';
import { executePlan } from './apply.js';
import type { GitopsCommand, PlanOptions } from './args.js';
import { readEtcd, type Skipped } from './etcd-read.js';
import { exportResources } from './export.js';
import { FILE_KINDS } from './identity.js';

import { buildPlan, type Plan } from './plan.js';
import { renderPlan, stepTitle } from './render.js';

const isFileKind = (k: string) => (FILE_KINDS as readonly string[]).includes(k);

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function listLive(api: AdminApi, kinds: readonly KindName[]): Promise<LiveEntry[]> {
  const out: LiveEntry[] = [];
  for (const kind of kinds) out.push(...(await api.list(kind)));
  return out;
}

/** export's exit code when the file was written but stored documents were left out. */
export const EXIT_EXPORT_INCOMPLETE = 3;

/**
 * Writes the exported file. With secrets in it (`--reveal-secrets`) the text goes to a new
 * file created 0600 next to the target and renamed over it, so the plaintext is never in a
 * file anyone else can read, whatever the mode of a file already at that path.
 */
async function writeExport(path: string, text: string, secret: boolean): Promise<void> {
  if (!secret) return writeFile(path, text, { mode: 0o644 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const f = await open(tmp, 'wx', 0o600);
  try {
    try {
      await f.chmod(0o600); // (the umask can only narrow it; the mode is explicit anyway)
      await f.writeFile(text);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * The Admin API's lists leave out stored documents the gateway does not serve (RED, §2.6);
 * the config status names them, so `export --admin` reports them as `--etcd` does.
 */
async function rejectedThroughAdmin(api: AdminApi): Promise<{ skipped: Skipped[]; notes: string[] }> {
  try {
    // Kinds a file cannot express are only counted, whatever their state (as with --etcd).
    const notFileKind = (k: string) => (KIND_NAMES as readonly string[]).includes(k) && !isFileKind(k);
    const rows = (await api.rejected()).filter((r) => !notFileKind(r.kind));
    return {
      skipped: rows.map((r) => ({
        what: r.kind === '' ? 'a key' : `${r.kind}/${r.id}`,
        why: `the gateway rejects it (${r.errorKind}): ${r.error}`,
      })),
      notes: [],
    };
  } catch (err) {
    if (!(err instanceof AdminError) || err.status === 0) throw err;
    return {
      skipped: [],
      notes: [
        `cannot read the config status (${err.message}): stored documents the gateway does not serve, which the Admin API does not list, are not reported; export --etcd reports them`,
      ],
    };
  }
}

export async function runExport(
  command: Extract<GitopsCommand, { cmd: 'export' }>,
  io: Output,
): Promise<number> {
  let entries: LiveEntry[];
  let skipped: Skipped[] = [];
  let notes: string[] = [];
  let source: string;
  try {
    if ('etcd' in command.from) {
      source = `etcd ${command.from.etcd.join(',')} prefix ${command.from.prefix}`;
      ({ entries, skipped } = await readEtcd(command.from.etcd, command.from.prefix));
    } else {
      source = `the Admin API at ${command.from.admin}`;
      const api = new AdminApi(command.from.admin, command.from.adminKey);
      // Every kind, those a file cannot express included, so export can say what it left out.
      entries = await listLive(api, KIND_NAMES);
      ({ skipped, notes } = await rejectedThroughAdmin(api));
    }
  } catch (err) {
    io.err(`error: ${errText(err)}`);
    return 1;
  }
  const reveal = 'etcd' in command.from && command.from.revealSecrets;
  const skippedBefore = new Map(skipped.map((x) => [x.what, x.why]));
  const r = exportResources(entries, { revealSecrets: reveal, source, skippedBefore });
  const left = [...skipped.map((x) => `skipped ${x.what}: ${x.why}`), ...(r.ok ? r.skipped : [])];
  for (const n of left) io.err(`note: ${n}`);
  if (!r.ok) {
    io.err(`error: cannot export ${r.errors.length} resource(s):`);
    for (const e of r.errors) io.err(`  - ${e}`);
    return 1;
  }
  for (const n of [...notes, ...r.notes]) io.err(`note: ${n}`);
  if (command.output === undefined) process.stdout.write(r.text);
  else {
    try {
      await writeExport(command.output, r.text, reveal);
    } catch (err) {
      io.err(`error: cannot write ${command.output}: ${(err as NodeJS.ErrnoException).code ?? errText(err)}`);
      return 1;
    }
  }
  const leftOut =
    left.length > 0
      ? `; ${left.length} stored document(s) left out (see the notes; exit ${EXIT_EXPORT_INCOMPLETE})`
      : '';
  io.err(
    `exported ${r.count} resource(s) from ${source}${command.output ? ` to ${command.output}` : ''}${leftOut}`,
  );
  if (r.placeholders.length > 0) {
    io.err(`secrets are \${VAR} placeholders; set these variables before diff/apply:`);
    for (const p of r.placeholders) io.err(`  ${p.variable}  (${p.kind} "${p.identity}" ${p.path})`);
  }
  return left.length > 0 ? EXIT_EXPORT_INCOMPLETE : 0;
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
