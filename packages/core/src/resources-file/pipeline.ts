/**
 * The resources-file pipeline: parse → format checks → interpolation → identity and ids →
 * sugar → strict schema validation → cross-entry checks. Every problem is collected (the
 * first per entry, plus file-level ones) so an operator fixes the whole file in one pass;
 * any problem rejects the whole file. The schema validator is a parameter so this module
 * does not depend on which validation module backs it (`index.ts` wires the real one).
 */
import type { KindName } from '../kinds.js';
import { type CheckedEntry, crossCheck } from './cross-checks.js';
import { type Env, InterpolationError, interpolateString, interpolateTree } from './interpolate.js';
import { desugar, SugarError } from './sugar.js';
import { fileResourceId } from './uuid.js';
import { parseResourcesYaml } from './yaml-doc.js';

export type WriteValidator = (
  kind: KindName,
  input: unknown,
) => { ok: true; value: Record<string, unknown> } | { ok: false; pointer: string; message: string };

export interface ResourcesFileInput {
  text: string;
  /** Shown in the report header. */
  path: string;
  /** Source of `${VAR}` and `key_env` values. */
  env: Env;
}

export interface ResourcesFileEntry {
  kind: KindName;
  id: string;
  value: Record<string, unknown>;
}

export type ResourcesFileResult =
  | { ok: true; entries: ResourcesFileEntry[] }
  | { ok: false; errors: string[]; report: string };

/** The ten collections a file may hold, in report order, with their identity fields
 * (`name`, else `display_name`, for MCP servers and A2A agents). */
export const FILE_COLLECTIONS: readonly { kind: KindName; identity: readonly string[] }[] = [
  { kind: 'provider_keys', identity: ['display_name'] },
  { kind: 'models', identity: ['display_name'] },
  { kind: 'api_keys', identity: ['display_name'] },
  { kind: 'guardrails', identity: ['name'] },
  { kind: 'mcp_servers', identity: ['name', 'display_name'] },
  { kind: 'a2a_agents', identity: ['name', 'display_name'] },
  { kind: 'cache_policies', identity: ['name'] },
  { kind: 'observability_exporters', identity: ['name'] },
  { kind: 'rate_limit_policies', identity: ['name'] },
  { kind: 'oidc_providers', identity: ['name'] },
];

interface Entry {
  kind: KindName;
  index: number;
  doc: Record<string, unknown>;
  identity?: string;
  id?: string;
  value?: Record<string, unknown>;
  error?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function scope(e: Entry): string {
  return e.identity === undefined ? `${e.kind}[${e.index}]` : `${e.kind}[${e.index}] ("${e.identity}")`;
}

/** `/routing/targets/0/model` → `routing.targets[0].model`. */
export function pointerToPath(pointer: string): string {
  if (!pointer.startsWith('/')) return pointer;
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    if (raw === '') continue;
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

/** Shows the validator's JSON pointer as a field path (`routing.targets[0].model`). */
function validationMessage(pointer: string, message: string): string {
  const where = pointerToPath(pointer);
  const prefix = `schema validation failed at ${pointer}: `;
  if (message.startsWith(prefix)) {
    return `schema validation failed${where === '' ? '' : ` at ${where}`}: ${message.slice(prefix.length)}`;
  }
  return where === '' ? message : `${where}: ${message}`;
}

export function formatReport(path: string, errors: readonly string[]): string {
  return `resources file ${path}: ${errors.length} error(s):${errors.map((e) => `\n  - ${e}`).join('')}`;
}

function fail(path: string, errors: string[]): ResourcesFileResult {
  return { ok: false, errors, report: formatReport(path, errors) };
}

function readRoot(root: unknown, fileErrors: string[]): Entry[] {
  if (!isRecord(root)) {
    fileErrors.push('the root must be a mapping');
    return [];
  }
  const version = root._format_version;
  if (version === undefined) fileErrors.push('_format_version is required (set _format_version: "1")');
  else if (typeof version !== 'string') fileErrors.push('_format_version must be the string "1" (quote it)');
  else if (version !== '1') fileErrors.push(`unsupported _format_version "${version}" (expected "1")`);
  const known = new Set(['_format_version', ...FILE_COLLECTIONS.map((c) => c.kind)]);
  for (const key of Object.keys(root)) {
    if (!known.has(key)) fileErrors.push(`unknown top-level key "${key}"`);
  }
  const entries: Entry[] = [];
  for (const { kind } of FILE_COLLECTIONS) {
    const items = root[kind];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      fileErrors.push(`${kind} must be a list`);
      continue;
    }
    items.forEach((item, index) => {
      if (isRecord(item)) entries.push({ kind, index, doc: item });
      else entries.push({ kind, index, doc: {}, error: 'entry must be a mapping' });
    });
  }
  return entries;
}

/** Finds the identity (interpolated first, so references by name keep working when some
 * other field of the entry fails), derives the id, then interpolates the whole entry. */
function identify(e: Entry, env: Env): void {
  if ('id' in e.doc) {
    e.error = 'entries must not contain "id" (ids are derived from the identity)';
    return;
  }
  const fields = FILE_COLLECTIONS.find((c) => c.kind === e.kind)?.identity ?? [];
  const field = fields.find((f) => f in e.doc) ?? fields[0] ?? 'name';
  let identity = e.doc[field];
  try {
    if (typeof identity === 'string') identity = interpolateString(identity, env);
  } catch (err) {
    if (!(err instanceof InterpolationError)) throw err;
    e.error = `${field}: ${err.message}`;
    return;
  }
  if (typeof identity !== 'string' || identity.trim() === '') {
    e.error = `${fields.join(' or ')} is required and must be a non-empty string`;
    return;
  }
  e.identity = identity;
  e.id = fileResourceId(e.kind, identity);
  try {
    e.doc = interpolateTree(e.doc, env) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof InterpolationError)) throw err;
    e.error = err.message;
  }
}

