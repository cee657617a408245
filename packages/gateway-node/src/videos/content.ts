/**
 * The finished video of a proxy vendor (OpenAI): one GET with the provider credential, the
 * status checked before anything is written (an error is answered in the OpenAI envelope, never
 * as a body labelled video), then the bytes piped to the caller in constant memory. The stream
 * budget bounds connect-to-headers and every gap between chunks; a stall after the head can
 * only cut the transfer short (the caller sees a short read).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { successHeaders } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT } from '../upstream/client.js';
import { type Outcome, statusOutcome, thrownOutcome } from './call.js';
import type { VideoTarget } from './target.js';

/** One downloadable asset: OpenAI's `variant`, and its filename and default type here. */
export interface VideoAsset {
  readonly variant: string;
  readonly filename: string;
  readonly contentType: string;
  /** The caller named the variant: it is sent upstream. */
  readonly forward?: boolean;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export async function relayContent(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: VideoTarget,
  url: URL,
  asset: VideoAsset,
): Promise<Outcome<void>> {
  const ac = new AbortController();
  const ms = t.deadlines.streamMs;
  const timer = ms > 0 ? setTimeout(() => ac.abort(ABORT_TIMEOUT), ms) : undefined;
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  let committed = false;
  try {
    const headers = t.headers('content');
    const r = await rt.upstreams.forKey(ctx.snapshot, t.view.provider_key_id).request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'GET',
      headers,
      signal: ac.signal,
    });
    if (r.statusCode < 200 || r.statusCode >= 300) return await statusOutcome(r, { url, headers });
    const head: OutgoingHttpHeaders = {
      'content-type': first(r.headers['content-type']) ?? asset.contentType,
      'content-disposition': `attachment; filename="${asset.filename}"`,
    };
    const length = first(r.headers['content-length']);
    if (length !== undefined && /^\d+$/.test(length)) head['content-length'] = length;
    committed = true;
    ctx.settled = true;
    ctx.res.writeHead(200, successHeaders(ctx, rt.ident, head));
    // From here the timer is an idle timer: every chunk pushes the deadline back.
    if (timer) r.body.on('data', () => timer.refresh());
    await pipeline(r.body, ctx.res);
    return { ok: true, value: undefined };
  } catch (err) {
    if (committed) {
      rt.logger.warn(
        { request_id: ctx.id, provider: t.provider, timed_out: ac.signal.reason === ABORT_TIMEOUT },
        'video content transfer cut short',
      );
      ctx.res.destroy();
      return { ok: true, value: undefined };
    }
    return thrownOutcome(ac.signal, ms, err, false);
  } finally {
    if (timer) clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}
