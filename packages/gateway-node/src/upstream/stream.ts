/**
 * One streaming upstream attempt, relayed chunk by chunk.
 *
 * - Commit (the 200 + SSE headers) happens when the upstream answered 2xx, or — when the stream
 *   budget came from a resource — only after its first chunk, so a silent model can still fail
 *   over (data-plane §6.5). Before commit every failure is an ordinary attempt failure.
 * - After commit a failure ends the stream with one `event: error` JSON frame and no `[DONE]`.
 * - Timers: one stream-budget timer and one heartbeat timer per stream, each re-armed lazily from
 *   a timestamp the data path updates; no timer is touched per chunk.
 * - Backpressure: the upstream body is paused while the client socket is full.
 * - Client gone: the upstream request is aborted at once (its socket closes).
 */
import type { Endpoint, StreamTranslator } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors } from '../errors.js';
import { baseHeaders } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { ABORT_CLIENT_GONE, ABORT_TIMEOUT, readCapped, sendUpstream } from './client.js';
import {
  type AttemptFailure,
  type AttemptResult,
  decodeFailure,
  type RetryPolicy,
  statusFailure,
  timeoutFailure,
  transportFailure,
} from './failures.js';
import type { Target } from './target.js';
import { MAX_ERROR_BODY } from './unary.js';

const HEARTBEAT = ':\n\n';

function errorFrame(message: string, type: string): string {
  return `event: error\ndata: ${JSON.stringify({ error: { message, type } })}\n\n`;
}

