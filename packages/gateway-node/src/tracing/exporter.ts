/**
 * A small OTLP/HTTP **JSON** trace exporter (no OpenTelemetry SDK: decisions.md OP-13).
 *
 * Finished spans go into a bounded in-memory queue; a full queue drops the span and counts it,
 * so a slow or absent collector never blocks or delays a request. The queue is sent in batches
 * (`maxBatch` spans, or whatever is queued after `flushIntervalMs`), one POST at a time, as an
 * `ExportTraceServiceRequest` to `<endpoint>/v1/traces` (an endpoint with a path is used as
 * given). 429, 502, 503, 504 and transport failures are retried with exponential backoff, or
 * after the collector's `Retry-After` (capped at 30 s); every other status drops the batch, as the
 * OTLP specification requires (`otlpHttpRule`, `delivery-retry.ts`). `shutdown()` sends what is
 * queued (bounded by a deadline) and closes the pool.
 */
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { otlpHttpRule, retryAfterMs } from '../delivery-retry.js';
import type { OtlpSpan } from './otlp.js';

export interface ExporterOptions {
  /** Collector base (`http://host:4318`) or full traces URL (`http://host:4318/v1/traces`). */
  readonly endpoint: string;
  /** `service.name` resource attribute. */
  readonly serviceName: string;
  /** Instrumentation scope version (the gateway version). */
  readonly version: string;
  readonly logger?: Logger;
  /** Spans held at most; beyond that new spans are dropped (default 2048). */
  readonly maxQueue?: number;
  /** Spans per POST (default 512). */
  readonly maxBatch?: number;
  /** Longest a span waits before a partial batch is sent (default 1000 ms). */
  readonly flushIntervalMs?: number;
  /** Per-POST deadline (default 10 s). */
  readonly timeoutMs?: number;
  /** Retries of one batch after 429/502/503/504/transport failures (default 3). */
  readonly maxRetries?: number;
  /** First retry delay, doubled each time (default 250 ms). */
  readonly backoffMs?: number;
  /** Extra request headers (e.g. collector auth); never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Told the summed weight (`exportAdmitted`) of spans lost after they were queued: a batch given
   * up (refused, or failed after the retries) or still queued at shutdown.
   */
  readonly onLost?: (weight: number) => void;
}

export interface ExporterStats {
  /** Spans waiting in the queue (admitted ones not yet handed over included). */
  readonly queued: number;
  /** Spans the collector accepted. */
  readonly exported: number;
  /** Spans dropped because the queue was full (or the exporter was shut down). */
  readonly dropped: number;
  /** Spans lost because their batch failed after the retries (or was refused). */
  readonly failed: number;
  /** POSTs made, retries included. */
  readonly posts: number;
}

/** `<endpoint>/v1/traces` when the endpoint has no path, else the endpoint as given. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/v1/traces';
  return u.toString();
}

// Unref'd: a long Retry-After wait must not keep a stopping process alive.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const DROP_WARN_EVERY_MS = 60_000;
/**
 * Room for the spans of one batch. A span that does not fit in the batch being filled starts the
 * next one (a larger span gets a buffer of its own), and the full batch is sent. Delivered
 * batches' buffers are kept for the next ones (at most `SPARE_BATCHES`): memory fresh from the
 * allocator costs a page fault per 4 KiB written, which doubled the cost of writing a span.
 * Untouched room is never resident, so a quiet gateway pays only for the pages it used.
 */
const BATCH_BYTES = 1024 * 1024;
const SPARE_BATCHES = 2;

/**
 * One POST's body being written: the request's JSON head, the spans (comma-separated, UTF-8)
 * written in as they are exported, room kept for the tail.
 */
interface Batch {
  readonly buf: Buffer;
  used: number;
  spans: number;
  /** The summed weights of its spans (what `onLost` reports if it is lost). */
  weight: number;
}

