/**
 * Resource kinds and fields the Admin API validates and stores but this gateway does not act
 * on yet. The CLI logs them (one warning whenever the set in use changes), so an operator who
 * configured, say, a guardrail is never misled into thinking requests are scanned. Remove an
 * entry in the same change that makes its feature real.
 */
import type { ConfigSnapshot } from '@aisix/core';
import { LIVE_EXPORTER_KINDS } from './usage/exporters.js';

/** Guardrail kinds stored but not evaluated yet. */
const INERT_GUARDRAIL_KINDS = new Set(['aliyun_ai_guardrail']);

/** `kind` or `kind.field` names in use in `s` that have no effect yet, sorted. */
export function inertResourceFields(s: ConfigSnapshot): string[] {
  const out = new Set<string>();
  for (const e of s.byId('observability_exporters').values()) {
    const kind = String((e.value as { kind?: unknown }).kind);
    if (!LIVE_EXPORTER_KINDS.has(kind)) out.add(`observability_exporters (kind ${kind})`);
  }
  for (const g of s.byId('guardrails').values()) {
    if (INERT_GUARDRAIL_KINDS.has(g.value.kind)) out.add(`guardrails.kind: ${g.value.kind}`);
  }
  for (const c of s.byId('cache_policies').values()) {
    if (c.value.semantic !== undefined && c.value.backend === 'redis')
      out.add('cache_policies.semantic (redis backend)');
  }
  return [...out].sort();
}
