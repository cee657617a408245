/**
 * One upstream call of the job APIs and the relay of its answer. One attempt, no retries, under
 * the Model's request deadline. The answer's status and content type are relayed, error bodies
 * included (the reference's behaviour on these routes; read whole up to 64 KiB, with the
 * credentials the call sent scrubbed out, `scrub.ts`); JSON object answers of the routes that
 * return a resource get their ids encoded for the serving Model (`ids.ts`); everything else is
 * piped through as it arrives (file content can be large). What is read whole (a rewritten
 * answer, or any answer while an output guardrail applies) is bounded by `heldLimit`: a larger
 * one is a 502 and its download is aborted, never relayed in part or unscanned.
 *
 * A transport failure or a timeout counts toward the Model's cooldown like a model endpoint's
 * attempt, and the caller gets the catalogue 502 / 504.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { prepareJobCall } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { answerTooLarge, GatewayError } from '../errors.js';
import type { CompiledGuardrail } from '../guardrails/compile.js';
import { sendError, successHeaders } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import { modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { adapterHttpFor } from '../upstream/authorize.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT, readCapped, readWhole } from '../upstream/client.js';
import { resolveDeadlines } from '../upstream/deadlines.js';
import { type AttemptFailure, timeoutFailure, transportFailure } from '../upstream/failures.js';
import { type SentRequest, scrubCredentials } from '../upstream/scrub.js';
import { firstHeaderValue, templateVars } from '../upstream/target.js';
import { MAX_ERROR_BODY } from '../upstream/unary.js';
import { closeAttemptTiming, noteProviderRequestId, openAttempt } from '../usage/attempts.js';
import { heldLimit, scan } from './guard.js';
import { rewriteIds } from './ids.js';
import type { JobTarget } from './target.js';

export interface JobCall {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Upstream path under the API root (ids already raw and guarded). */
  readonly path: string;
  readonly query: string;
  /** '' = no body. */
  readonly contentType: string;
  readonly body?: string | Readable;
  /** Encode the ids of a JSON object answer. */
  readonly rewrite: boolean;
  /** Aborts the call silently (the caller of `runJobCall` answers). */
  readonly signal?: AbortSignal;
  /**
   * Output guardrails: when any, the answer is read whole (up to `heldLimit`, else refused) and
   * scanned before it is relayed.
   */
  readonly outputGuards?: readonly CompiledGuardrail[];
}

const bad = (message: string) => new GatewayError(400, 'invalid_request_error', message);

/** The prepared upstream request, credentials included, or the 400 refusing it. */
async function prepare(rt: GatewayRuntime, ctx: RequestContext, t: JobTarget, call: JobCall) {
  const prepared = prepareJobCall(t.adapter, {
    method: call.method,
    path: call.path,
    query: call.query,
    contentType: call.contentType,
    providerKey: t.pkv,
    requestId: ctx.id,
    inboundHeaders: ctx.req.headers,
    inboundFirst: firstHeaderValue(ctx.req),
    templateVars: templateVars(ctx, t.model, modelView(t.model), t.pk.id, t.pkv),
    userAgent: rt.userAgent,
  });
  // Every refusal here is a configuration the operator must fix: 400, like the reference.
  if (!prepared.ok) return bad(prepared.error.message);
  const hook = t.adapter.authorize;
  if (hook === undefined) return prepared.request;
  try {
    const r = await hook.call(t.adapter, prepared.request, {
      providerKey: t.pkv,
      http: adapterHttpFor(rt.upstreams.forKey(ctx.snapshot, t.pk.id)),
      now: Date.now(),
    });
    return r.ok ? r.request : bad(r.error.message);
  } catch (err) {
    return transportFailure(err);
  }
}

