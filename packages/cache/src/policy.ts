/**
 * Cache policy selection (data-plane §10.2, decisions.md OP-11): which `cache_policies` row,
 * if any, governs a request.
 *
 * The plan is compiled once per config snapshot and memoised on the snapshot object, so the
 * gateway may call `compileCachePlan(snapshot)` on every request: the first call for a snapshot
 * pays the compile, later calls are a WeakMap lookup. When no enabled policy exists the result
 * is `undefined` and the request path pays nothing more for caching.
 *
 * Selection is the most specific match (`api_key:` > `model:` > `all`), not the reference's
 * table order: a model- or key-specific row is an explicit operator intent that a broad
 * `all` row must not shadow. Each specificity level is a map lookup, so `select` is O(1).
 */
import type { ConfigSnapshot } from '@aisix/core';
import type { AppliesTo, CompiledCachePolicy, SemanticSettings } from './types.js';

/** Default `semantic.max_entries` (control-plane §3.8). */
const DEFAULT_SEMANTIC_MAX_ENTRIES = 1000;

export interface CachePlan {
  /** Every enabled policy, compiled, sorted by id (diagnostics, semantic index upkeep). */
  readonly policies: readonly CompiledCachePolicy[];
  /** Operator-facing notes about the config (logged by the gateway on snapshot change). */
  readonly warnings: readonly string[];
  /** The governing policy for a request, or undefined (no `x-aisix-cache` header at all). */
  select(requestedAlias: string, apiKeyId: string): CompiledCachePolicy | undefined;
}

/**
 * Parses `applies_to`. Anything that is not exactly `all`, `model:<alias>` or `api_key:<id>`
 * with a non-blank remainder behaves as `all` (control-plane §3.8). The remainder is used
 * verbatim (aliases and ids are matched exactly, as everywhere else in the gateway).
 */
export function parseAppliesTo(raw: string): AppliesTo {
  const colon = raw.indexOf(':');
  if (colon > 0) {
    const head = raw.slice(0, colon);
    const rest = raw.slice(colon + 1);
    if (rest.trim() !== '') {
      if (head === 'model') return { kind: 'model', alias: rest };
      if (head === 'api_key') return { kind: 'api_key', id: rest };
    }
  }
  return { kind: 'all' };
}

/** True when `raw` is one of the documented forms (the others get a warning). */
function isWellFormed(raw: string, parsed: AppliesTo): boolean {
  return parsed.kind !== 'all' || raw === 'all';
}

const plans = new WeakMap<ConfigSnapshot, CachePlan | null>();

/** The cache plan of a snapshot; undefined when no enabled policy exists. Memoised per snapshot. */
export function compileCachePlan(snapshot: ConfigSnapshot): CachePlan | undefined {
  const memo = plans.get(snapshot);
  if (memo !== undefined) return memo ?? undefined;
  const plan = compile(snapshot);
  plans.set(snapshot, plan ?? null);
  return plan;
}

function compile(snapshot: ConfigSnapshot): CachePlan | undefined {
  const rows = [...snapshot.byId('cache_policies').values()].filter((r) => r.value.enabled !== false);
  if (rows.length === 0) return undefined;
  // Ties within one specificity go to the lowest policy id (UTF-16 code unit order, the
  // default sort): ids are stable across replicas and restarts, while store iteration order
  // is not, so every replica picks the same row for the same request.
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const warnings: string[] = [];
  const policies: CompiledCachePolicy[] = [];
  const byKey = new Map<string, CompiledCachePolicy>();
  const byModel = new Map<string, CompiledCachePolicy>();
  let all: CompiledCachePolicy | undefined;

  for (const row of rows) {
    const v = row.value;
    const rawApplies = typeof v.applies_to === 'string' ? v.applies_to : 'all';
    const appliesTo = parseAppliesTo(rawApplies);
    if (!isWellFormed(rawApplies, appliesTo)) {
      warnings.push(
        `cache policy ${row.id} (${v.name}): applies_to ${JSON.stringify(rawApplies)} is not ` +
          '"all", "model:<alias>" or "api_key:<id>"; it applies to all requests',
      );
    }
    const backend = v.backend === 'redis' ? 'redis' : 'memory';
    const semantic = compileSemantic(v.semantic);
    if (semantic !== undefined && backend === 'redis') {
      warnings.push(
        `cache policy ${row.id} (${v.name}): the semantic layer on the redis backend needs vector ` +
          'search (RediSearch) on the Redis server',
      );
    }
    const policy: CompiledCachePolicy = Object.freeze({
      id: row.id,
      name: v.name,
      appliesTo,
      ttlSecs: v.ttl_seconds ?? 3600,
      backend,
      scope: v.scope === 'env' ? 'env' : 'api_key',
      purgeGeneration: v.purge_generation ?? 0,
      semantic,
    });
    policies.push(policy);
    // Rows arrive in id order, so the first row claiming a slot is the lowest id: keep it.
    if (appliesTo.kind === 'api_key') {
      if (!byKey.has(appliesTo.id)) byKey.set(appliesTo.id, policy);
    } else if (appliesTo.kind === 'model') {
      if (!byModel.has(appliesTo.alias)) byModel.set(appliesTo.alias, policy);
    } else {
      all ??= policy;
    }
  }

  const fallback = all;
  return Object.freeze({
    policies: Object.freeze(policies),
    warnings: Object.freeze(warnings),
    select(requestedAlias: string, apiKeyId: string): CompiledCachePolicy | undefined {
      return byKey.get(apiKeyId) ?? byModel.get(requestedAlias) ?? fallback;
    },
  });
}

interface RawSemantic {
  readonly embedding_model: string;
  readonly threshold: number;
  readonly embedding_timeout_ms?: number | undefined;
  readonly max_entries?: number | undefined;
}

function compileSemantic(s: RawSemantic | undefined): SemanticSettings | undefined {
  if (s === undefined) return undefined;
  const timeout = s.embedding_timeout_ms;
  return Object.freeze({
    embeddingModel: s.embedding_model,
    threshold: s.threshold,
    // 0 means "no deadline of its own" (the request deadline still applies).
    embeddingTimeoutMs: timeout !== undefined && timeout > 0 ? timeout : undefined,
    maxEntries: s.max_entries ?? DEFAULT_SEMANTIC_MAX_ENTRIES,
  });
}
