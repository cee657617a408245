/**
 * `aisix export`: live entries (read from etcd or from the Admin API) → one resources file
 * that file mode loads. Each document is decoded as the gateway decodes it (control-plane
 * §2.6): unknown fields are left out (the gateway ignores them; a note names them, never their
 * values), a document the gateway rejects (RED) is skipped with a note, and api keys sharing
 * a display_name get unique names. Ids are dropped (file ids derive from identities), references
 * by id become names (`provider_key`, policy `scope_ref` / condition values) or derived ids (cache
 * policy `applies_to: api_key:<id>`), values equal to their defaults are left out, every `$`
 * in a value is escaped as `$$` (file interpolation must give the value back), and secrets
 * become `${VAR}` placeholders the user fills (etcd only: `--reveal-secrets` writes them).
 * The result is checked by the real file pipeline before it is returned.
 */
import { fileResourceId, type KindName, loadResourcesFile, parseServed, validateWrite } from '@aisix/core';
import { stringify } from 'yaml';
import type { LiveEntry } from './admin-client.js';
import { FILE_KINDS, identityOf, secretSlots, withoutDefaults, withoutEmptyGrace } from './identity.js';
import { type Doc, mapIdRefs } from './refs.js';

export interface Placeholder {
  readonly variable: string;
  readonly kind: KindName;
  readonly identity: string;
  readonly path: string;
}

export type ExportResult =
  | {
      ok: true;
      text: string;
      placeholders: Placeholder[];
      notes: string[];
      /** One line per stored document left out (the gateway rejects it, or a file cannot hold it). */
      skipped: string[];
      count: number;
    }
  | { ok: false; errors: string[] };

export interface ExportOptions {
  /** Write secrets in plaintext instead of placeholders (etcd source only). */
  readonly revealSecrets: boolean;
  /** Shown in the header comment. */
  readonly source: string;
  /**
   * Documents the source already left out (`kind/id` → why: a value that is not JSON, a
   * document the Admin API's list skips), so a reference to one says so.
   */
  readonly skippedBefore?: ReadonlyMap<string, string>;
}

const SINGULAR: Readonly<Partial<Record<KindName, string>>> = {
  provider_keys: 'PROVIDER_KEY',
  guardrails: 'GUARDRAIL',
  mcp_servers: 'MCP_SERVER',
  a2a_agents: 'A2A_AGENT',
  observability_exporters: 'EXPORTER',
};

function slug(s: string): string {
  return s
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function escapeDollars(node: unknown): unknown {
  if (typeof node === 'string') return node.replaceAll('$', '$$$$');
  if (Array.isArray(node)) return node.map(escapeDollars);
  if (typeof node === 'object' && node !== null) {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, escapeDollars(v)]));
  }
  return node;
}

interface Item {
  kind: KindName;
  id: string;
  identity: string;
  value: Doc;
}

