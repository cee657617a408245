/**
 * `/passthrough/:provider/*rest` (data-plane §4.8): a raw tunnel to a provider's own API with the
 * provider key's credential. Order: authenticate the caller → read the body under the cap → pick
 * the first model of `:provider` the caller may use (`allowed_models`, `allowed_cidrs`) → build
 * the upstream request in the adapter (`prepareRaw`: base URL, credential per family) → relay
 * (`relay.ts`). Nothing is parsed, guarded, cached or counted in tokens: the bytes are the
 * caller's and the provider's. Retries follow the single-model rules (§8.3): the model's budget,
 * 5xx / timeout / transport only, never 429 or another 4xx, never after the head is written.
 */

import type { Resource } from '@aisix/core';
import type { Admission } from '@aisix/limits';
import {
  type AdapterError,
  type ProviderAdapter,
  type ProviderKeyView,
  prepareRaw,
  type RawInput,
} from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors, GatewayError } from '../errors.js';
import { drainBody, readBody } from '../http/body.js';
import { decodePathSegment } from '../http/path.js';
import { sendError } from '../http/respond.js';
import { clientIp, ipAllowed, modelAllowed } from '../pipeline/access.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import { limitPlan } from '../pipeline/limit-plan.js';
import { apiKeyView, modelKind, modelView, providerKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { adapterHttpFor } from '../upstream/authorize.js';
import { resolveDeadlines } from '../upstream/deadlines.js';
import { type AttemptFailure, backoffMs, retryAgain, retryBudget } from '../upstream/failures.js';
import { closeAttemptTiming, openAttempt } from '../usage/attempts.js';
import { forwardedHeaders } from './headers.js';
import { type RawCall, relayRaw } from './relay.js';

export const PASSTHROUGH_PREFIX = '/passthrough/';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const ALLOW = [...METHODS].join(', ');
const PROVIDER = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `:provider` (lower-case) and the raw rest of the path (forwarded as the caller encoded it);
 * undefined when the path has neither; a 400 when either does not percent-decode (data-plane §13
 * item 12: malformed path params are `invalid_request_error`).
 */
function splitPath(path: string): { provider: string; rest: string } | GatewayError | undefined {
  const slash = path.indexOf('/', PASSTHROUGH_PREFIX.length);
  if (slash === -1) return undefined;
  const raw = path.slice(PASSTHROUGH_PREFIX.length, slash);
  const rest = path.slice(slash + 1);
  const decoded = decodePathSegment(raw);
  if (decoded === undefined) return errors.malformedPathParam(raw);
  if (decodePathSegment(rest) === undefined) return errors.malformedPathParam(rest);
  const provider = decoded.toLowerCase();
  return PROVIDER.test(provider) ? { provider, rest } : undefined;
}

type Pick = { readonly model: Resource<'models'> } | GatewayError;

/** The first direct model of `provider` the caller may use (404 when none exists, else 403). */
function pickModel(rt: GatewayRuntime, ctx: RequestContext, provider: string): Pick {
  const allowed = apiKeyView(ctx.apiKey as Resource<'api_keys'>).allowed_models;
  let exists = false;
  let ipDenied = false;
  let ip: string | undefined | null = null;
  for (const m of ctx.snapshot.byId('models').values()) {
    const v = modelView(m);
    if (modelKind(v) !== 'direct' || v.provider?.toLowerCase() !== provider) continue;
    exists = true;
    if (!modelAllowed(allowed, v.display_name)) continue;
    if (v.allowed_cidrs && v.allowed_cidrs.length > 0) {
      if (ip === null) ip = clientIp(ctx.req, rt.realIp);
      if (!ipAllowed(v.allowed_cidrs, ip)) {
        ipDenied = true;
        continue;
      }
    }
    return { model: m };
  }
  if (!exists) return errors.passthroughProviderNotFound(provider);
  return ipDenied ? errors.ipRestricted() : errors.passthroughProviderNotAllowed(provider);
}

export async function runPassthrough(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  if (rt.tracer !== undefined) ctx.trace = rt.tracer.startRequest(ctx);
  const key = await authenticateCaller(rt, ctx);
  if (!key) return;
  const method = ctx.req.method ?? 'GET';
  if (!METHODS.has(method)) return sendError(ctx, rt.ident, errors.methodNotAllowed(ALLOW));
  const body = await readRawBody(rt, ctx);
  if (body === undefined) return;
  const parts = splitPath(ctx.path);
  if (parts === undefined) return sendError(ctx, rt.ident, errors.notFound());
  if (parts instanceof GatewayError) return sendError(ctx, rt.ident, parts);
  const picked = pickModel(rt, ctx, parts.provider);
  if (picked instanceof GatewayError) return sendError(ctx, rt.ident, picked);
  const model = picked.model;
  const view = modelView(model);
  ctx.model = model;
  ctx.requestedModel = view.display_name;
  ctx.provider = view.provider;
  ctx.upstreamModel = view.model_name;
  const pk = ctx.snapshot.byId('provider_keys').get(view.provider_key_id ?? '');
  if (!pk)
    return sendError(ctx, rt.ident, errors.unknownProviderKey(view.display_name, view.provider_key_id ?? ''));
  const pkv = providerKeyView(pk);
  const strip = pk.value.strip_headers ?? [];
  const adapter = rt.registry.resolve(pkv);
  const prepared = prepareRaw(adapter, rawInput(ctx, pkv, strip, parts, method, body));
  if (!prepared.ok) return sendError(ctx, rt.ident, errors.fromAdapter(prepared.error));
  const admitted = await admit(rt, ctx, key, model);
  if (admitted instanceof GatewayError) return sendError(ctx, rt.ident, admitted);
  try {
    const dispatcher = rt.upstreams.forKey(ctx.snapshot, pk.id);
    let headers = prepared.headers;
    if (prepared.authorize && adapter?.authorize) {
      const auth = await authorizeRaw(
        adapter.authorize.bind(adapter),
        prepared.url,
        headers,
        pkv,
        dispatcher,
      );
      if (auth instanceof GatewayError) return sendError(ctx, rt.ident, auth);
      headers = auth;
    }
    const call: RawCall = {
      dispatcher,
      url: prepared.url,
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      strip,
      deadlines: resolveDeadlines(view, undefined, rt.settings),
    };
    await attempts(rt, ctx, call, pkv.display_name);
  } finally {
    // Held for the whole exchange (concurrency counts it); raw bytes carry no token count.
    if (admitted !== undefined) void admitted.commit(0);
  }
}

/** The body under the cap; undefined when it was refused (the answer is written). */
async function readRawBody(rt: GatewayRuntime, ctx: RequestContext): Promise<Buffer | undefined> {
  try {
    return await readBody(ctx.req, rt.settings.bodyLimit, rt.bodyIdleMs);
  } catch (e) {
    const err = e as GatewayError;
    sendError(ctx, rt.ident, err);
    if (err.status === 413) drainBody(ctx.req, (o) => rt.metrics.bodyLimitRejected(ctx.endpoint, o));
    else if (err.status !== 408) drainBody(ctx.req);
    return undefined;
  }
}

function rawInput(
  ctx: RequestContext,
  pkv: ProviderKeyView,
  strip: readonly string[],
  parts: { readonly provider: string; readonly rest: string },
  method: string,
  body: Buffer,
): RawInput {
  const url = ctx.req.url ?? '';
  const q = url.indexOf('?');
  return {
    providerKey: pkv,
    provider: parts.provider,
    method,
    rest: parts.rest,
    query: q === -1 ? '' : url.slice(q),
    headers: forwardedHeaders(ctx.req.headers, strip),
    body,
    requestId: ctx.id,
    now: Date.now(),
  };
}

/**
 * The request-level rate limits of the caller key, the chosen model and the policies that apply
 * (the model pipeline's layers), acquired for the whole exchange; undefined when none apply.
 */
async function admit(
  rt: GatewayRuntime,
  ctx: RequestContext,
  key: Resource<'api_keys'>,
  model: Resource<'models'>,
): Promise<Admission | GatewayError | undefined> {
  const plan = limitPlan(ctx.snapshot);
  if (plan === undefined) return undefined;
  const k = apiKeyView(key);
  const buckets = plan.requestBuckets({
    apiKeyId: key.id,
    team: k.team_id,
    member: k.user_id,
    requestedName: modelView(model).display_name,
    model: plan.modelFacts(model),
  });
  if (buckets.length === 0) return undefined;
  const r = await rt.limiter.acquire(buckets);
  if (r.ok) return r.admission;
  rt.metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
  return errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy);
}

