/**
 * One upstream attempt of the raw tunnel: send the caller's method, headers and bytes, and relay
 * the answer as it is (status, headers, body), piped with backpressure and never buffered, so an
 * SSE or chunked answer reaches the caller as it is produced. Non-2xx answers are relayed too:
 * the caller speaks the provider's own API and reads its own error shape.
 *
 * An upstream 5xx is the only answer not relayed when another attempt may follow (the caller
 * gets the last one). Deadlines: the request deadline bounds connect-to-headers; after the head
 * only the stream budget (the gap between chunks) applies, so long streams are not cut.
 * Failures before the head are attempt failures (504 timeout, 502 transport, in the gateway's
 * envelope); after it, the response can only be cut short.
 */
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { errors, retryAfterSeconds } from '../errors.js';
import { baseHeaders } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT } from '../upstream/client.js';
import type { Deadlines } from '../upstream/deadlines.js';
import { type AttemptResult, timeoutFailure, transportFailure } from '../upstream/failures.js';
import { relayedHeaders } from './headers.js';

export interface RawCall {
  readonly dispatcher: Dispatcher;
  readonly url: URL;
  readonly method: Dispatcher.HttpMethod;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** The key's `strip_headers` (also kept out of the relayed response). */
  readonly strip: readonly string[];
  readonly deadlines: Deadlines;
}

export async function relayRaw(
  rt: GatewayRuntime,
  ctx: RequestContext,
  call: RawCall,
  mayRetry: boolean,
): Promise<AttemptResult> {
  const ac = new AbortController();
  const headMs = call.deadlines.requestMs;
  let timer = headMs > 0 ? setTimeout(() => ac.abort(ABORT_TIMEOUT), headMs) : undefined;
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  let committed = false;
  try {
    const u = call.url;
    const r = await call.dispatcher.request({
      origin: u.origin,
      path: u.pathname + u.search,
      method: call.method,
      headers: call.headers,
      body: call.body.length > 0 ? call.body : null,
      signal: ac.signal,
    });
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (r.statusCode >= 500 && mayRetry) {
      await r.body.dump();
      const retryAfter = retryAfterSeconds(r.headers['retry-after']);
      return {
        ok: false,
        failure: {
          error: errors.upstream5xx(r.statusCode),
          retryable: true,
          timeout: false,
          status: r.statusCode,
          ...(retryAfter !== undefined ? { retryAfterMs: Number(retryAfter) * 1000 } : {}),
        },
      };
    }
    const gap = call.deadlines.streamMs;
    if (gap > 0) {
      const arm = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => r.body.destroy(new Error('upstream stream budget exceeded')), gap);
      };
      arm();
      r.body.on('data', arm);
    }
    committed = true;
    ctx.settled = true;
    if (r.statusCode >= 400) ctx.errorType = 'upstream_error';
    ctx.res.writeHead(r.statusCode, baseHeaders(ctx, rt.ident, relayedHeaders(r.headers, call.strip)));
    await pipeline(r.body, ctx.res);
    return { ok: true };
  } catch (err) {
    if (committed) {
      // Mid-body failure (upstream dropped, stream budget, client gone): cut short, not retried.
      if (!ac.signal.aborted || ac.signal.reason !== ABORT_CLIENT_GONE)
        rt.logger.warn({ request_id: ctx.id, cause: String(err) }, 'passthrough response cut short');
      ctx.res.destroy();
      return { ok: true };
    }
    if (ac.signal.aborted && ac.signal.reason === ABORT_TIMEOUT)
      return { ok: false, failure: timeoutFailure(headMs) };
    return { ok: false, failure: transportFailure(err) };
  } finally {
    if (timer) clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}
