/**
 * Cross-references between resources (control-plane §3.4), as data: which fields of a
 * document name another resource, of which kind, and whether they resolve against a set of
 * entries. One enumeration serves the resources-file cross-checks, the Admin API's write and
 * delete checks and the gateway's `/status/models`.
 *
 * Model aliases resolve as the proxy resolves a requested `model`: an exact `display_name`,
 * else a single-`*` alias of a direct model. An alias reference that itself contains `*` is a
 * pattern (an `allowed_models` glob, a wildcard target) and is never reported: it may match a
 * model created later, so only references that cannot match anything are.
 */

import { wildcardCapture } from './glob.js';
import type { KindName } from './kinds.js';
import { providerKeyDispatches } from './resources/provider-keys.js';
import type { ConfigSnapshot } from './snapshot/types.js';

export type RefPath = readonly (string | number)[];
export type RefTargetKind = 'models' | 'provider_keys' | 'api_keys' | 'guardrails' | 'oidc_providers';

export interface Reference {
  /** Location in the referring document (`['routing', 'targets', 0, 'model']`). */
  readonly path: RefPath;
  readonly target: RefTargetKind;
  /** `id`: the entry id; `alias`: a model alias; `name`: the target kind's name field. */
  readonly by: 'id' | 'alias' | 'name';
  readonly value: string;
}

/** An entry as every caller has it: stored docs, file entries, snapshot resources. */
export interface RefEntry {
  readonly kind: KindName;
  readonly id: string;
  readonly value: Readonly<Record<string, unknown>>;
}

/** Kinds each kind's documents can reference. */
export const REFERENCE_TARGETS: Readonly<Partial<Record<KindName, readonly RefTargetKind[]>>> = {
  models: ['provider_keys', 'models'],
  api_keys: ['models', 'oidc_providers'],
  rate_limit_policies: ['api_keys', 'models'],
  guardrail_attachments: ['guardrails', 'models', 'api_keys'],
  cache_policies: ['models', 'api_keys'],
};

/**
 * Kinds referenced by alias or name (not only by id): a replace that keeps the id can still
 * break references to these (a renamed model, a model that stops being a wildcard alias).
 */
export function referencedByName(kind: KindName): boolean {
  return kind === 'models' || kind === 'oidc_providers';
}

/** Kinds whose documents can reference `kind` (the ones a delete or rename can break). */
export function referringKinds(kind: KindName): KindName[] {
  const out: KindName[] = [];
  for (const [from, targets] of Object.entries(REFERENCE_TARGETS) as [KindName, RefTargetKind[]][]) {
    if ((targets as readonly string[]).includes(kind)) out.push(from);
  }
  return out;
}

const rec = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

type Push = (path: RefPath, target: RefTargetKind, by: Reference['by'], value: unknown) => void;

function modelDocRefs(m: Record<string, unknown>, push: Push): void {
  push(['provider_key_id'], 'provider_keys', 'id', m.provider_key_id);
  for (const [i, t] of list(rec(m.routing)?.targets).entries())
    push(['routing', 'targets', i, 'model'], 'models', 'alias', rec(t)?.model);
  const ens = rec(m.ensemble);
  for (const [i, p] of list(ens?.panel).entries())
    push(['ensemble', 'panel', i, 'model'], 'models', 'alias', rec(p)?.model);
  push(['ensemble', 'judge', 'model'], 'models', 'alias', rec(ens?.judge)?.model);
  const sem = rec(m.semantic);
  push(['semantic', 'embedding_model'], 'models', 'alias', sem?.embedding_model);
  push(['semantic', 'default'], 'models', 'alias', sem?.default);
  for (const [i, r] of list(sem?.routes).entries())
    push(['semantic', 'routes', i, 'target'], 'models', 'alias', rec(r)?.target);
  push(
    ['semantic', 'on_embedding_failure', 'target'],
    'models',
    'alias',
    rec(sem?.on_embedding_failure)?.target,
  );
}

const IDENTITY_DIMENSIONS: Readonly<Record<string, RefTargetKind>> = { api_key: 'api_keys', model: 'models' };

