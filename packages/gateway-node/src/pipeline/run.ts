/**
 * The one pipeline every model endpoint runs through (data-plane §2), in the reference order:
 * authenticate → read body (cap, deadline) → parse JSON (fatal UTF-8) → endpoint validation →
 * resolve model (aliases, wildcards) → `allowed_models` ACL → `allowed_cidrs` → the interceptors
 * that apply to the snapshot (guardrails; then the attempts planned, `planAttempts`; then limits
 * and cache: `lifecycle.ts`) → dispatch. Endpoints only describe their body rules.
 */
import { isUtf8 } from 'node:buffer';
import { NESTED_TOO_DEEP, nestedTooDeep, resolveModel } from '@aisix/core';
import type { Endpoint, IngressDialect, PassthroughEndpoint } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { drainBody, packetParsed, readArrivingBody, takeBufferedBody } from '../http/body.js';
import { sendError, sendSuccessBody, sendSuccessJson, sseHeaders } from '../http/respond.js';
import { apiKeyView, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { clientIp, ipAllowed, modelAllowed } from './access.js';
import { authenticateCaller } from './auth.js';
import type { RequestContext } from './context.js';
import { type AttemptPlan, type DispatchInput, dispatch, planAttempts } from './dispatch.js';
import type { Answer, Json } from './lifecycle.js';
import { concatLater, openScope, streamTap, tapJson } from './scopes.js';

export interface EndpointSpec {
  /** Passthrough endpoints (rerank, images, audio) dispatch through `upstream/passthrough.ts`. */
  readonly endpoint: Endpoint | PassthroughEndpoint;
  /** Endpoint-specific body rules beyond `model`; returns an error message detail or undefined. */
  validate(body: Record<string, unknown>): GatewayError | undefined;
  /** Whether `stream: true` is honoured. */
  readonly streams: boolean;
  /** Caller dialect other than OpenAI (`/v1/messages`, `/v1/responses`); the pipeline is the same. */
  readonly dialect?: IngressDialect;
  /** Body parser other than strict JSON (multipart routes); must yield a string `model`. */
  readonly parse?: (contentType: string | undefined, raw: Buffer) => Json | GatewayError;
  /** Cap for this route when the deployment sets none (buffered multipart uploads). */
  readonly fallbackBodyLimit?: number;
}

function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  const semi = ct.indexOf(';');
  const mime = (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

/** Strict parse: valid UTF-8, a JSON object, a string `model`, boolean `stream`. */
export function parseBody(contentType: string | undefined, raw: Buffer): Json | GatewayError {
  const r = parseBodyText(contentType, raw);
  return r instanceof GatewayError ? r : r.body;
}

/** `parseBody`, also giving the text the body was parsed from. */
function parseBodyText(
  contentType: string | undefined,
  raw: Buffer,
): { readonly body: Json; readonly text: string } | GatewayError {
  if (!isJsonContentType(contentType)) {
    return errors.badBody(
      contentType ? 'Content-Type must be application/json' : 'missing Content-Type: application/json',
    );
  }
  if (!isUtf8(raw)) return errors.badBody('the body is not valid UTF-8');
  const text = raw.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message quotes the body: it is not repeated (errors reach the access log).
    return errors.badBody('malformed JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return errors.badBody('the body must be a JSON object');
  }
  if (nestedTooDeep(parsed)) return errors.badBody(NESTED_TOO_DEEP);
  const body = parsed as Json;
  if (body.model === undefined) return errors.badBody('missing field `model`');
  // An empty name is a name like any other: it resolves to nothing, 404 (data-plane §2 step 3).
  if (typeof body.model !== 'string') return errors.badBody('`model` must be a string');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    return errors.badBody('`stream` must be a boolean');
  return { body, text };
}

/** The body read (cap, deadline) and parsed; undefined once an error has been answered. */
function parseRead(
  rt: GatewayRuntime,
  ctx: RequestContext,
  spec: EndpointSpec,
  raw: Buffer | GatewayError,
): Json | undefined {
  if (raw instanceof GatewayError) {
    sendError(ctx, rt.ident, raw);
    if (raw.status === 413) drainBody(ctx.req, (o) => rt.metrics.bodyLimitRejected(ctx.endpoint, o));
    else if (raw.status !== 408) drainBody(ctx.req);
    return undefined;
  }
  const ct = ctx.req.headers['content-type'];
  if (spec.parse !== undefined) {
    const body = spec.parse(ct, raw);
    if (!(body instanceof GatewayError)) return body;
    sendError(ctx, rt.ident, body);
    return undefined;
  }
  const r = parseBodyText(ct, raw);
  if (!(r instanceof GatewayError)) {
    ctx.rawBody = r;
    return r.body;
  }
  sendError(ctx, rt.ident, r);
  return undefined;
}

function readBodyOrError(
  rt: GatewayRuntime,
  ctx: RequestContext,
  limit: number,
): Promise<Buffer | GatewayError> {
  return readArrivingBody(ctx.req, limit, rt.bodyIdleMs).catch((e: unknown) => e as GatewayError);
}

export async function runModelEndpoint(
  rt: GatewayRuntime,
  ctx: RequestContext,
  spec: EndpointSpec,
): Promise<void> {
  if (rt.tracer !== undefined) ctx.trace = rt.tracer.startRequest(ctx);
  // An api key is answered at once: no promise to wait for.
  let key = authenticateCaller(rt, ctx);
  if (key instanceof Promise) key = await key;
  if (!key) return;
  const limit = rt.settings.bodyLimit || (spec.fallbackBodyLimit ?? 0);
  // Usually whole once the packet with the headers is parsed (see takeBufferedBody): no
  // listeners, idle timer or promise of its own then.
  let raw = takeBufferedBody(ctx.req, limit);
  if (raw === undefined) {
    await packetParsed;
    raw = takeBufferedBody(ctx.req, limit) ?? (await readBodyOrError(rt, ctx, limit));
  }
  const parsed = parseRead(rt, ctx, spec, raw);
  if (!parsed) return;
  const requested = parsed.model as string;
  ctx.requestedModel = requested;
  const invalid = spec.validate(parsed);
  if (invalid) return sendError(ctx, rt.ident, invalid);
  ctx.stream = spec.streams && parsed.stream === true;
  const resolved = resolveModel(ctx.snapshot, requested);
  if (!resolved) return sendError(ctx, rt.ident, errors.modelNotFound(requested));
  ctx.model = resolved.model;
  if (!modelAllowed(apiKeyView(key).allowed_models, requested)) {
    return sendError(ctx, rt.ident, errors.modelNotAllowed(requested));
  }
  const cidrs = modelView(resolved.model).allowed_cidrs;
  if (cidrs && cidrs.length > 0 && !ipAllowed(cidrs, clientIp(ctx.req, rt.realIp))) {
    return sendError(ctx, rt.ident, errors.ipRestricted());
  }
  let body: Json = parsed;
  const upstreamModel = resolved.upstreamModel ?? modelView(resolved.model).model_name;
  let input: DispatchInput | undefined;
  let plan: AttemptPlan | undefined;
  const active = rt.lifecycle.active(ctx.snapshot);
  for (let i = 0; i < active.length; i++) {
    // The client left while an earlier step waited (a remote scan, a shared store's round trip):
    // nothing more is taken for a request that has closed.
    if (ctx.closed) return;
    const a = active[i] as (typeof active)[number];
    const route = ctx.route;
    if (route === undefined) break;
    if (a.interceptor.afterPlan === true && input === undefined) {
      // data-plane §2: steps 8-9 (attempts, a direct model's target checked) before the limits.
      input = dispatchInput(spec, resolved.upstreamModel, body);
      const p = planAttempts(rt, ctx, input);
      if (p instanceof GatewayError) return sendError(ctx, rt.ident, p);
      plan = p;
    }
    let b = a.interceptor.begin(a.plan, { ctx, route, body, upstreamModel });
    if (b instanceof Promise) b = await b;
    if (b === undefined) continue;
    if (b.scope && !openScope(rt.logger, ctx, b.scope)) return;
    if (b.refuse) return sendError(ctx, rt.ident, b.refuse);
    if (b.body) body = b.body;
    if (b.answer) return answer(rt, ctx, b.answer);
  }
  ctx.body = body;
  // The plan holds targets prepared from the body it saw: kept only while that is the body.
  if (input === undefined || input.body !== body) {
    input = dispatchInput(spec, resolved.upstreamModel, body);
    plan = undefined;
  }
  await dispatch(rt, ctx, input, plan);
}

function dispatchInput(spec: EndpointSpec, upstreamModel: string | undefined, body: Json): DispatchInput {
  const so = body.stream_options as { include_usage?: unknown } | undefined;
  return {
    endpoint: spec.endpoint,
    body,
    forwardUsageChunk: so?.include_usage === true,
    upstreamModel,
    ...(spec.dialect ? { dialect: spec.dialect } : {}),
  };
}

/** An interceptor's answer (a cache hit), through the open scopes' taps like an upstream one. */
async function answer(rt: GatewayRuntime, ctx: RequestContext, a: Answer): Promise<void> {
  const scopes = ctx.scopes;
  if (a.kind === 'json') {
    const body = scopes === undefined ? a.body : await tapJson(rt.logger, ctx.id, scopes, a.body, undefined);
    if (body instanceof GatewayError) return sendError(ctx, rt.ident, body);
    ctx.outputJson = body; // what was served: finish reason and full-content exports read it
    return sendSuccessJson(ctx, rt.ident, body, Object.assign({}, a.headers));
  }
  const tap = scopes === undefined ? undefined : streamTap(rt.logger, ctx.id, scopes);
  const bytes = tap === undefined ? a.body : await concatLater(tap.push(a.body), tap.end());
  if (ctx.res.destroyed) return;
  ctx.sseServed = [bytes];
  sendSuccessBody(ctx, rt.ident, bytes, Object.assign(sseHeaders(), a.headers));
}
