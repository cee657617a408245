/**
 * Cross-references between resources, as the GitOps commands need them:
 *  - references by id (a model's `provider_key_id`, a rate-limit policy's `scope_ref` and
 *    condition values, a cache policy's `applies_to: api_key:<id>`) are rewritten between id
 *    spaces (live random ids, resources-file derived ids) with `mapIdRefs`;
 *  - every reference, by id or by name, orders writes: `dependencies` lists what an entry
 *    needs to exist first, and `writeOrder` sorts entries so that creates and updates come
 *    after what they reference and deletes (the reverse order) before it.
 */
import type { KindName } from '@aisix/core';

export type Doc = Record<string, unknown>;

const isRecord = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The file collections in dependency order: a kind only references kinds before it. */
export const KIND_ORDER: readonly KindName[] = [
  'provider_keys',
  'oidc_providers',
  'guardrails',
  'mcp_servers',
  'a2a_agents',
  'observability_exporters',
  'models',
  'api_keys',
  'cache_policies',
  'rate_limit_policies',
];

/** Rewrites one id of `target` kind; returns the id unchanged when it has no mapping. */
export type IdMapper = (target: KindName, id: string) => string;

const POLICY_REF: Readonly<Record<string, KindName>> = { api_key: 'api_keys', model: 'models' };

function mapConditions(node: unknown, f: IdMapper): unknown {
  if (Array.isArray(node)) return node.map((n) => mapConditions(n, f));
  if (!isRecord(node)) return node;
  if (Array.isArray(node.children)) return { ...node, children: mapConditions(node.children, f) };
  const target = typeof node.dimension === 'string' ? POLICY_REF[node.dimension] : undefined;
  if (target === undefined || !('value' in node)) return node;
  const one = (v: unknown) => (typeof v === 'string' ? f(target, v) : v);
  return { ...node, value: Array.isArray(node.value) ? node.value.map(one) : one(node.value) };
}

const API_KEY_SCOPE = 'api_key:';

/** A copy of `doc` with every reference by id passed through `f`. */
export function mapIdRefs(kind: KindName, doc: Doc, f: IdMapper): Doc {
  switch (kind) {
    case 'models':
      return typeof doc.provider_key_id === 'string'
        ? { ...doc, provider_key_id: f('provider_keys', doc.provider_key_id) }
        : doc;
    case 'rate_limit_policies': {
      let out = doc;
      const target = typeof doc.scope === 'string' ? POLICY_REF[doc.scope] : undefined;
      if (target !== undefined && typeof doc.scope_ref === 'string') {
        out = { ...out, scope_ref: f(target, doc.scope_ref) };
      }
      if (Array.isArray(doc.conditions)) out = { ...out, conditions: mapConditions(doc.conditions, f) };
      return out;
    }
    case 'cache_policies': {
      const a = doc.applies_to;
      if (typeof a !== 'string' || !a.startsWith(API_KEY_SCOPE)) return doc;
      return { ...doc, applies_to: `${API_KEY_SCOPE}${f('api_keys', a.slice(API_KEY_SCOPE.length))}` };
    }
    default:
      return doc;
  }
}

/** A reference: by id (resolved through the id space) or by identity (alias / name). */
export interface Ref {
  readonly kind: KindName;
  readonly by: 'id' | 'name';
  readonly value: string;
}

function modelAliasRefs(doc: Doc): string[] {
  const out: string[] = [];
  const push = (v: unknown) => {
    if (typeof v === 'string' && !v.includes('*')) out.push(v);
  };
  const routing = doc.routing;
  if (isRecord(routing) && Array.isArray(routing.targets)) {
    for (const t of routing.targets) if (isRecord(t)) push(t.model);
  }
  const ensemble = doc.ensemble;
  if (isRecord(ensemble)) {
    if (Array.isArray(ensemble.panel)) for (const p of ensemble.panel) if (isRecord(p)) push(p.model);
    if (isRecord(ensemble.judge)) push(ensemble.judge.model);
  }
  const semantic = doc.semantic;
  if (isRecord(semantic)) {
    push(semantic.embedding_model);
    push(semantic.default);
    if (Array.isArray(semantic.routes)) for (const r of semantic.routes) if (isRecord(r)) push(r.target);
    if (isRecord(semantic.on_embedding_failure)) push(semantic.on_embedding_failure.target);
  }
  return out;
}

/** Everything `doc` (of `kind`) references, by id or by name. */
export function dependencies(kind: KindName, doc: Doc): Ref[] {
  const refs: Ref[] = [];
  mapIdRefs(kind, doc, (target, id) => {
    refs.push({ kind: target, by: 'id', value: id });
    return id;
  });
  const alias = (value: string) => refs.push({ kind: 'models', by: 'name', value });
  if (kind === 'models') for (const a of modelAliasRefs(doc)) alias(a);
  if (kind === 'api_keys') {
    if (Array.isArray(doc.allowed_models)) {
      for (const m of doc.allowed_models) if (typeof m === 'string' && !m.includes('*')) alias(m);
    }
    if (typeof doc.jwt_provider === 'string') {
      refs.push({ kind: 'oidc_providers', by: 'name', value: doc.jwt_provider });
    }
  }
  if (kind === 'cache_policies') {
    const a = doc.applies_to;
    if (typeof a === 'string' && a.startsWith('model:')) alias(a.slice('model:'.length));
    if (isRecord(doc.semantic) && typeof doc.semantic.embedding_model === 'string') {
      alias(doc.semantic.embedding_model);
    }
  }
  return refs;
}

export interface Orderable {
  readonly kind: KindName;
  /** Identity (alias / name) of the entry. */
  readonly identity: string;
  /** Id the entry's referrers use for it, in the same id space as `dependencies` of `doc`. */
  readonly id: string;
  readonly doc: Doc;
}

/**
 * Dependency order: kinds in KIND_ORDER, and inside `models` (the one kind that references
 * itself) each model after the models it names. A cycle cannot be ordered: its members keep
 * their input order (the Admin API reports what it refuses).
 */
export function writeOrder<T extends Orderable>(items: readonly T[]): T[] {
  const out: T[] = [];
  for (const kind of KIND_ORDER) {
    const ofKind = items.filter((i) => i.kind === kind);
    if (kind !== 'models') {
      out.push(...ofKind);
      continue;
    }
    const byAlias = new Map(ofKind.map((m) => [m.identity, m]));
    const state = new Map<T, 'visiting' | 'done'>();
    const visit = (m: T): void => {
      if (state.has(m)) return;
      state.set(m, 'visiting');
      for (const ref of dependencies('models', m.doc)) {
        const dep = ref.kind === 'models' && ref.by === 'name' ? byAlias.get(ref.value) : undefined;
        if (dep !== undefined) visit(dep);
      }
      state.set(m, 'done');
      out.push(m);
    };
    for (const m of ofKind) visit(m);
  }
  return out;
}
