/**
 * Model alias resolution against a snapshot: the exact `display_name` first, then the most
 * specific single-`*` alias among direct models. The wildcard model keeps its identity
 * (id, provider key, limits, cost); only the upstream model id is derived from the request.
 * Leaves out: the `allowed_models` ACL and the 404 envelope (gateway pipeline).
 */
import { wildcardCapture } from '../glob.js';
import type { ConfigSnapshot, Resource } from './types.js';

export interface ResolvedModel {
  readonly model: Resource<'models'>;
  /** Upstream model id to send; undefined for virtual models (routing, ensemble, semantic). */
  readonly upstreamModel: string | undefined;
  /** True when the alias matched through a `*` pattern. */
  readonly wildcard: boolean;
}

function modelName(m: Resource<'models'>): string | undefined {
  const v = (m.value as Record<string, unknown>).model_name;
  return typeof v === 'string' ? v : undefined;
}

export function resolveModel(snapshot: ConfigSnapshot, requested: string): ResolvedModel | undefined {
  // Exact first, against every display_name: a name with two `*` is a plain literal.
  const exact = snapshot.byName('models', requested);
  if (exact !== undefined) return { model: exact, upstreamModel: modelName(exact), wildcard: false };
  // wildcardModels is already ordered most specific first, ties by first seen.
  for (const m of snapshot.wildcardModels) {
    const alias = (m.value as Record<string, unknown>).display_name;
    if (typeof alias !== 'string') continue;
    const captured = wildcardCapture(alias, requested);
    if (captured === null) continue;
    const template = modelName(m);
    const upstreamModel = template === undefined ? captured : template.replace('*', () => captured);
    return { model: m, upstreamModel, wildcard: true };
  }
  return undefined;
}
