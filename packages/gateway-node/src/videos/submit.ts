/**
 * `POST /v1/videos`: submit a generation task. The body is JSON or multipart/form-data (the
 * official OpenAI SDK sends a form); `model` and `prompt` are required, `seconds` (integer or
 * numeric string) and `size` (`WIDTHxHEIGHT`) optional, anything else ignored. Checks run in
 * the contract's order — body, model, field values, access, provider, provider key — then the
 * request interceptors (input guardrails on the prompt, rate limits with the model layer), and
 * only then one provider task is started. The answer is a video object whose id encodes where
 * the task lives (`id.ts`), so polls need no state.
 */
import { resolveModel } from '@aisix/core';
import { type VideoSubmit, videoVendor } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { drainBody, readBody } from '../http/body.js';
import { multipartBoundary, parseMultipart } from '../http/multipart.js';
import { sendError, sendSuccessJson } from '../http/respond.js';
import { clientIp, ipAllowed, modelAllowed } from '../pipeline/access.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import type { Json } from '../pipeline/lifecycle.js';
import { parseBody } from '../pipeline/run.js';
import { openScope } from '../pipeline/scopes.js';
import { apiKeyView, modelKind, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { callJson, withRetries } from './call.js';
import { encodeVideoId } from './id.js';
import { providerNotSupported, type VideoObject } from './object.js';
import { videoTarget } from './target.js';

const SIZE = /^(\d{1,5})x(\d{1,5})$/;

async function readSubmit(rt: GatewayRuntime, ctx: RequestContext): Promise<Json | GatewayError> {
  let raw: Buffer;
  try {
    raw = await readBody(ctx.req, rt.settings.bodyLimit, rt.bodyIdleMs);
  } catch (e) {
    const err = e instanceof GatewayError ? e : errors.bodyReadFailed();
    if (err.status === 413) drainBody(ctx.req, (o) => rt.metrics.bodyLimitRejected(ctx.endpoint, o));
    else if (err.status !== 408) drainBody(ctx.req);
    return err;
  }
  const ct = ctx.req.headers['content-type'];
  const body = multipartBoundary(ct) !== undefined ? parseMultipart(ct, raw) : parseBody(ct, raw);
  if (body instanceof GatewayError) return body;
  if (body.prompt === undefined) return errors.badBody('missing field `prompt`');
  if (typeof body.prompt !== 'string') return errors.badBody('`prompt` must be a string');
  return body;
}

/** `seconds` as a positive integer (undefined when absent), or the 400. */
function secondsOf(v: unknown): number | undefined | GatewayError {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) return errors.invalidBody('`seconds` must be a positive integer');
  return n;
}

function sizeOf(v: unknown): VideoSubmit['size'] | GatewayError {
  if (v === undefined || v === null) return undefined;
  const m = typeof v === 'string' ? SIZE.exec(v) : null;
  // A zero dimension (`0x0`, `00000x720`) fits the digit pattern but names no frame.
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || width === 0 || height === 0)
    return errors.invalidBody('`size` must be WIDTHxHEIGHT, positive, 1-5 digits each (e.g. 1280x720)');
  return { width, height };
}

