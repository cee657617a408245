/**
 * One streaming upstream attempt, relayed chunk by chunk.
 *
 * - Commit (the 200 + SSE headers) happens when the upstream answered 2xx, or — when the stream
 *   budget came from a resource — only after its first chunk, so a silent model can still fail
 *   over (data-plane §6.5). Before commit every failure is an ordinary attempt failure.
 * - After commit a failure ends the stream with one `event: error` JSON frame and no `[DONE]`;
 *   it is not retried nor failed over, but the attempt still failed: the result says so
 *   (`committed`), so the target's health and cooldown count it (§8.6).
 * - An upstream EOF before any chunk is a failure (a stream aborted): before commit (stream
 *   budget from a resource) it fails over like an error before the first chunk; committed at the
 *   head (no resource budget) the caller still gets `data: [DONE]`, but the attempt is a failure.
 * - Timers: one stream-budget timer and one heartbeat timer per stream, each re-armed lazily from
 *   a timestamp the data path updates; no timer is touched per chunk.
 * - Backpressure: the upstream body is paused while the client socket is full; the stream budget
 *   does not count that time (the gap is the caller's, not the upstream's).
 * - Client gone: the upstream request is aborted at once (its socket closes).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, PreparedRequest, StreamTranslator } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors } from '../errors.js';
import { writeStreamHead } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import { concatLater, type StreamTap, streamTap } from '../pipeline/scopes.js';
import type { GatewayRuntime } from '../runtime.js';
import { noteAttemptFailure, noteProviderRequestId } from '../usage/attempts.js';
import { MAX_STREAM_CHARS } from '../usage/estimate.js';
import {
  ABORT_CLIENT_GONE,
  ABORT_TIMEOUT,
  type AbortReason,
  dispatchOptions,
  UpstreamCall,
} from './client.js';
import {
  type AttemptFailure,
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
import { MAX_ERROR_BODY } from './unary.js';

const HEARTBEAT = ':\n\n';

/** `Content-Type` of a JSON answer (never an event stream). */
const JSON_ANSWER = /^\s*application\/json\s*(?:;|$)/i;

function errorFrame(message: string, type: string): string {
  return `event: error\ndata: ${JSON.stringify({ error: { message, type } })}\n\n`;
}

/**
 * Keeps what the upstream produced (before output taps such as guardrails hold or mask it;
 * references to strings written anyway) for token estimation when the stream reports no usage;
 * past `MAX_STREAM_CHARS` only the length is counted.
 */
function keepOutput(ctx: RequestContext, out: string): void {
  if (out.length === 0) return;
  if (ctx.sseChars + out.length > MAX_STREAM_CHARS) {
    ctx.sseDroppedChars += out.length;
    return;
  }
  ctx.sseChars += out.length;
  if (ctx.sseOut === undefined) ctx.sseOut = [out];
  else ctx.sseOut.push(out);
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
  /** The request scopes' tap on the caller-dialect output (cache recording, guardrails). */
  tap: StreamTap | undefined;
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
  const budgetMs = t.deadlines.streamMs;
  const call = new StreamCall(rt, ctx, endpoint, t, policy, forwardUsageChunk);
  // While the caller's socket is full the upstream is held back by us: no gap of its own.
  const budget =
    budgetMs > 0
      ? new IdleTimer(budgetMs, () => (call.held ? true : void call.abort(ABORT_TIMEOUT)))
      : undefined;
  call.budget = budget;
  ctx.onClientGone = () => call.abort(ABORT_CLIENT_GONE);
  try {
    t.dispatcher.dispatch(dispatchOptions(t.prepared), call);
    const outcome = await call.outcome;
    if (outcome.head) return { ok: false, failure: outcome.head };
    const tr = call.translator;
    const result = outcome.body;
    if (result === undefined)
      return call.emptyEnd === undefined
        ? { ok: true }
        : { ok: false, failure: call.emptyEnd, committed: true };
    if (call.relay.committed && tr) {
      endWithError(ctx, call.relay, result, tr);
      return { ok: false, failure: result, committed: true };
    }
    return { ok: false, failure: result };
  } finally {
    budget?.stop();
    call.relay.heartbeat?.stop();
    ctx.onClientGone = undefined;
  }
}

/**
 * What output taps release, kept for full-content exporters (the raw upstream text in `sseOut`
 * would be unmasked); same bound as `keepOutput`.
 */
function keepServed(ctx: RequestContext, out: string): void {
  const served = ctx.sseServed;
  if (served === undefined || out.length === 0) return;
  if (ctx.sseChars + out.length > MAX_STREAM_CHARS) return;
  served.push(out);
}