export function runResourcesFilePipeline(
  input: ResourcesFileInput,
  validate: WriteValidator,
): ResourcesFileResult {
  const parsed = parseResourcesYaml(input.text);
  if (!parsed.ok)
    return fail(
      input.path,
      parsed.errors.map((m) => `(file): ${m}`),
    );
  const fileErrors: string[] = [];
  const entries = readRoot(parsed.root, fileErrors);

  const ids = new Map<KindName, Map<string, string>>();
  const firstByIdentity = new Map<string, Entry>();
  for (const e of entries) {
    if (e.error === undefined) identify(e, input.env);
    if (e.identity === undefined || e.id === undefined) continue;
    const key = `${e.kind}/${e.identity}`;
    const first = firstByIdentity.get(key);
    if (first) {
      e.error ??= `duplicate identity "${e.identity}" (already used by ${scope(first)})`;
      continue;
    }
    firstByIdentity.set(key, e);
    const index = ids.get(e.kind) ?? new Map<string, string>();
    index.set(e.identity, e.id);
    ids.set(e.kind, index);
  }

  for (const e of entries) {
    if (e.error !== undefined) continue;
    try {
      const doc = desugar(e.kind, e.doc, { env: input.env, ids });
      const r = validate(e.kind, doc);
      if (r.ok) e.value = r.value;
      else e.error = validationMessage(r.pointer, r.message);
    } catch (err) {
      if (!(err instanceof SugarError)) throw err;
      e.error = err.message;
    }
  }

  const checked: CheckedEntry[] = [];
  const back = new Map<CheckedEntry, Entry>();
  for (const e of entries) {
    if (e.error !== undefined || e.value === undefined || e.identity === undefined) continue;
    const c = { kind: e.kind, index: e.index, identity: e.identity, value: e.value };
    checked.push(c);
    back.set(c, e);
  }
  const failures = crossCheck(checked, {
    modelNames: new Set(ids.get('models')?.keys() ?? []),
    providerKeyIds: new Set(ids.get('provider_keys')?.values() ?? []),
  });
  for (const [c, msg] of failures) {
    const e = back.get(c);
    if (e) e.error = msg;
  }

  const errors = [
    ...fileErrors.map((m) => `(file): ${m}`),
    ...entries.filter((e) => e.error !== undefined).map((e) => `${scope(e)}: ${e.error}`),
  ];
  if (errors.length > 0) return fail(input.path, errors);
  return {
    ok: true,
    entries: entries.map((e) => ({
      kind: e.kind,
      id: e.id as string,
      value: e.value as Record<string, unknown>,
    })),
  };
}
