/**
 * The one pipeline every model endpoint runs through (data-plane §2), in the reference order:
 * authenticate → read body (cap, deadline) → parse JSON (fatal UTF-8) → endpoint validation →
 * resolve model (aliases, wildcards) → `allowed_models` ACL → `allowed_cidrs` → pipeline stages
 * (limits, guardrails, cache plug in here) → dispatch. Endpoints only describe their body rules.
 */
import { isUtf8 } from 'node:buffer';
import { resolveModel } from '@aisix/core';
import type { Endpoint, IngressDialect, PassthroughEndpoint } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { drainBody, readBody } from '../http/body.js';
import { sendError } from '../http/respond.js';
import { apiKeyView, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { clientIp, ipAllowed, modelAllowed } from './access.js';
import { authenticate } from './auth.js';
import type { RequestContext } from './context.js';
import { dispatch } from './dispatch.js';

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

type Json = Record<string, unknown>;

function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  const semi = ct.indexOf(';');
  const mime = (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

/** Strict parse: valid UTF-8, a JSON object, a non-empty string `model`, boolean `stream`. */
export function parseBody(contentType: string | undefined, raw: Buffer): Json | GatewayError {
  if (!isJsonContentType(contentType)) return errors.invalidBody();
  if (!isUtf8(raw)) return errors.invalidBody();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return errors.invalidBody();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return errors.invalidBody();
  const body = parsed as Json;
  if (typeof body.model !== 'string' || body.model === '') return errors.invalidBody();
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    return errors.invalidBody();
  return body;
}

async function readAndParse(
  rt: GatewayRuntime,
  ctx: RequestContext,
  spec: EndpointSpec,
): Promise<Json | undefined> {
  let raw: Buffer;
  try {
    raw = await readBody(ctx.req, rt.settings.bodyLimit || (spec.fallbackBodyLimit ?? 0), rt.bodyIdleMs);
  } catch (e) {
    const err = e as GatewayError;
    sendError(ctx, rt.ident, err);
    if (err.status === 413) drainBody(ctx.req, (o) => rt.metrics.bodyLimitRejected(ctx.endpoint, o));
    else if (err.status !== 408) drainBody(ctx.req);
    return undefined;
  }
  const body = (spec.parse ?? parseBody)(ctx.req.headers['content-type'], raw);
  if (!(body instanceof GatewayError)) return body;
  sendError(ctx, rt.ident, body);
  return undefined;
}

export async function runModelEndpoint(
  rt: GatewayRuntime,
  ctx: RequestContext,
  spec: EndpointSpec,
): Promise<void> {
  if (rt.tracer !== undefined) ctx.trace = rt.tracer.startRequest(ctx);
  const auth = authenticate(ctx.req.headers, ctx.snapshot, Date.now());
  if (!auth.ok) {
    rt.metrics.authDenied(auth.reason);
    ctx.skipAccessLog = true;
    if (auth.reason === 'key_disabled' || auth.reason === 'key_expired') {
      rt.logger.warn({ request_id: ctx.id, reason: auth.reason }, 'caller key rejected');
    }
    return sendError(ctx, rt.ident, auth.error);
  }
  rt.metrics.authAllowed();
  ctx.apiKey = auth.key;
  const body = await readAndParse(rt, ctx, spec);
  if (!body) return;
  const requested = body.model as string;
  ctx.requestedModel = requested;
  const invalid = spec.validate(body);
  if (invalid) return sendError(ctx, rt.ident, invalid);
  ctx.stream = spec.streams && body.stream === true;
  const resolved = resolveModel(ctx.snapshot, requested);
  if (!resolved) return sendError(ctx, rt.ident, errors.modelNotFound(requested));
  ctx.model = resolved.model;
  if (!modelAllowed(apiKeyView(auth.key).allowed_models, requested)) {
    return sendError(ctx, rt.ident, errors.modelNotAllowed(requested));
  }
  const cidrs = modelView(resolved.model).allowed_cidrs;
  if (cidrs && cidrs.length > 0 && !ipAllowed(cidrs, clientIp(ctx.req, rt.realIp))) {
    return sendError(ctx, rt.ident, errors.ipRestricted());
  }
  for (const stage of rt.stages) {
    const refused = await stage(ctx, body);
    if (refused) return sendError(ctx, rt.ident, refused);
  }
  const so = body.stream_options as { include_usage?: unknown } | undefined;
  await dispatch(rt, ctx, {
    endpoint: spec.endpoint,
    body,
    forwardUsageChunk: so?.include_usage === true,
    upstreamModel: resolved.upstreamModel,
    ...(spec.dialect ? { dialect: spec.dialect } : {}),
  });
}