export class OtlpHttpExporter {
  readonly url: string;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly headers: Record<string, string>;
  private readonly agent: Agent;
  /** JSON prefix/suffix around the spans array: everything but the spans is constant. */
  private readonly head: Buffer;
  private readonly tail = Buffer.from(']}]}]}');
  /**
   * Spans waiting, already written into the bodies of the POSTs that will carry them (the last
   * batch is the one being filled): off the JS heap while they wait, with no buffer object per
   * span and no concatenation at send time (a third of the cost of encoding each span apart).
   */
  private batches: Batch[] = [];
  /** Spans in `batches`. */
  private queued = 0;
  /** Spans admitted (`admit`) and not yet handed over. */
  private admitted = 0;
  /** Buffers of delivered batches, for the next ones. */
  private spare: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private closed = false;
  private deadline = Number.POSITIVE_INFINITY;
  private lastDropWarn = 0;
  private n = { exported: 0, dropped: 0, failed: 0, posts: 0 };

  constructor(private readonly o: ExporterOptions) {
    this.url = tracesUrl(o.endpoint);
    this.maxQueue = o.maxQueue ?? 2048;
    this.maxBatch = o.maxBatch ?? 512;
    this.flushIntervalMs = o.flushIntervalMs ?? 1000;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.maxRetries = o.maxRetries ?? 3;
    this.backoffMs = o.backoffMs ?? 250;
    this.headers = { ...o.headers, 'content-type': 'application/json' };
    this.agent = new Agent({ connections: 2, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    const resource = {
      attributes: [{ key: 'service.name', value: { stringValue: o.serviceName } }],
    };
    const scope = { name: 'aisix-gateway', version: o.version };
    this.head = Buffer.from(
      `{"resourceSpans":[{"resource":${JSON.stringify(resource)},"scopeSpans":[{"scope":${JSON.stringify(scope)},"spans":[`,
    );
  }

  /** Queues one finished span; O(1), never throws, never waits. */
  export(span: OtlpSpan): void {
    this.exportText(JSON.stringify(span));
  }

  /** Queues one finished span already written as OTLP/JSON (`SpanText`). */
  exportText(span: string): void {
    if (this.admit(1)) this.exportAdmitted(span);
  }

  /**
   * Makes room for `n` spans that will be handed over later (`exportAdmitted`, once each), or
   * drops and counts all `n` when the queue (spans queued and spans admitted but not yet handed
   * over) has no room for them: a caller that renders its spans later still learns at once
   * whether they were dropped, and a request's spans are kept or dropped together.
   */
  admit(n: number): boolean {
    if (this.closed || this.queued + this.admitted + n > this.maxQueue) {
      this.n.dropped += n;
      const now = Date.now();
      if (now - this.lastDropWarn >= DROP_WARN_EVERY_MS) {
        this.lastDropWarn = now;
        this.o.logger?.warn(
          { dropped_total: this.n.dropped, queue_max: this.maxQueue },
          'tracing: span queue full, dropping spans',
        );
      }
      return false;
    }
    this.admitted += n;
    return true;
  }

  /**
   * Queues one span that `admit` made room for. `weight`: what it stands for to the caller (the
   * usage exporter: the request's events on its request span), reported by `onLost`.
   */
  exportAdmitted(span: string, weight = 0): void {
    this.admitted--;
    if (this.closed) {
      // Shut down in between: the span was admitted, never sent.
      this.n.dropped++;
      if (weight > 0) this.o.onLost?.(weight);
      return;
    }
    const b = this.batchFor(span);
    if (b.spans > 0) b.buf[b.used++] = 0x2c; // ','
    b.used += b.buf.write(span, b.used);
    b.spans++;
    b.weight += weight;
    this.queued++;
    if (b.spans >= this.maxBatch || this.batches.length > 1) this.kick();
    else if (this.timer === undefined && this.sending === undefined) {
      this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** The batch `span` goes into: the one being filled while it has room, else a new one. */
  private batchFor(span: string): Batch {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit; 1 more for the comma.
    const need = span.length * 3 + 1;
    const last = this.batches[this.batches.length - 1];
    if (
      last !== undefined &&
      last.spans < this.maxBatch &&
      last.used + need + this.tail.length <= last.buf.length
    )
      return last;
    const size = this.head.length + need + this.tail.length;
    const buf =
      size > BATCH_BYTES
        ? Buffer.allocUnsafeSlow(size)
        : (this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES));
    const b: Batch = { buf, used: this.head.copy(buf, 0), spans: 0, weight: 0 };
    this.batches.push(b);
    return b;
  }

  stats(): ExporterStats {
    return { queued: this.queued + this.admitted, ...this.n };
  }

  /** Gives back room `admit` took for spans that will never be handed over (counted as dropped). */
  forfeit(n: number): void {
    this.admitted -= n;
    this.n.dropped += n;
  }

  /** Sends everything queued now; resolves once the queue is empty and nothing is in flight. */
  async flush(): Promise<void> {
    while (this.queued > 0 || this.sending !== undefined) {
      this.kick();
      await this.sending;
    }
  }

  /**
   * Stops accepting spans, sends what is queued (retrying only until `timeoutMs` has passed),
   * then closes the connection pool. Spans still queued at the deadline count as failed.
   */
  async shutdown(timeoutMs = 5000): Promise<ExporterStats> {
    if (!this.closed) {
      this.closed = true;
      this.spare = [];
      this.deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      });
      await Promise.race([this.flush(), late]);
      clearTimeout(timer);
      if (this.queued > 0) {
        this.n.failed += this.queued;
        const lost = this.batches.reduce((sum, b) => sum + b.weight, 0);
        if (lost > 0) this.o.onLost?.(lost);
        this.queued = 0;
        this.batches = [];
      }
      await this.agent.destroy().catch(() => {});
      const s = this.stats();
      if (s.dropped > 0 || s.failed > 0)
        this.o.logger?.warn({ ...s }, 'tracing: some spans were not exported');
    }
    return this.stats();
  }

  private kick(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.sending !== undefined || this.queued === 0) return;
    this.sending = this.pump().finally(() => {
      this.sending = undefined;
      // Spans that arrived while sending wait at most one interval more.
      if (this.queued > 0 && this.timer === undefined) {
        // A full batch waiting (by spans or bytes) goes now; a partial one after an interval.
        if (this.closed || this.batches.length > 1 || this.queued >= this.maxBatch) this.kick();
        else {
          this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
          this.timer.unref();
        }
      }
    });
  }

