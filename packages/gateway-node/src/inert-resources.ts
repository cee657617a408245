/**
 * Resource kinds and fields the Admin API validates and stores but this gateway does not act
 * on yet. The CLI logs them (one warning whenever the set in use changes), so an operator who
 * configured, say, a guardrail is never misled into thinking requests are scanned. Remove an
 * entry in the same change that makes its feature real.
 */
import type { ConfigSnapshot, KindName } from '@aisix/core';

const INERT_KINDS: readonly KindName[] = [
  'guardrails',
  'guardrail_attachments',
  'observability_exporters',
  'a2a_agents',
  'oidc_providers',
];

/** Routing strategies that are accepted but walk the targets like `failover`. */
const INERT_STRATEGIES = new Set(['least_cost', 'least_latency', 'least_busy']);

const INERT_KEY_FIELDS = ['allowed_agents', 'jwt_subject', 'jwt_provider'] as const;

/** `kind` or `kind.field` names in use in `s` that have no effect yet, sorted. */
export function inertResourceFields(s: ConfigSnapshot): string[] {
  const out = new Set<string>();
  for (const k of INERT_KINDS) if (s.byId(k).size > 0) out.add(k);
  for (const m of s.byId('models').values()) {
    const v = m.value;
    if (v.ensemble !== undefined) out.add('models.ensemble');
    if (v.semantic !== undefined) out.add('models.semantic');
    if (v.background_model_check !== undefined) out.add('models.background_model_check');
    if (v.cost !== undefined) out.add('models.cost');
    const r = v.routing;
    if (r !== undefined) {
      if (r.strategy !== undefined && INERT_STRATEGIES.has(r.strategy))
        out.add(`models.routing.strategy: ${r.strategy}`);
      if (r.targets.some((t) => t.tags !== undefined && t.tags.length > 0))
        out.add('models.routing.targets.tags');
    }
  }
  for (const k of s.byId('api_keys').values()) {
    const v = k.value as Readonly<Record<string, unknown>>;
    for (const f of INERT_KEY_FIELDS) if (v[f] !== undefined && v[f] !== null) out.add(`api_keys.${f}`);
  }
  for (const p of s.byId('provider_keys').values()) {
    if (p.value.tls !== undefined && p.value.tls !== null) out.add('provider_keys.tls');
  }
  for (const c of s.byId('cache_policies').values()) {
    if (c.value.semantic !== undefined && c.value.backend === 'redis')
      out.add('cache_policies.semantic (redis backend)');
  }
  return [...out].sort();
}