type Authorize = NonNullable<ProviderAdapter['authorize']>;

/** The credential header an adapter mints (Entra ID, Vertex service accounts), on the raw headers. */
async function authorizeRaw(
  authorize: Authorize,
  url: URL,
  headers: Record<string, string>,
  pkv: ProviderKeyView,
  dispatcher: Dispatcher,
): Promise<Record<string, string> | GatewayError> {
  try {
    const r = await authorize(
      { url, headers, body: '' },
      { providerKey: pkv, http: adapterHttpFor(dispatcher), now: Date.now() },
    );
    return r.ok ? r.request.headers : errors.fromAdapter(r.error as AdapterError);
  } catch {
    return errors.transport();
  }
}

async function attempts(
  rt: GatewayRuntime,
  ctx: RequestContext,
  call: RawCall,
  providerKeyName: string | undefined,
): Promise<void> {
  const model = ctx.model as Resource<'models'>;
  const own = modelView(model).retries;
  const budget = retryBudget(own, rt.settings.retries);
  let last: AttemptFailure | undefined;
  for (let attempt = 0; ; attempt++) {
    ctx.attempts++;
    openAttempt(ctx, {
      index: attempt,
      kind: attempt > 0 ? 'retry' : 'initial',
      model,
      upstreamModel: ctx.upstreamModel ?? '',
      provider: ctx.provider ?? 'unknown',
      providerKeyName,
    });
    const r = await relayRaw(rt, ctx, call, attempt < budget.n);
    closeAttemptTiming(ctx, r, r.ok);
    if (r.ok || ctx.res.destroyed || ctx.res.headersSent) return;
    last = r.failure;
    if (last.detail)
      rt.logger.warn(
        { request_id: ctx.id, provider: ctx.provider, cause: last.detail },
        'passthrough attempt failed',
      );
    if (!retryAgain(last, attempt, budget)) break;
    await sleep(backoffMs(attempt + 1, last.retryAfterMs));
    if (ctx.res.destroyed) return;
  }
  sendError(ctx, rt.ident, last.error);
}