function commit(rt: GatewayRuntime, ctx: RequestContext, relay: Relay): void {
  if (relay.committed) return;
  relay.committed = true;
  writeStreamHead(ctx, rt.ident);
  const res = ctx.res;
  if (ctx.scopes !== undefined) {
    relay.tap = streamTap(rt.logger, ctx.id, ctx.scopes);
    if (relay.tap !== undefined && rt.usage.contentBytes > 0) ctx.sseServed = [];
    relay.tap?.attach?.((text) => {
      if (res.destroyed || res.writableEnded) return;
      relay.wrote = true;
      if (ctx.firstOutputAt === undefined && ctx.ttftSeconds !== undefined)
        ctx.firstOutputAt = performance.now();
      if (relay.heartbeat) relay.heartbeat.last = performance.now();
      keepServed(ctx, text);
      res.write(text);
    });
  }
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

/** The upstream answered 2xx and ended its stream without a chunk: a stream aborted (§8.6). */
function emptyStreamFailure(): AttemptFailure {
  return { error: errors.streamEmpty(), retryable: true, timeout: false };
}

/**
 * The stream's own failure, if it has one. An in-band error with a 4xx goes by the group's policy
 * like the same status over HTTP (`inBandFailure`), so `retry_on_429` and `fallback_on_statuses`
 * fail it over before commit.
 */
function translatorFailure(
  tr: StreamTranslator,
  prepared: PreparedRequest,
  policy: RetryPolicy,
): AttemptFailure | undefined {
  const f = tr.failure;
  if (!f) return undefined;
  if (f.kind === 'decode') return decodeFailure(scrubCredentials(f.message, prepared));
  return inBandFailure({ ...f.error, message: scrubCredentials(f.error.message, prepared) }, policy);
}

/**
 * How an attempt ended: `head` is a failure before any body was relayed (transport, deadline,
 * non-2xx status); `body` is undefined on a normal end, or the failure that ended the relay.
 */
type Outcome =
  | { readonly head: AttemptFailure; readonly body?: undefined }
  | { readonly head?: undefined; readonly body: AttemptFailure | undefined };

/**
 * The upstream call of one stream attempt as an undici dispatch handler: the body is relayed
 * from `onResponseData` straight to the caller's response (backpressure: the controller is
 * paused while the client socket is full and resumed on `drain`). `outcome` settles once and
 * never rejects, so the caller's cleanup always runs.
 */
class StreamCall extends UpstreamCall {
  readonly outcome: Promise<Outcome>;
  readonly relay: Relay = { committed: false, tap: undefined, wrote: false, heartbeat: undefined };
  budget: IdleTimer | undefined;
  /**
   * The upstream is paused because the caller's socket is full (backpressure): the stream budget
   * does not run meanwhile, the gap is the caller's (data-plane §8.2 bounds the upstream's gaps).
   */
  held = false;
  translator: StreamTranslator | undefined;
  /**
   * A committed stream framed as a normal end that still failed: it ended without any chunk, or
   * its own terminal event reported a failure (Responses `response.failed`, relayed as is).
   */
  emptyEnd: AttemptFailure | undefined;
  private resolve: (o: Outcome) => void = () => {};
  private readonly attemptStart = performance.now();
  /** Non-2xx answer: its status and headers while the (capped) error body is read. */
  private errStatus = 0;
  private errHeaders: IncomingHttpHeaders = {};
  private errChunks: Buffer[] | undefined;
  private errSize = 0;
  /** Body chunks waiting for the end of the current socket read (see `onResponseData`). */
  private readonly inbox: Buffer[] = [];

  constructor(
    private readonly rt: GatewayRuntime,
    private readonly ctx: RequestContext,
    private readonly endpoint: Endpoint,
    private readonly t: Target,
    private readonly policy: RetryPolicy,
    private readonly forwardUsageChunk: boolean,
  ) {
    super();
    this.outcome = new Promise<Outcome>((resolve) => {
      this.resolve = resolve;
    });
  }

  private settle(o: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.ctx.res.off('drain', this.onDrain);
    this.resolve(o);
  }

  /** Before the head: a deadline, the client gone, or a transport failure. */
  private headFailure(err: unknown): AttemptFailure {
    if (this.reason === ABORT_TIMEOUT) return timeoutFailure(this.t.deadlines.streamMs);
    if (this.reason === ABORT_CLIENT_GONE) return clientGoneFailure();
    return transportFailure(err);
  }

  protected aborted(reason: AbortReason): void {
    this.settle({ head: this.headFailure(reason) });
  }

  private readonly onDrain = (): void => {
    if (this.held) {
      this.held = false;
      if (this.budget) this.budget.last = performance.now();
    }
    this.controller?.resume();
  };

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200 || this.settled) return;
    noteProviderRequestId(this.ctx, headers);
    // A JSON answer is no event stream, whatever its status: read whole (capped) like an error.
    if (statusCode >= 300 || JSON_ANSWER.test(String(headers['content-type'] ?? ''))) {
      this.errStatus = statusCode;
      this.errHeaders = headers;
      this.errChunks = [];
      return;
    }
    const ctx = this.ctx;
    this.translator = this.t.adapter.createStreamTranslator({
      endpoint: this.endpoint,
      alias: ctx.requestedModel ?? '',
      forwardUsageChunk: this.forwardUsageChunk,
      request: this.t.prepared,
    });
    // A live view (translators update their counters in place): whatever usage the stream has
    // reported is what is counted, also when it ends early or the client goes away.
    ctx.usage = this.translator.usage;
    ctx.res.on('drain', this.onDrain);
    if (!this.t.deadlines.streamConfigured) commit(this.rt, ctx, this.relay);
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const errChunks = this.errChunks;
    if (errChunks) {
      const room = MAX_ERROR_BODY - this.errSize;
      if (chunk.length >= room) {
        errChunks.push(chunk.subarray(0, room));
        this.errSize = MAX_ERROR_BODY;
        this.statusEnd(true);
        c.abort(new Error('upstream error body too large'));
        return;
      }
      errChunks.push(chunk);
      this.errSize += chunk.length;
      return;
    }
    if (!this.translator) return;
    // undici calls this once per chunk-encoded piece (often one per SSE event, many per socket
    // read). The pieces of one read are relayed together right after it, in one response write.
    const inbox = this.inbox;
    inbox.push(chunk);
    if (inbox.length === 1) queueMicrotask(this.relayInbox);
  }

  /** Relays the chunks received since the last relay (same event-loop turn: no added delay). */
  private readonly relayInbox = (): void => {
    const inbox = this.inbox;
    if (inbox.length === 0) return;
    const chunk = inbox.length === 1 ? (inbox[0] as Buffer) : Buffer.concat(inbox);
    inbox.length = 0;
    const tr = this.translator;
    if (this.settled || !tr) return;
    const now = performance.now();
    if (this.budget) this.budget.last = now;
    let out: string;
    try {
      out = tr.push(chunk);
    } catch (err) {
      // This runs as a microtask: an exception here would be uncaught and end the process.
      this.finish(translatorThrew(err));
      return;
    }
    const ctx = this.ctx;
    if (ctx.ttftSeconds === undefined && tr.sawOutput) ctx.ttftSeconds = (now - this.attemptStart) / 1000;
    const f = translatorFailure(tr, this.t.prepared, this.policy);
    if (f && !this.relay.committed && tr.delivered === 0) {
      this.finish(f);
      return;
    }
    if (tr.done) {
      this.failedEnd(tr);
      this.endWith(out);
      this.finish(undefined);
      return;
    }
    if (!this.write(out, now)) {
      this.held = true;
      this.controller?.pause();
    }
    if (f) this.finish(f);
  };

  onResponseEnd(): void {
    this.relayInbox();
    if (this.settled) return;
    if (this.errChunks) {
      this.statusEnd(true);
      return;
    }
    const tr = this.translator;
    if (!tr) {
      this.settle({ head: transportFailure(new Error('upstream answered without a head')) });
      return;
    }
    // No event relayed before EOF, and none with output in the final flush: the upstream sent no
    // chunk at all (a bridged dialect's end() may still synthesize its closing frames).
    const before = tr.delivered;
    let out: string;
    try {
      out = tr.end();
    } catch (err) {
      this.finish(translatorThrew(err));
      return;
    }
    const f = translatorFailure(tr, this.t.prepared, this.policy);
    const empty = f === undefined && before === 0 && !tr.sawOutput;
    if (empty && !this.relay.committed) {
      // Stream budget from a resource: EOF before the first chunk fails before commit (§6.5).
      this.finish(emptyStreamFailure());
      return;
    }
    this.write(out);
    if (f) {
      this.finish(f);
      return;
    }
    if (empty) {
      // Committed at the head (no resource budget): the framing stays a normal end, but the
      // attempt served nothing, so it is no success for the target's health; the access log
      // and the response cache see the error.
      const e = emptyStreamFailure();
      this.emptyEnd = e;
      this.ctx.errorType = e.error.type;
      this.ctx.errorMessage = e.error.message;
    }
    if (tr.done) this.failedEnd(tr);
    // Upstream EOF without [DONE] is a normal end (providers.md §1.4).
    this.endWith(tr.done ? '' : 'data: [DONE]\n\n');
    this.finish(undefined);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    // Never throws: undici reports a throwing error callback as an agent 'error'.
    try {
      // What arrived before the failure is relayed first.
      this.relayInbox();
      if (this.settled) return;
      if (this.errChunks) {
        this.statusEnd(false);
        return;
      }
      if (!this.translator) {
        this.settle({ head: this.headFailure(err) });
        return;
      }
      if (this.reason === ABORT_CLIENT_GONE) {
        this.finish(undefined);
        return;
      }
      if (this.reason === ABORT_TIMEOUT) {
        this.finish(timeoutFailure(this.budget?.ms ?? 0));
        return;
      }
      this.finish({ ...transportFailure(err), error: errors.streamDropped() });
    } catch {
      this.settle({ body: { ...transportFailure(err), error: errors.streamDropped() } });
    }
  }

  /**
   * The stream's terminal event reported a failure: the relay ends as framed, but the attempt
   * failed after commit like an in-band error would (`translatorFailure`), for the target's
   * health, the access log, the usage events and the response cache.
   */
  private failedEnd(tr: StreamTranslator): void {
    const info = tr.endedInError;
    if (info === undefined) return;
    const p = this.t.prepared;
    const e = inBandFailure({ ...info, message: scrubCredentials(info.message, p) }, this.policy);
    this.emptyEnd = e;
    this.ctx.errorType = e.error.type;
    this.ctx.errorMessage = e.error.message;
    noteAttemptFailure(this.ctx, e);
  }

  /** The error answer is complete (or cut at the cap); a read failure leaves an empty text. */
  private statusEnd(read: boolean): void {
    const text = read && this.errChunks ? Buffer.concat(this.errChunks, this.errSize).toString('utf8') : '';
    const status = this.errStatus;
    const h = this.errHeaders;
    if (status < 300) {
      this.settle({ head: this.jsonAnswerFailure(text) });
      return;
    }
    const info = this.t.adapter.parseError(status, scrubCredentials(text, this.t.prepared), h);
    this.settle({ head: statusFailure(status, info, h['retry-after'], this.policy) });
  }

  /**
   * A 2xx JSON answer to a stream request, before anything was committed: the upstream's error
   * object is its in-band error (data-plane §6.2, answered and retried like one); anything else
   * (a whole completion where a stream was asked for) is a body the gateway cannot relay.
   */
  private jsonAnswerFailure(text: string): AttemptFailure {
    const p = this.t.prepared;
    const out = this.t.adapter.transformResponse(this.endpoint, text, this.ctx.requestedModel ?? '', p);
    if (!out.ok && out.error) {
      return inBandFailure({ ...out.error, message: scrubCredentials(out.error.message, p) }, this.policy);
    }
    return decodeFailure('upstream returned an unparseable body: a JSON answer to a stream request');
  }

  /** Ends the relay; a failure, or a body not read to [DONE], drops the upstream request. */
  private finish(f: AttemptFailure | undefined): void {
    if (this.settled) return;
    this.settle({ body: f });
    if (f || !this.translator?.done) this.controller?.abort(new Error('stream relay ended'));
  }

  /** Writes relayed bytes; false when the client socket is full. */
  private write(out: string, now = performance.now()): boolean {
    if (out.length === 0) return true;
    const relay = this.relay;
    if (!relay.committed) commit(this.rt, this.ctx, relay);
    keepOutput(this.ctx, out);
    if (relay.tap !== undefined) {
      out = relay.tap.push(out);
      if (out.length === 0) return true;
      keepServed(this.ctx, out);
    }
    relay.wrote = true;
    if (relay.heartbeat) relay.heartbeat.last = now;
    const ctx = this.ctx;
    // Output seen upstream (ttft) and now leaving: the caller's first output (held-back text
    // leaves through the tap's writer above instead).
    if (ctx.firstOutputAt === undefined && ctx.ttftSeconds !== undefined) ctx.firstOutputAt = now;
    return ctx.res.write(out);
  }

  /**
   * The last bytes and the end of the response leave in one write. A tap that finishes later (a
   * remote scan of held output) ends the response when it settles, unless the client left.
   */
  private endWith(out: string): void {
    const relay = this.relay;
    if (!relay.committed) commit(this.rt, this.ctx, relay);
    relay.wrote = true;
    keepOutput(this.ctx, out);
    const res = this.ctx.res;
    const last = relay.tap === undefined ? out : concatLater(relay.tap.push(out), relay.tap.end());
    if (typeof last === 'string') {
      if (relay.tap !== undefined) keepServed(this.ctx, last);
      res.end(last);
    } else
      void last.then((text) => {
        keepServed(this.ctx, text);
        if (!res.destroyed && !res.writableEnded) res.end(text);
      });
  }
}
