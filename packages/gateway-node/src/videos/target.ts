/**
 * The provider side of one video request: the Model's vendor, its provider key, the vendor URLs
 * for that key's `api_base`, the headers of each call and the deadlines. Built before any I/O,
 * so configuration faults (unknown provider key, missing base URL, unusable credential) answer
 * 400 without an upstream call.
 */
import type { Resource } from '@aisix/core';
import { type VideoUrls, type VideoVendor, videoHeaders, videoUrls } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { type ModelView, providerKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { type Deadlines, resolveDeadlines } from '../upstream/deadlines.js';
import { firstHeaderValue, templateVars } from '../upstream/target.js';

export interface VideoTarget {
  readonly model: Resource<'models'>;
  readonly view: ModelView;
  readonly vendor: VideoVendor;
  /** The Model's `provider` (telemetry label). */
  readonly provider: string;
  readonly upstreamModel: string;
  readonly providerKeyName: string | undefined;
  readonly urls: VideoUrls;
  readonly deadlines: Deadlines;
  headers(phase: 'submit' | 'poll' | 'content'): Record<string, string>;
}

const config = (message: string) => new GatewayError(400, 'invalid_request_error', message);

export function videoTarget(
  rt: GatewayRuntime,
  ctx: RequestContext,
  model: Resource<'models'>,
  view: ModelView,
  vendor: VideoVendor,
  upstreamModel: string,
): VideoTarget | GatewayError {
  const pkId = view.provider_key_id ?? '';
  const pk = ctx.snapshot.byId('provider_keys').get(pkId);
  if (!pk) return errors.unknownProviderKey(view.display_name, pkId);
  const pkv = providerKeyView(pk);
  const urls = videoUrls(vendor, pkv.api_base);
  if (!urls.ok) return config(urls.message);
  const input = {
    providerKey: pkv,
    requestId: ctx.id,
    userAgent: rt.userAgent,
    templateVars: pkv.request?.default_headers
      ? templateVars(ctx, model, view, pk.id, pkv)
      : { 'request.id': ctx.id },
    inboundHeaders: ctx.req.headers,
    inboundFirst: firstHeaderValue(ctx.req),
  };
  // The credential is checked once here; the per-phase header sets reuse the same inputs.
  const probe = videoHeaders(vendor, 'poll', input);
  if (!probe.ok) return config(probe.message);
  return {
    model,
    view,
    vendor,
    provider: view.provider ?? vendor.id,
    upstreamModel,
    providerKeyName: pkv.display_name ?? undefined,
    urls: urls.value,
    deadlines: resolveDeadlines(view, undefined, rt.settings),
    headers: (phase) => {
      const h = phase === 'poll' ? probe : videoHeaders(vendor, phase, input);
      return h.ok ? { ...h.value } : {};
    },
  };
}