  private async pump(): Promise<void> {
    // The oldest batch leaves the queue (later spans start a new one) and is closed.
    const batch = this.batches.shift() as Batch;
    this.queued -= batch.spans;
    const spans = batch.spans;
    const body = batch.buf.subarray(0, batch.used + this.tail.copy(batch.buf, batch.used));
    for (let attempt = 0; ; attempt++) {
      const { outcome, retryAfter } = await this.post(body);
      if (outcome === 'ok') {
        this.n.exported += spans;
        // Accepted: the collector has read the body, the buffer can take the next batch.
        if (batch.buf.length === BATCH_BYTES && this.spare.length < SPARE_BATCHES && !this.closed)
          this.spare.push(batch.buf);
        return;
      }
      // The collector's Retry-After (capped) when it sent one, else exponential backoff.
      const wait = retryAfter ?? this.delay(attempt);
      const canRetry = outcome === 'retry' && attempt < this.maxRetries && Date.now() + wait < this.deadline;
      if (!canRetry) {
        this.n.failed += spans;
        if (batch.weight > 0) this.o.onLost?.(batch.weight);
        this.o.logger?.warn({ spans, outcome, attempts: attempt + 1 }, 'tracing: export batch failed');
        return;
      }
      await sleep(wait);
    }
  }

  private delay(attempt: number): number {
    return this.backoffMs * 2 ** attempt;
  }

  private async post(
    body: Buffer,
  ): Promise<{ outcome: 'ok' | 'retry' | 'refused'; retryAfter?: number | undefined }> {
    this.n.posts++;
    try {
      const res = await request(this.url, {
        method: 'POST',
        headers: this.headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.body.dump();
      const r = otlpHttpRule(res.statusCode);
      if (r === 'ok') return { outcome: 'ok' };
      if (r === 'drop') return { outcome: 'refused' };
      return { outcome: 'retry', retryAfter: retryAfterMs(res.headers['retry-after']) };
    } catch {
      return { outcome: 'retry' };
    }
  }
}
