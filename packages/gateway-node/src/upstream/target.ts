/**
 * One dispatch target: a direct model with its provider key, adapter, prepared upstream request
 * and deadlines. Built before the first attempt so configuration faults (unknown provider key,
 * no adapter, missing capability, bad base URL or credential) fail fast without I/O.
 */

import type { IncomingMessage } from 'node:http';
import type { Resource } from '@aisix/core';
import {
  checkCapability,
  checkPassthrough,
  type Endpoint,
  type IngressDialect,
  isPassthroughEndpoint,
  type PassthroughEndpoint,
  type PreparedRequest,
  type ProviderAdapter,
  type ProviderKeyView,
  preparePassthrough,
  type TemplateVars,
} from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors, type GatewayError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { apiKeyView, type ModelView, modelView, providerKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { type Deadlines, resolveDeadlines } from './deadlines.js';

export interface Target {
  readonly model: Resource<'models'>;
  readonly view: ModelView;
  readonly provider: string;
  readonly upstreamModel: string;
  /** The provider key's display name (usage events' `pk_label`). */
  readonly providerKeyName: string | undefined;
  readonly adapter: ProviderAdapter;
  readonly prepared: PreparedRequest;
  readonly deadlines: Deadlines;
  /** The dispatcher of the provider key (its `tls` setting's pools, else the shared agent). */
  readonly dispatcher: Dispatcher;
}

export type TargetResult =
  | { readonly ok: true; readonly target: Target }
  | { readonly ok: false; readonly error: GatewayError };

export function templateVars(
  ctx: RequestContext,
  model: Resource<'models'>,
  view: ModelView,
  pkId: string,
  pkv: ProviderKeyView,
): TemplateVars {
  const key = ctx.apiKey ? apiKeyView(ctx.apiKey) : undefined;
  return {
    'request.id': ctx.id,
    'request.api_key.id': ctx.apiKey?.id,
    'request.api_key.name': key?.display_name ?? undefined,
    'request.api_key.team_id': key?.team_id,
    'request.api_key.user_id': key?.user_id,
    'model.id': model.id,
    'model.name': view.display_name,
    'provider_key.id': pkId,
    'provider_key.name': pkv.display_name,
  };
}

export function buildTarget(
  rt: GatewayRuntime,
  ctx: RequestContext,
  endpoint: Endpoint | PassthroughEndpoint,
  body: Readonly<Record<string, unknown>>,
  model: Resource<'models'>,
  upstreamModel: string,
  group: ModelView | undefined,
  /** Caller dialect other than OpenAI (`/v1/messages`, `/v1/responses`): picks native or bridged. */
  dialect?: IngressDialect,
): TargetResult {
  const view = modelView(model);
  const pkId = view.provider_key_id ?? '';
  const pk = ctx.snapshot.byId('provider_keys').get(pkId);
  if (!pk) {
    return {
      ok: false,
      error: group
        ? errors.configError('model references unknown provider_key_id')
        : errors.unknownProviderKey(view.display_name, pkId),
    };
  }
  const pkv = providerKeyView(pk);
  const family = rt.registry.resolve(pkv);
  const chosen = dialect
    ? dialect.select({ modelProvider: view.provider, providerKey: pkv }, family)
    : undefined;
  if (chosen && !chosen.ok) return { ok: false, error: errors.fromAdapter(chosen.error) };
  const adapter = dialect ? chosen?.adapter : family;
  if (!adapter) return { ok: false, error: errors.providerUnavailable() };
  const passthrough = isPassthroughEndpoint(endpoint);
  const refusal = passthrough
    ? checkPassthrough(adapter, endpoint)
    : checkCapability(adapter, endpoint, ctx.stream);
  if (refusal) return { ok: false, error: errors.fromAdapter(refusal) };
  const input = {
    body,
    raw: ctx.rawBody,
    upstreamModel,
    providerKey: pkv,
    requestId: ctx.id,
    inboundHeaders: ctx.req.headers,
    inboundFirst: pkv.request?.forward_client_headers?.length ? firstHeaderValue(ctx.req) : undefined,
    // Only `default_headers` templates read the other variables: built only when there are some.
    templateVars: pkv.request?.default_headers
      ? templateVars(ctx, model, view, pk.id, pkv)
      : { 'request.id': ctx.id },
    userAgent: rt.userAgent,
    autoPromptCaching: view.auto_prompt_caching,
    endpoint,
    stream: ctx.stream,
  };
  const prepared = passthrough
    ? preparePassthrough(adapter, input as typeof input & { endpoint: PassthroughEndpoint })
    : adapter.prepare(input as typeof input & { endpoint: Endpoint });
  if (!prepared.ok) return { ok: false, error: errors.fromAdapter(prepared.error) };
  return {
    ok: true,
    target: {
      model,
      view,
      provider: view.provider ?? 'unknown',
      upstreamModel,
      providerKeyName: pkv.display_name ?? undefined,
      adapter,
      prepared: prepared.request,
      deadlines: resolveDeadlines(view, group, rt.settings),
      dispatcher: rt.upstreams.forKey(ctx.snapshot, pk.id),
    },
  };
}

/**
 * The first value of a request header: node joins a repeated header into one ", "-separated
 * value, and `forward_client_headers` forwards only the first (data-plane §5.5).
 */
export function firstHeaderValue(req: IncomingMessage): (name: string) => string | undefined {
  return (name) => req.headersDistinct[name]?.[0];
}
