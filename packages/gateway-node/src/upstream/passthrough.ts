/**
 * One upstream attempt for a passthrough endpoint (rerank, image generations, audio): send the
 * prepared request (or, for multipart routes, the caller's bytes with the `model` part
 * rewritten), and relay a 2xx answer as it is: status, content type and bytes.
 *
 * - JSON answers (rerank, images, JSON transcriptions) are read whole, like `unary.ts`, so their
 *   `usage` can be counted; the bytes sent are the upstream's, unchanged.
 * - Anything else (speech audio, text/srt/vtt transcripts, SSE speech) is piped to the caller as
 *   it arrives, with backpressure.
 * - Failures before the head is written are ordinary attempt failures (same mapping and retry
 *   rules as every endpoint: 4xx passthrough, 5xx → 502, deadline → 504). After the head, a
 *   failure can only cut the response short.
 *
 * The request deadline spans the whole attempt, body included. Upstream response headers are not
 * copied except the content ones (`Server` and the request id are always the gateway's).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { emptyUsage, isMultipartEndpoint, type PassthroughEndpoint, type Usage } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors } from '../errors.js';
import { multipartPayload } from '../http/multipart.js';
import { successHeaders } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT, readCapped, sendUpstream } from './client.js';
import {
  type AttemptResult,
  clientGoneFailure,
  type RetryPolicy,
  statusFailure,
  timeoutFailure,
  transportFailure,
} from './failures.js';
import { scrubCredentials } from './scrub.js';
import type { Target } from './target.js';
import { MAX_ERROR_BODY } from './unary.js';

/** Content-Length after Content-Disposition, for node:http (see `relayedHeaders`). */
const COPIED = ['content-type', 'content-encoding', 'content-disposition', 'content-length'] as const;

function isJson(ct: string | undefined): boolean {
  const mime = (ct ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/** `usage` of OpenAI-wire JSON answers: chat-style or `input/output_tokens` (images, audio). */
export function passthroughUsage(text: string): Usage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const u = (parsed as { usage?: unknown } | null)?.usage;
  if (u === null || typeof u !== 'object') return undefined;
  const r = u as Record<string, unknown>;
  const usage = emptyUsage();
  usage.prompt_tokens = num(r.prompt_tokens) || num(r.input_tokens);
  usage.completion_tokens = num(r.completion_tokens) || num(r.output_tokens);
  usage.total_tokens = num(r.total_tokens) || usage.prompt_tokens + usage.completion_tokens;
  return usage;
}

export async function callPassthrough(
  rt: GatewayRuntime,
  ctx: RequestContext,
  endpoint: PassthroughEndpoint,
  t: Target,
  policy: RetryPolicy,
  body: Readonly<Record<string, unknown>>,
): Promise<AttemptResult> {
  let payload: string | Buffer = t.prepared.body;
  if (isMultipartEndpoint(endpoint)) {
    const bytes = multipartPayload(body, t.upstreamModel);
    if (!bytes) {
      return {
        ok: false,
        failure: {
          error: errors.configError('model_name cannot be written into a multipart body'),
          retryable: false,
          timeout: false,
        },
      };
    }
    payload = bytes;
  }
  const ac = new AbortController();
  const ms = t.deadlines.requestMs;
  const timer = ms > 0 ? setTimeout(() => ac.abort(ABORT_TIMEOUT), ms) : undefined;
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  let committed = false;
  let upstreamFailed = false;
  try {
    const r = await sendUpstream(t.dispatcher, t.prepared, ac.signal, payload);
    if (r.statusCode < 200 || r.statusCode >= 300) {
      const text = await readCapped(r.body, MAX_ERROR_BODY);
      const info = t.adapter.parseError(r.statusCode, scrubCredentials(text, t.prepared), r.headers);
      return { ok: false, failure: statusFailure(r.statusCode, info, r.headers['retry-after'], policy) };
    }
    const head = headersFrom(r.headers);
    const res = ctx.res;
    if (isJson(head['content-type'] as string | undefined)) {
      const bytes = Buffer.from(await r.body.arrayBuffer());
      ctx.usage = passthroughUsage(bytes.toString('utf8'));
      head['content-length'] = bytes.length;
      committed = true;
      ctx.settled = true;
      res.writeHead(r.statusCode, successHeaders(ctx, rt.ident, head));
      res.end(bytes);
      return { ok: true };
    }
    committed = true;
    ctx.settled = true;
    res.writeHead(r.statusCode, successHeaders(ctx, rt.ident, head));
    // Whose failure cuts the body short: the upstream's (it errors before anything aborted the
    // call) or the caller's (it left, which aborts the call first).
    r.body.once('error', () => {
      upstreamFailed ||= !ac.signal.aborted;
    });
    await pipeline(r.body, res);
    return { ok: true };
  } catch (err) {
    if (committed) {
      // Mid-body failure: the caller sees a truncated response; nothing can be retried. A
      // timeout or an upstream failure is still the target's failed attempt (data-plane §8.6);
      // a caller who left is not.
      rt.logger.warn({ request_id: ctx.id, cause: String(err) }, 'passthrough response cut short');
      ctx.res.destroy();
      if (ac.signal.aborted && ac.signal.reason === ABORT_TIMEOUT)
        return { ok: false, failure: timeoutFailure(ms), committed: true };
      if (upstreamFailed) return { ok: false, failure: transportFailure(err), committed: true };
      return { ok: true };
    }
    if (ac.signal.aborted && ac.signal.reason === ABORT_TIMEOUT)
      return { ok: false, failure: timeoutFailure(ms) };
    if (ac.signal.aborted && ac.signal.reason === ABORT_CLIENT_GONE)
      return { ok: false, failure: clientGoneFailure() };
    return { ok: false, failure: transportFailure(err) };
  } finally {
    if (timer) clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}

function headersFrom(h: Dispatcher.ResponseData['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of COPIED) {
    const v = h[name];
    const s = Array.isArray(v) ? v[0] : v;
    if (s !== undefined) out[name] = s;
  }
  out['content-type'] ??= 'application/octet-stream';
  return out;
}