export function exportResources(entries: readonly LiveEntry[], opts: ExportOptions): ExportResult {
  const errors: string[] = [];
  const notes: string[] = [];
  const skipped: string[] = [];
  /** `kind/id` → why the document was skipped, for a clear error when something names it. */
  const skippedWhy = new Map<string, string>();
  const notExpressible = new Map<string, number>();
  const items: Item[] = [];
  for (const e of entries) {
    if (!FILE_KINDS.includes(e.kind)) {
      notExpressible.set(e.kind, (notExpressible.get(e.kind) ?? 0) + 1);
      continue;
    }
    // As the gateway reads it: lenient schema, unknown fields ignored (§2.6).
    const read = parseServed(e.kind, e.value);
    let why: string | undefined;
    let value: Doc | undefined;
    if (!read.ok) why = `the gateway rejects it (${read.errorKind}): ${read.message}`;
    else {
      const r = validateWrite(e.kind, read.value);
      if (r.ok) value = r.value;
      else why = `a resources file cannot hold it: ${r.message}`;
    }
    if (value === undefined) {
      skipped.push(`skipped ${e.kind}/${e.id}: ${why}`);
      skippedWhy.set(`${e.kind}/${e.id}`, why ?? '');
      continue;
    }
    if (read.ok && read.unknownFields.length > 0) {
      notes.push(
        `${e.kind}/${e.id}: left out ${read.unknownFields.length} field(s) the gateway ignores (unknown): ${read.unknownFields.join(', ')}`,
      );
    }
    items.push({ kind: e.kind, id: e.id, identity: identityOf(e.kind, value) ?? '', value });
  }
  for (const [kind, n] of notExpressible) {
    notes.push(`${n} ${kind} not exported: a resources file cannot express them`);
  }

  // Api key display names are not unique in the Admin API, but a file's identities are: keys
  // sharing one are each exported as "<name>-<first 8 characters of the id>" (deterministic,
  // and none keeps the shared name, so diff/apply match each by its key_hash and rename it).
  const keys = items
    .filter((i) => i.kind === 'api_keys')
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const taken = new Set(keys.map((i) => i.identity));
  const shared = new Map<string, number>();
  for (const i of keys) if (i.identity !== '') shared.set(i.identity, (shared.get(i.identity) ?? 0) + 1);
  const rename = (i: Item, base: string, why: string) => {
    let name = `${base}-${i.id.slice(0, 8)}`;
    if (taken.has(name)) name = `${base}-${i.id}`;
    for (let n = 2; taken.has(name); n++) name = `${base}-${i.id}-${n}`;
    taken.add(name);
    i.identity = name;
    i.value = { ...i.value, display_name: name };
    notes.push(`api_keys/${i.id} ${why}: exported as "${name}"`);
  };
  for (const i of keys) {
    const n = shared.get(i.identity) ?? 0;
    if (n > 1)
      rename(i, i.identity, `shares its display_name "${i.identity}" with ${n - 1} other api key(s)`);
  }
  // One the store lacks is made up from the id.
  for (const i of keys) if (i.identity === '') rename(i, 'api-key', 'has no display_name');

  const byId = new Map<string, Item>(items.map((i) => [`${i.kind}/${i.id}`, i]));
  const nameOfDerived = new Map<string, string>(
    items.map((i) => [`${i.kind}/${fileResourceId(i.kind, i.identity)}`, i.identity]),
  );
  const nameOf = (kind: KindName, derived: string) => nameOfDerived.get(`${kind}/${derived}`);
  const placeholders: Placeholder[] = [];
  const usedVars = new Set<string>();
  const collections = new Map<KindName, { identity: string; doc: Doc }[]>();
  for (const i of items) {
    let bad: string | undefined;
    // Live ids → derived ids; for models and policies the file's name sugar reads better.
    const toDerived = (target: KindName, id: string): string => {
      const t = byId.get(`${target}/${id}`);
      if (t === undefined) {
        const why = skippedWhy.get(`${target}/${id}`) ?? opts.skippedBefore?.get(`${target}/${id}`);
        bad ??=
          why === undefined
            ? `references ${target} id "${id}", which does not exist`
            : `references ${target}/${id}, which is skipped (${why}): fix or delete that document, or this reference`;
        return id;
      }
      return fileResourceId(target, t.identity);
    };
    let doc = mapIdRefs(i.kind, withoutDefaults(i.kind, withoutEmptyGrace(i.kind, i.value)), toDerived);
    if (bad !== undefined) {
      errors.push(`${i.kind} "${i.identity}": ${bad}`);
      continue;
    }
    if (i.kind === 'rate_limit_policies') {
      doc = mapIdRefs(i.kind, doc, (target, id) => nameOf(target, id) ?? id);
    }
    if (i.kind === 'models' && typeof doc.provider_key_id === 'string') {
      const { provider_key_id: pkId, ...rest } = doc;
      doc = { ...rest, provider_key: nameOf('provider_keys', pkId) ?? pkId };
    }
    doc = escapeDollars(doc) as Doc;
    for (const slot of secretSlots(i.kind, doc)) {
      if (opts.revealSecrets) continue;
      const base = `${SINGULAR[i.kind] ?? slug(i.kind)}_${slug(i.identity)}_${slug(slot.path)}`;
      let variable = base;
      for (let n = 2; usedVars.has(variable); n++) variable = `${base}_${n}`;
      usedVars.add(variable);
      slot.set(`\${${variable}}`);
      placeholders.push({ variable, kind: i.kind, identity: i.identity, path: slot.path });
    }
    // The identity first: it is what a reader looks for in a list of entries.
    const field = Object.keys(doc).find(
      (k) => doc[k] === i.identity && (k === 'name' || k === 'display_name'),
    );
    if (field !== undefined) doc = { [field]: doc[field], ...doc };
    const list = collections.get(i.kind) ?? [];
    list.push({ identity: i.identity, doc });
    collections.set(i.kind, list);
  }
  if (errors.length > 0) return { ok: false, errors };

  const root: Record<string, unknown> = { _format_version: '1' };
  let count = 0;
  for (const kind of FILE_KINDS) {
    const list = collections.get(kind);
    if (!list || list.length === 0) continue;
    list.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0));
    root[kind] = list.map((x) => x.doc);
    count += list.length;
  }
  const header = [
    `# AISIX resources file exported from ${opts.source} (${count} resource(s)).`,
    ...(placeholders.length > 0
      ? [`# Secrets are \${VAR} placeholders: set these variables before 'aisix validate/diff/apply':`]
      : []),
    ...placeholders.map((p) => `#   ${p.variable}: ${p.kind} "${p.identity}" ${p.path}`),
  ];
  const text = `${header.join('\n')}\n${stringify(root, { aliasDuplicateObjects: false, lineWidth: 0 })}`;

  // The promise of export: file mode loads what it wrote.
  const env = Object.fromEntries(placeholders.map((p) => [p.variable, 'placeholder-secret-value']));
  const check = loadResourcesFile({ text, path: '(export)', env });
  if (!check.ok) return { ok: false, errors: check.errors };
  return { ok: true, text, placeholders, notes, skipped, count };
}