/** Condition leaves on the `api_key` / `model` dimensions name entry ids (file sugar resolves names). */
function conditionRefs(nodes: unknown, at: RefPath, push: Push): void {
  for (const [i, n] of list(nodes).entries()) {
    const node = rec(n);
    if (node === undefined) continue;
    if (node.children !== undefined) {
      conditionRefs(node.children, [...at, i, 'children'], push);
      continue;
    }
    const target = typeof node.dimension === 'string' ? IDENTITY_DIMENSIONS[node.dimension] : undefined;
    if (target === undefined) continue;
    if (Array.isArray(node.value)) {
      for (const [j, x] of node.value.entries()) push([...at, i, 'value', j], target, 'id', x);
    } else push([...at, i, 'value'], target, 'id', node.value);
  }
}

/** Every reference a document makes, in document order. Tolerates malformed documents. */
export function referencesOf(kind: KindName, value: Readonly<Record<string, unknown>>): Reference[] {
  const refs: Reference[] = [];
  const push: Push = (path, target, by, v) => {
    if (typeof v !== 'string') return;
    if (by === 'alias' && v.includes('*')) return; // a pattern, not a name
    refs.push({ path, target, by, value: v });
  };
  switch (kind) {
    case 'models':
      modelDocRefs(value, push);
      break;
    case 'api_keys':
      for (const [i, a] of list(value.allowed_models).entries())
        push(['allowed_models', i], 'models', 'alias', a);
      push(['jwt_provider'], 'oidc_providers', 'name', value.jwt_provider);
      break;
    case 'rate_limit_policies': {
      const target = typeof value.scope === 'string' ? IDENTITY_DIMENSIONS[value.scope] : undefined;
      if (target !== undefined) push(['scope_ref'], target, 'id', value.scope_ref);
      conditionRefs(value.conditions, ['conditions'], push);
      break;
    }
    case 'guardrail_attachments': {
      push(['guardrail_id'], 'guardrails', 'id', value.guardrail_id);
      const target = typeof value.scope_type === 'string' ? IDENTITY_DIMENSIONS[value.scope_type] : undefined;
      if (target !== undefined) push(['scope_id'], target, 'id', value.scope_id);
      break;
    }
    case 'cache_policies': {
      const a = value.applies_to;
      if (typeof a === 'string' && a.startsWith('model:'))
        push(['applies_to'], 'models', 'alias', a.slice(6));
      else if (typeof a === 'string' && a.startsWith('api_key:'))
        push(['applies_to'], 'api_keys', 'id', a.slice(8));
      push(['semantic', 'embedding_model'], 'models', 'alias', rec(value.semantic)?.embedding_model);
      break;
    }
    default:
      break;
  }
  return refs;
}

const NAME_FIELD: Readonly<Record<RefTargetKind, string>> = {
  models: 'display_name',
  provider_keys: 'display_name',
  api_keys: 'display_name',
  guardrails: 'name',
  oidc_providers: 'name',
};

const isSingleStar = (s: string): boolean => s.includes('*') && s.indexOf('*') === s.lastIndexOf('*');

const isDirectModel = (v: Readonly<Record<string, unknown>>): boolean =>
  v.routing === undefined && v.ensemble === undefined && v.semantic === undefined;

/** What references resolve against: ids and names per target kind, model aliases. */
export class ReferenceIndex {
  readonly #ids = new Map<RefTargetKind, Map<string, Readonly<Record<string, unknown>>>>();
  readonly #names = new Map<RefTargetKind, Set<string>>();
  /** Single-`*` aliases of direct models. */
  readonly #wildcards: string[] = [];

  constructor(entries: Iterable<RefEntry>) {
    for (const e of entries) {
      if (!(e.kind in NAME_FIELD)) continue;
      const kind = e.kind as RefTargetKind;
      let ids = this.#ids.get(kind);
      if (ids === undefined) {
        ids = new Map();
        this.#ids.set(kind, ids);
      }
      ids.set(e.id, e.value);
      const name = e.value[NAME_FIELD[kind]];
      if (typeof name !== 'string') continue;
      let names = this.#names.get(kind);
      if (names === undefined) {
        names = new Set();
        this.#names.set(kind, names);
      }
      names.add(name);
      if (kind === 'models' && isDirectModel(e.value) && isSingleStar(name)) this.#wildcards.push(name);
    }
  }

  /** The document of an entry by id. */
  entry(kind: RefTargetKind, id: string): Readonly<Record<string, unknown>> | undefined {
    return this.#ids.get(kind)?.get(id);
  }