/** A lazily re-armed timer: fires `onIdle` once `ms` passed since the last `touch`. */
class IdleTimer {
  last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  constructor(
    readonly ms: number,
    private readonly onIdle: () => boolean | undefined,
  ) {
    this.timer = setTimeout(this.tick, ms);
  }
  private readonly tick = (): void => {
    const idle = performance.now() - this.last;
    if (idle >= this.ms) {
      // onIdle returns true to keep going (heartbeat), anything else stops the timer.
      if (this.onIdle() !== true) return;
      this.last = performance.now();
      this.timer = setTimeout(this.tick, this.ms);
    } else {
      this.timer = setTimeout(this.tick, this.ms - idle + 1);
    }
  };
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface Relay {
  committed: boolean;
  /** Bytes written after the head (the head then left with them). */
  wrote: boolean;
  heartbeat: IdleTimer | undefined;
}

export async function callStream(
  rt: GatewayRuntime,
  ctx: RequestContext,
  endpoint: Endpoint,
  t: Target,
  policy: RetryPolicy,
  forwardUsageChunk: boolean,
): Promise<AttemptResult> {
  const ac = new AbortController();
  const budgetMs = t.deadlines.streamMs;
  const attemptStart = performance.now();
  const budget = budgetMs > 0 ? new IdleTimer(budgetMs, () => void ac.abort(ABORT_TIMEOUT)) : undefined;
  ctx.onClientGone = () => ac.abort(ABORT_CLIENT_GONE);
  const relay: Relay = { committed: false, wrote: false, heartbeat: undefined };
  const failed = (err: unknown): AttemptResult => {
    if (ac.signal.reason === ABORT_TIMEOUT) return { ok: false, failure: timeoutFailure(budgetMs) };
    return { ok: false, failure: transportFailure(err) };
  };
  try {
    let r: Dispatcher.ResponseData;
    try {
      r = await sendUpstream(rt.agent, t.prepared, ac.signal);
    } catch (err) {
      return failed(err);
    }
    if (r.statusCode < 200 || r.statusCode >= 300) {
      const text = await readCapped(r.body, MAX_ERROR_BODY).catch(() => '');
      const info = t.adapter.parseError(r.statusCode, text, r.headers);
      return { ok: false, failure: statusFailure(r.statusCode, info, r.headers['retry-after'], policy) };
    }
    const translator = t.adapter.createStreamTranslator({
      endpoint,
      alias: ctx.requestedModel ?? '',
      forwardUsageChunk,
      request: t.prepared,
    });
    if (!t.deadlines.streamConfigured) commit(rt, ctx, relay);
    const result = await pump(rt, ctx, r, translator, relay, budget, ac, attemptStart);
    ctx.usage = translator.usage;
    if (result === undefined) return { ok: true };
    if (relay.committed) {
      endWithError(ctx, relay, result, translator);
      return { ok: true };
    }
    return { ok: false, failure: result };
  } finally {
    budget?.stop();
    relay.heartbeat?.stop();
    ctx.onClientGone = undefined;
  }
}

function commit(rt: GatewayRuntime, ctx: RequestContext, relay: Relay): void {
  if (relay.committed) return;
  relay.committed = true;
  ctx.settled = true;
  const headers: Record<string, string> = {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-aisix-call-id': ctx.id,
  };
  if (ctx.servedBy) headers['x-aisix-served-by'] = ctx.servedBy;
  const res = ctx.res;
  res.writeHead(200, baseHeaders(ctx, rt.ident, headers));
  // The head normally leaves with the first chunk (one write). If the model is silent past this
  // turn of the event loop, flush it alone so the client sees the 200 before the first token.
  setImmediate(() => {
    if (!relay.wrote && !res.destroyed) res.flushHeaders();
  });
  const ms = rt.settings.sseKeepaliveMs;
  if (ms > 0) {
    relay.heartbeat = new IdleTimer(ms, () => {
      if (res.destroyed || res.writableEnded) return false;
      res.write(HEARTBEAT);
      return true;
    });
  }
}

function endWithError(ctx: RequestContext, relay: Relay, f: AttemptFailure, tr: StreamTranslator): void {
  relay.heartbeat?.stop();
  ctx.errorType = f.error.type;
  ctx.errorMessage = f.error.message;
  if (ctx.res.destroyed || ctx.res.writableEnded) return;
  // Dialect streams (Anthropic, Responses) end with an error frame of their own shape.
  const frame = tr.errorFrame ? tr.errorFrame(f.error.message, f.error.type) : undefined;
  ctx.res.end(frame ?? errorFrame(f.error.message, f.error.type));
}

function translatorFailure(tr: StreamTranslator): AttemptFailure | undefined {
  const f = tr.failure;
  if (!f) return undefined;
  if (f.kind === 'decode') return decodeFailure(f.message);
  const status = f.error.status;
  if (status !== undefined && status < 500) {
    return statusFailure(status, f.error, undefined, { retryOn429: false, extraStatuses: [] });
  }
  return { error: errors.inBandUpstream(f.error.message), retryable: true, timeout: false };
}

/**
 * Relays the upstream body. Resolves undefined on a normal end, or the failure that ended it.
 * Resolves (never rejects) so the caller's cleanup always runs.
 */
function pump(
  rt: GatewayRuntime,
  ctx: RequestContext,
  r: Dispatcher.ResponseData,
  tr: StreamTranslator,
  relay: Relay,
  budget: IdleTimer | undefined,
  ac: AbortController,
  attemptStart: number,
): Promise<AttemptFailure | undefined> {
  const res = ctx.res;
  const body = r.body;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (f: AttemptFailure | undefined) => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      res.off('drain', onDrain);
      if (f || !tr.done) body.destroy();
      resolve(f);
    };
    const write = (out: string) => {
      if (out.length === 0) return;
      if (!relay.committed) commit(rt, ctx, relay);
      relay.wrote = true;
      if (relay.heartbeat) relay.heartbeat.last = performance.now();
      if (!res.write(out)) body.pause();
    };
    // The last bytes and the end of the response leave in one write.
    const endWith = (out: string) => {
      if (!relay.committed) commit(rt, ctx, relay);
      relay.wrote = true;
      // Before the end: the completion hook (access log, token metrics) may run as soon as
      // the response closes, ahead of the caller's continuation after this promise.
      ctx.usage = tr.usage;
      res.end(out);
    };
    const onDrain = () => body.resume();
    const onData = (chunk: Buffer) => {
      if (budget) budget.last = performance.now();
      const out = tr.push(chunk);
      if (ctx.ttftSeconds === undefined && tr.sawOutput)
        ctx.ttftSeconds = (performance.now() - attemptStart) / 1000;
      const f = translatorFailure(tr);
      if (f && !relay.committed && tr.delivered === 0) return finish(f);
      if (tr.done) {
        endWith(out);
        return finish(undefined);
      }
      write(out);
      if (f) return finish(f);
    };
    body.on('data', onData);
    res.on('drain', onDrain);
    body.once('end', () => {
      if (settled) return;
      write(tr.end());
      const f = translatorFailure(tr);
      if (f) return finish(f);
      // Upstream EOF without [DONE] is a normal end (providers.md §1.4).
      endWith(tr.done ? '' : 'data: [DONE]\n\n');
      finish(undefined);
    });
    body.once('error', (err) => {
      if (ac.signal.reason === ABORT_CLIENT_GONE) return finish(undefined);
      if (ac.signal.reason === ABORT_TIMEOUT) return finish(timeoutFailure(budget?.ms ?? 0));
      finish({ ...transportFailure(err), error: errors.streamDropped() });
    });
  });
}