function isJson(ct: string | undefined): boolean {
  const mime = (ct ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function fail(rt: GatewayRuntime, ctx: RequestContext, t: JobTarget, f: AttemptFailure): undefined {
  closeAttemptTiming(ctx, { ok: false, failure: f }, false);
  rt.health.recordFailure(t.model, f);
  if (f.detail !== undefined)
    rt.logger.warn({ request_id: ctx.id, model: t.alias, cause: f.detail }, 'job API upstream call failed');
  sendError(ctx, rt.ident, f.error);
  return undefined;
}

/**
 * Sends the call and relays the answer. Resolves to the relayed JSON text of a 2xx resource
 * answer (after rewriting; the batch usage attribution reads it), else undefined.
 */
export async function runJobCall(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: JobTarget,
  call: JobCall,
): Promise<string | undefined> {
  const p = await prepare(rt, ctx, t, call);
  if (p instanceof GatewayError) return void sendError(ctx, rt.ident, p);
  if (!('url' in p)) return fail(rt, ctx, t, p);
  const ms = resolveDeadlines(modelView(t.model), undefined, rt.settings).requestMs;
  const ac = new AbortController();
  const timer = ms > 0 ? setTimeout(() => ac.abort(ABORT_TIMEOUT), ms) : undefined;
  const external = call.signal;
  const onExternal = () => ac.abort(external?.reason);
  external?.addEventListener('abort', onExternal, { once: true });
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  ctx.attempts = 1;
  // Attempt records feed the usage events (provider key label, upstream latency, failure).
  if (rt.usage.active) ctx.attemptLog = [];
  openAttempt(ctx, {
    index: 0,
    kind: 'initial',
    model: t.model,
    upstreamModel: t.alias,
    provider: t.provider,
    providerKeyName: t.pkv.display_name,
  });
  let r: Dispatcher.ResponseData;
  try {
    r = await rt.upstreams.forKey(ctx.snapshot, t.pk.id).request({
      origin: p.url.origin,
      path: p.url.pathname + p.url.search,
      method: call.method,
      headers: p.headers,
      body: call.body ?? null,
      signal: ac.signal,
    });
  } catch (err) {
    clearTimeout(timer);
    external?.removeEventListener('abort', onExternal);
    ctx.onClientGone = undefined;
    if (external?.aborted) return void closeAttemptTiming(ctx, undefined, false);
    if (ac.signal.reason === ABORT_TIMEOUT) return fail(rt, ctx, t, timeoutFailure(ms));
    if (ac.signal.reason === ABORT_CLIENT_GONE) return void closeAttemptTiming(ctx, undefined, false);
    return fail(rt, ctx, t, transportFailure(err));
  }
  external?.removeEventListener('abort', onExternal);
  try {
    noteProviderRequestId(ctx, r.headers);
    return await relay(rt, ctx, call, r, t, p);
  } catch (err) {
    const res = ctx.res;
    if (res.headersSent || res.destroyed) {
      // Mid-body failure: the caller sees a truncated answer.
      rt.logger.warn({ request_id: ctx.id, cause: String(err) }, 'job API answer cut short');
      res.destroy();
      return undefined;
    }
    // The answer broke off while it was read whole (an error body, a held resource): nothing
    // was relayed yet, so the attempt fails like one that got no answer (502 / 504).
    if (external?.aborted || ac.signal.reason === ABORT_CLIENT_GONE)
      return void closeAttemptTiming(ctx, undefined, false);
    return fail(rt, ctx, t, ac.signal.reason === ABORT_TIMEOUT ? timeoutFailure(ms) : transportFailure(err));
  } finally {
    clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}

async function relay(
  rt: GatewayRuntime,
  ctx: RequestContext,
  call: JobCall,
  r: Dispatcher.ResponseData,
  t: JobTarget,
  sent: SentRequest,
): Promise<string | undefined> {
  const status = r.statusCode;
  const contentType = first(r.headers['content-type']) ?? 'application/json';
  const ok = status >= 200 && status < 300;
  // The attempt is answered once its answer is at hand: at the head when it is piped, after the
  // read when it is held (a body that breaks off before then is the attempt's failure).
  const answered = () => {
    closeAttemptTiming(ctx, undefined, true);
    if (ok) rt.health.recordSuccess(t.model.id);
    else {
      ctx.errorType = 'upstream_error';
      ctx.errorMessage = `upstream returned ${status}`;
    }
  };
  const res = ctx.res;
  if (res.headersSent || res.destroyed) {
    answered();
    // Discarded (bounded); a bare destroy() would emit an unhandled stream error.
    void r.body.dump().catch(() => undefined);
    return undefined;
  }
  // Relayed response headers: the content ones, and a 429's `Retry-After`.
  const head: Record<string, string> = { 'content-type': contentType };
  for (const h of ['content-disposition', 'retry-after'] as const) {
    const v = first(r.headers[h]);
    if (v !== undefined && (h !== 'retry-after' || status === 429)) head[h] = v;
  }
  const guards = call.outputGuards ?? [];
  const rewrite = call.rewrite && isJson(contentType);
  if (ok && guards.length === 0 && !rewrite) {
    answered();
    const length = first(r.headers['content-length']);
    if (length !== undefined) head['content-length'] = length;
    ctx.settled = true;
    res.writeHead(status, successHeaders(ctx, rt.ident, head));
    await pipeline(r.body, res);
    return undefined;
  }
  // An error body is relayed too, but never with the credentials this call sent (an upstream may
  // echo its `Authorization` or `api-key` in the message).
  const max = heldLimit(rt);
  const bytes = ok
    ? await readWhole(r, max)
    : Buffer.from(scrubCredentials(await readCapped(r.body, MAX_ERROR_BODY), sent));
  answered();
  if (bytes === undefined) {
    // Too large to hold: refused whole (never relayed unscanned), the download aborted.
    const why = guards.length > 0 ? 'scan it with output guardrails' : 'rewrite its ids';
    rt.logger.warn({ request_id: ctx.id, model: t.alias, max }, 'job API answer too large to hold');
    return void sendError(
      ctx,
      rt.ident,
      answerTooLarge(
        `the upstream answer is larger than ${max} bytes, the most the gateway holds to ${why}; it was not relayed`,
      ),
    );
  }
  // Lossy UTF-8 for the scan; the bytes relayed are the upstream's (ids rewritten).
  const blocked = await scan(rt, ctx, guards, bytes.toString('utf8'), 'output');
  if (blocked !== undefined) return void sendError(ctx, rt.ident, blocked);
  const text = rewrite ? bytes.toString('utf8') : undefined;
  const rewritten = text === undefined ? undefined : rewriteIds(text, t.alias);
  const body = rewritten === undefined ? bytes : Buffer.from(rewritten);
  head['content-length'] = String(body.length);
  ctx.settled = true;
  res.writeHead(status, successHeaders(ctx, rt.ident, head));
  res.end(body);
  return ok && text !== undefined ? (rewritten ?? text) : undefined;
}