  resolves(ref: Reference): boolean {
    if (ref.by === 'id') return this.#ids.get(ref.target)?.has(ref.value) ?? false;
    if (this.#names.get(ref.target)?.has(ref.value)) return true;
    return ref.by === 'alias' && this.#wildcards.some((p) => wildcardCapture(p, ref.value) !== null);
  }
}

/** The references of a document that do not resolve, in document order. */
export function unresolvedReferences(
  kind: KindName,
  value: Readonly<Record<string, unknown>>,
  index: ReferenceIndex,
): Reference[] {
  return referencesOf(kind, value).filter((r) => !index.resolves(r));
}

export interface Referrer {
  readonly kind: KindName;
  readonly id: string;
  readonly value: Readonly<Record<string, unknown>>;
  readonly path: RefPath;
}

/**
 * Entries among `candidates` holding a reference that resolves in `before` and not in
 * `after`: what a delete or a rename would leave dangling. One row per broken reference.
 */
export function brokenReferrers(
  candidates: Iterable<RefEntry>,
  before: ReferenceIndex,
  after: ReferenceIndex,
): Referrer[] {
  const out: Referrer[] = [];
  for (const e of candidates) {
    for (const r of referencesOf(e.kind, e.value)) {
      if (before.resolves(r) && !after.resolves(r))
        out.push({ kind: e.kind, id: e.id, value: e.value, path: r.path });
    }
  }
  return out;
}

const TARGET_LABEL: Readonly<Record<RefTargetKind, string>> = {
  models: 'model',
  provider_keys: 'provider key',
  api_keys: 'api key',
  guardrails: 'guardrail',
  oidc_providers: 'oidc provider',
};

/** Why a reference does not resolve, without its location. */
export function describeUnresolved(ref: Reference): string {
  const label = TARGET_LABEL[ref.target];
  const v = JSON.stringify(ref.value);
  if (ref.by === 'id') return `${v} is not the id of any ${label}`;
  if (ref.by === 'name') return `${v} is not the name of any ${label}`;
  return `${v} names no model (neither an alias nor matched by a wildcard alias)`;
}

/** JSON pointer of a path (RFC 6901 escaping). */
export function refPointer(path: RefPath): string {
  return path.map((k) => `/${String(k).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** The resources-file form of a path: `routing.targets[0].model`. */
export function refDotted(path: RefPath): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out === '' ? k : `.${k}`;
  return out;
}

const snapshotIndexes = new WeakMap<ConfigSnapshot, ReferenceIndex>();

/** The reference index of a served snapshot, built once per snapshot. */
export function snapshotReferenceIndex(snapshot: ConfigSnapshot): ReferenceIndex {
  let idx = snapshotIndexes.get(snapshot);
  if (idx === undefined) {
    const entries: RefEntry[] = [];
    for (const kind of Object.keys(NAME_FIELD) as RefTargetKind[]) {
      for (const r of snapshot.byId(kind).values())
        entries.push({ kind, id: r.id, value: r.value as Record<string, unknown> });
    }
    idx = new ReferenceIndex(entries);
    snapshotIndexes.set(snapshot, idx);
  }
  return idx;
}

/** Why a model cannot serve from its configuration alone (`/status/models`: `unavailable`). */
export interface ModelConfigFault {
  readonly reason: 'unresolved_reference' | 'provider_key_unusable';
  /** `<pointer>: <why>`; names ids and aliases, never secrets. */
  readonly detail: string;
}

/**
 * The first configuration fault of a model: a reference that resolves to nothing (a provider
 * key deleted out-of-band, a target written by an older version), or a provider key with no
 * dispatch path. Null when the configuration can serve; upstream health is another matter.
 */
export function modelConfigFault(
  value: Readonly<Record<string, unknown>>,
  index: ReferenceIndex,
): ModelConfigFault | null {
  const [bad] = unresolvedReferences('models', value, index);
  if (bad !== undefined) {
    return { reason: 'unresolved_reference', detail: `${refPointer(bad.path)}: ${describeUnresolved(bad)}` };
  }
  const pkId = value.provider_key_id;
  const pk = typeof pkId === 'string' ? index.entry('provider_keys', pkId) : undefined;
  if (pk !== undefined && !providerKeyDispatches(pk)) {
    return {
      reason: 'provider_key_unusable',
      detail: `/provider_key_id: provider key ${JSON.stringify(pkId)} has neither a known provider nor an adapter`,
    };
  }
  return null;
}
