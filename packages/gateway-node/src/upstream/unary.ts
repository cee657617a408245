/**
 * One non-streaming upstream attempt: send, read, and on success write the caller's response.
 * The request deadline is one timer per attempt that aborts the upstream call; a client that goes
 * away aborts it too. Error bodies are read up to 64 KiB and parsed with the adapter's wire parser.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../errors.js';
import { sendError, sendSuccessJson } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import { tapJson } from '../pipeline/scopes.js';
import type { GatewayRuntime } from '../runtime.js';
import { noteProviderRequestId } from '../usage/attempts.js';
import {
  ABORT_CLIENT_GONE,
  ABORT_TIMEOUT,
  type AbortReason,
  dispatchOptions,
  UpstreamCall,
} from './client.js';
import {
  type AttemptResult,
  clientGoneFailure,
  decodeFailure,
  inBandFailure,
  type RetryPolicy,
  statusFailure,
  timeoutFailure,
  translatorThrew,
  transportFailure,
} from './failures.js';
import { scrubCredentials } from './scrub.js';
import type { Target } from './target.js';

export const MAX_ERROR_BODY = 64 * 1024;

interface UnaryResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** UTF-8 text: the whole 2xx body (a leading BOM skipped), or at most MAX_ERROR_BODY bytes. */
  readonly text: string;
}

/** Collects one whole upstream answer; `response` settles once (abort and errors reject). */
class UnaryCall extends UpstreamCall {
  readonly response: Promise<UnaryResponse>;
  private resolve: (r: UnaryResponse) => void = () => {};
  private reject: (err: unknown) => void = () => {};
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private cap = Number.POSITIVE_INFINITY;

  constructor() {
    super();
    this.response = new Promise<UnaryResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  protected aborted(reason: AbortReason): void {
    this.settled = true;
    this.reject(reason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    if (statusCode >= 300) this.cap = MAX_ERROR_BODY;
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const room = this.cap - this.size;
    if (chunk.length >= room) {
      // Error body over the cap: keep the head of it and drop the connection.
      this.chunks.push(chunk.subarray(0, room));
      this.size = this.cap;
      this.finish();
      c.abort(new Error('upstream error body too large'));
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    if (!this.settled) this.finish();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  private finish(): void {
    this.settled = true;
    const n = this.chunks.length;
    const buf = n === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    const ok = this.status >= 200 && this.status < 300;
    // As undici's `body.text()` for the answer (BOM skipped); error bodies as they are.
    const start = ok && buf.length > 2 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
    const text = n === 0 ? '' : buf.toString('utf8', start);
    this.resolve({ status: this.status, headers: this.headers, text });
  }
}

export async function callUnary(
  rt: GatewayRuntime,
  ctx: RequestContext,
  endpoint: Endpoint,
  t: Target,
  policy: RetryPolicy,
): Promise<AttemptResult> {
  const call = new UnaryCall();
  const ms = t.deadlines.requestMs;
  const timer = ms > 0 ? setTimeout(() => call.abort(ABORT_TIMEOUT), ms) : undefined;
  ctx.onClientGone = () => call.abort(ABORT_CLIENT_GONE);
  try {
    t.dispatcher.dispatch(dispatchOptions(t.prepared), call);
    const r = await call.response;
    noteProviderRequestId(ctx, r.headers);
    if (r.status < 200 || r.status >= 300) {
      const info = t.adapter.parseError(r.status, scrubCredentials(r.text, t.prepared), r.headers);
      return { ok: false, failure: statusFailure(r.status, info, r.headers['retry-after'], policy) };
    }
    let out: ReturnType<typeof t.adapter.transformResponse>;
    try {
      out = t.adapter.transformResponse(endpoint, r.text, ctx.requestedModel ?? '', t.prepared);
    } catch (err) {
      return { ok: false, failure: translatorThrew(err) };
    }
    if (!out.ok) {
      const failure = out.error
        ? inBandFailure({ ...out.error, message: scrubCredentials(out.error.message, t.prepared) }, policy)
        : decodeFailure(scrubCredentials(out.message, t.prepared));
      return { ok: false, failure };
    }
    ctx.usage = out.usage;
    const scopes = ctx.scopes;
    let body =
      scopes === undefined ? out.body : tapJson(rt.logger, ctx.id, scopes, out.body, out.usage, out.value);
    if (body instanceof Promise) body = await body;
    // A tap's refusal (an output guardrail) is the final answer: the upstream call succeeded.
    if (body instanceof GatewayError) sendError(ctx, rt.ident, body);
    else {
      ctx.outputJson = body;
      sendSuccessJson(ctx, rt.ident, body);
    }
    return { ok: true };
  } catch (err) {
    if (call.reason === ABORT_TIMEOUT) return { ok: false, failure: timeoutFailure(ms) };
    if (call.reason === ABORT_CLIENT_GONE) return { ok: false, failure: clientGoneFailure() };
    return { ok: false, failure: transportFailure(err) };
  } finally {
    if (timer) clearTimeout(timer);
    ctx.onClientGone = undefined;
  }
}
