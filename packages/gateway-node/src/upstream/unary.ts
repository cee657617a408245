/**
 * One non-streaming upstream attempt: send, read, and on success write the caller's response.
 * The request deadline is one timer per attempt that aborts the upstream call; a client that goes
 * away aborts it too. Error bodies are read up to 64 KiB and parsed with the adapter's wire parser.
 */
import type { Endpoint } from '@aisix/providers';
import { sendJson } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT, readCapped, sendUpstream } from './client.js';
import {
  type AttemptResult,
  decodeFailure,
  type RetryPolicy,
  statusFailure,
  timeoutFailure,
  transportFailure,
} from './failures.js';
import type { Target } from './target.js';

export const MAX_ERROR_BODY = 64 * 1024;

export async function callUnary(
  rt: GatewayRuntime,
  ctx: RequestContext,
  endpoint: Endpoint,
  t: Target,
  policy: RetryPolicy,
): Promise<AttemptResult> {
  const ac = new AbortController();
  const ms = t.deadlines.requestMs;
  const timer = ms > 0 ? setTimeout(() => ac.abort(ABORT_TIMEOUT), ms) : undefined;
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  try {
    const r = await sendUpstream(rt.agent, t.prepared, ac.signal);
    if (r.statusCode < 200 || r.statusCode >= 300) {
      const text = await readCapped(r.body, MAX_ERROR_BODY);
      const info = t.adapter.parseError(r.statusCode, text, r.headers);
      return { ok: false, failure: statusFailure(r.statusCode, info, r.headers['retry-after'], policy) };
    }
    const text = await r.body.text();
    const out = t.adapter.transformResponse(endpoint, text, ctx.requestedModel ?? '', t.prepared);
    if (!out.ok) return { ok: false, failure: decodeFailure(out.message) };
    ctx.usage = out.usage;
    const extra: Record<string, string> = { 'x-aisix-call-id': ctx.id };
    if (ctx.servedBy) extra['x-aisix-served-by'] = ctx.servedBy;
    sendJson(ctx, rt.ident, 200, out.body, extra);
    return { ok: true };
  } catch (err) {
    if (ac.signal.aborted && ac.signal.reason === ABORT_TIMEOUT)
      return { ok: false, failure: timeoutFailure(ms) };
    return { ok: false, failure: transportFailure(err) };
  } finally {
    if (timer) clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}
