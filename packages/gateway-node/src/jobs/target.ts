/**
 * Which Model (and so which provider key) a job call goes to. The hint precedence is the
 * caller's: the Model carried in a gateway id, then an explicit name (multipart `model`, body
 * `model`, `?model=`, `x-aisix-model`), then the first Model the caller may use whose key can
 * serve job APIs. A named Model passes the same checks as on the model endpoints: resolve (exact,
 * then wildcard), the key's `allowed_models`, a direct model only, `allowed_cidrs`, a resolvable
 * provider key whose adapter has job APIs.
 */
import type { Resource } from '@aisix/core';
import { resolveModel } from '@aisix/core';
import type { ProviderAdapter, ProviderKeyView } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { clientIp, ipAllowed, modelAllowed } from '../pipeline/access.js';
import type { RequestContext } from '../pipeline/context.js';
import { apiKeyView, modelKind, modelView, providerKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';

export interface JobTarget {
  readonly model: Resource<'models'>;
  /** The Model's display name: what gateway ids carry and what metrics and quotas name. */
  readonly alias: string;
  readonly provider: string;
  readonly pk: Resource<'provider_keys'>;
  readonly pkv: ProviderKeyView;
  readonly adapter: ProviderAdapter;
}

export type TargetResult =
  | { readonly ok: true; readonly target: JobTarget }
  | { readonly ok: false; readonly error: GatewayError };

const bad = (message: string) => new GatewayError(400, 'invalid_request_error', message);

/** The explicit hint of `?model=` or `x-aisix-model` (trimmed, non-empty). */
export function requestHint(ctx: RequestContext, query: URLSearchParams): string | undefined {
  const q = query.get('model')?.trim();
  if (q) return q;
  const h = ctx.req.headers['x-aisix-model'];
  const v = (Array.isArray(h) ? h[0] : h)?.trim();
  return v ? v : undefined;
}

/** The key and adapter of a direct Model, or why it cannot serve job APIs. */
function keyOf(
  rt: GatewayRuntime,
  ctx: RequestContext,
  model: Resource<'models'>,
): { pk: Resource<'provider_keys'>; pkv: ProviderKeyView; adapter: ProviderAdapter } | GatewayError {
  const view = modelView(model);
  const pkId = view.provider_key_id ?? '';
  const pk = ctx.snapshot.byId('provider_keys').get(pkId);
  if (pk === undefined) return errors.unknownProviderKey(view.display_name, pkId);
  const pkv = providerKeyView(pk);
  const adapter = rt.registry.resolve(pkv);
  if (adapter?.prepareJob === undefined) {
    return bad(
      `model ${JSON.stringify(view.display_name)} cannot serve files, batches or fine-tuning jobs: its provider key needs adapter openai or azure-openai`,
    );
  }
  return { pk, pkv, adapter };
}

function target(
  model: Resource<'models'>,
  k: { pk: Resource<'provider_keys'>; pkv: ProviderKeyView; adapter: ProviderAdapter },
): TargetResult {
  const view = modelView(model);
  return {
    ok: true,
    target: { model, alias: view.display_name, provider: view.provider ?? 'unknown', ...k },
  };
}

/** A named Model (from a gateway id or an explicit hint), with the model endpoints' checks. */
export function namedTarget(rt: GatewayRuntime, ctx: RequestContext, name: string): TargetResult {
  const resolved = resolveModel(ctx.snapshot, name);
  if (resolved === undefined) return { ok: false, error: errors.modelNotFound(name) };
  const key = ctx.apiKey;
  if (key === undefined || !modelAllowed(apiKeyView(key).allowed_models, name))
    return { ok: false, error: errors.modelNotAllowed(name) };
  const view = modelView(resolved.model);
  if (modelKind(view) !== 'direct') {
    return {
      ok: false,
      error: bad(
        `model ${JSON.stringify(name)} is ${kindPhrase(modelKind(view))} model: files, batches and fine-tuning jobs need a direct model`,
      ),
    };
  }
  const cidrs = view.allowed_cidrs;
  if (cidrs && cidrs.length > 0 && !ipAllowed(cidrs, clientIp(ctx.req, rt.realIp)))
    return { ok: false, error: errors.ipRestricted() };
  const k = keyOf(rt, ctx, resolved.model);
  if (k instanceof GatewayError) return { ok: false, error: k };
  return target(resolved.model, k);
}

/**
 * No hint: the first Model in snapshot order that is direct, not a wildcard pattern, allowed to
 * the caller and whose key serves job APIs.
 */
export function defaultTarget(rt: GatewayRuntime, ctx: RequestContext): TargetResult {
  const allowed = ctx.apiKey === undefined ? [] : apiKeyView(ctx.apiKey).allowed_models;
  for (const model of ctx.snapshot.byId('models').values()) {
    const view = modelView(model);
    if (modelKind(view) !== 'direct' || view.display_name.includes('*')) continue;
    if (!modelAllowed(allowed, view.display_name)) continue;
    const k = keyOf(rt, ctx, model);
    if (!(k instanceof GatewayError)) return target(model, k);
  }
  return {
    ok: false,
    error: bad(
      'no model specified and no accessible OpenAI-compatible model found; pass a gateway-issued id, `?model=` or the `x-aisix-model` header',
    ),
  };
}

export function chooseTarget(
  rt: GatewayRuntime,
  ctx: RequestContext,
  fromId: string | undefined,
  explicit: string | undefined,
): TargetResult {
  const name = fromId ?? explicit;
  return name === undefined ? defaultTarget(rt, ctx) : namedTarget(rt, ctx, name);
}

/** `a routing`, `an ensemble`, `a semantic`: a kind of model as a message names it. */
function kindPhrase(kind: string): string {
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}