export async function runVideoSubmit(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  if (rt.tracer !== undefined) ctx.trace = rt.tracer.startRequest(ctx);
  const key = await authenticateCaller(rt, ctx);
  if (!key) return;
  const parsed = await readSubmit(rt, ctx);
  if (parsed instanceof GatewayError) return sendError(ctx, rt.ident, parsed);
  const requested = parsed.model as string;
  ctx.requestedModel = requested;
  const resolved = resolveModel(ctx.snapshot, requested);
  if (!resolved) return sendError(ctx, rt.ident, errors.modelNotFound(requested));
  const seconds = secondsOf(parsed.seconds);
  if (seconds instanceof GatewayError) return sendError(ctx, rt.ident, seconds);
  if ((parsed.prompt as string).trim() === '')
    return sendError(ctx, rt.ident, errors.invalidBody('`prompt` must not be blank'));
  // Validated with the other fields, before any quota is taken (open point AJ-14).
  const size = sizeOf(parsed.size);
  if (size instanceof GatewayError) return sendError(ctx, rt.ident, size);
  const model = resolved.model;
  ctx.model = model;
  if (!modelAllowed(apiKeyView(key).allowed_models, requested))
    return sendError(ctx, rt.ident, errors.modelNotAllowed(requested));
  const view = modelView(model);
  const cidrs = view.allowed_cidrs;
  if (cidrs && cidrs.length > 0 && !ipAllowed(cidrs, clientIp(ctx.req, rt.realIp)))
    return sendError(ctx, rt.ident, errors.ipRestricted());
  if (modelKind(view) !== 'direct')
    return sendError(
      ctx,
      rt.ident,
      errors.invalidBody(`model ${JSON.stringify(view.display_name)} cannot serve this endpoint`),
    );
  const vendor = videoVendor(view.provider);
  if (vendor === undefined) {
    ctx.usageEvents = false;
    return sendError(ctx, rt.ident, providerNotSupported(view.provider ?? ''));
  }
  const upstreamModel = resolved.upstreamModel ?? view.model_name ?? '';
  const t = videoTarget(rt, ctx, model, view, vendor, upstreamModel);
  if (t instanceof GatewayError) return sendError(ctx, rt.ident, t);
  const body = await intercept(rt, ctx, parsed, upstreamModel);
  if (body === undefined) return;
  rt.exporters.sync(ctx.snapshot);
  if (rt.usage.active) ctx.attemptLog = [];
  const submit: VideoSubmit = {
    model: upstreamModel,
    // A guardrail may have masked the prompt.
    prompt: typeof body.prompt === 'string' ? body.prompt : (parsed.prompt as string),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(size !== undefined ? { size } : {}),
  };
  const payload = JSON.stringify(vendor.body(submit));
  const r = await withRetries(rt, ctx, t, false, () =>
    callJson(rt, ctx, t, 'POST', t.urls.submit, payload, (doc) => vendor.parseSubmit(doc)),
  );
  if (r === undefined) return;
  if (!r.ok) return sendError(ctx, rt.ident, r.error);
  const task = r.value;
  const video: VideoObject = {
    id: encodeVideoId({ modelId: model.id, requestedName: requested, taskId: task.taskId }),
    object: 'video',
    model: requested,
    status: task.status,
    progress: task.status === 'completed' ? 100 : 0,
    created_at: Math.floor(Date.now() / 1000),
    ...(seconds !== undefined ? { seconds: String(seconds) } : {}),
    ...(typeof parsed.size === 'string' ? { size: parsed.size } : {}),
  };
  sendSuccessJson(ctx, rt.ident, JSON.stringify(video));
}

/**
 * The request interceptors that apply to this snapshot, in order (as the model pipeline runs
 * them): a refusal is answered here (undefined returned); otherwise the body they leave.
 */
async function intercept(
  rt: GatewayRuntime,
  ctx: RequestContext,
  parsed: Json,
  upstreamModel: string,
): Promise<Json | undefined> {
  const route = ctx.route;
  let body = parsed;
  if (route === undefined) return body;
  for (const a of rt.lifecycle.active(ctx.snapshot)) {
    if (ctx.closed) return undefined; // the client left while an earlier step waited
    let b = a.interceptor.begin(a.plan, { ctx, route, body, upstreamModel });
    if (b instanceof Promise) b = await b;
    if (b === undefined) continue;
    if (b.scope && !openScope(rt.logger, ctx, b.scope)) return undefined;
    if (b.refuse) {
      sendError(ctx, rt.ident, b.refuse);
      return undefined;
    }
    if (b.body) body = b.body;
  }
  ctx.body = body;
  return body;
}
