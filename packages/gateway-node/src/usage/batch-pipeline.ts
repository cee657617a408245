/**
 * One exporter's delivery pipeline: a bounded queue, batches of `maxBatch` items (or what is
 * queued after `flushIntervalMs`), each cut by `split` into the parts one request may carry (a
 * vendor's byte limits), one send at a time, retries of a failed part with exponential backoff,
 * and counters of what was delivered, dropped (queue full) and failed (given up). A part is
 * retried, delivered or given up on its own: an accepted part is never sent again, and a refused
 * one loses only its own items. `push` is O(1) and never waits, so a slow or dead destination
 * never delays a request.
 *
 * Leaves out: the wire format and the destination (the `send` callback).
 */
import type { Logger } from 'pino';
import { Agent, type Dispatcher, request } from 'undici';
import type { RetryRule, SendResult } from '../delivery-retry.js';
import { BoundedQueue } from './bus.js';

export type { SendResult } from '../delivery-retry.js';

export interface PipelineOptions<T> {
  readonly send: (batch: T[]) => Promise<SendResult>;
  /**
   * Cuts a taken batch into the parts sent one request each, together holding every item once, in
   * order (default: the batch whole).
   */
  readonly split?: (batch: T[]) => T[][];
  readonly maxQueue?: number;
  readonly maxBatch?: number;
  readonly flushIntervalMs?: number;
  readonly maxRetries?: number;
  readonly backoffMs?: number;
  /** Told how many items were lost after the queue took them (given up, or left at close). */
  readonly onFailed?: (n: number) => void;
}

export interface PipelineStats {
  readonly queued: number;
  readonly delivered: number;
  readonly dropped: number;
  readonly failed: number;
  readonly sends: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class BatchPipeline<T> {
  private readonly queue: BoundedQueue<T>;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private closed = false;
  private deadline = Number.POSITIVE_INFINITY;
  private n = { delivered: 0, dropped: 0, failed: 0, sends: 0 };

  constructor(private readonly o: PipelineOptions<T>) {
    this.queue = new BoundedQueue(o.maxQueue ?? 4096);
    this.maxBatch = o.maxBatch ?? 500;
    this.flushIntervalMs = o.flushIntervalMs ?? 1000;
    this.maxRetries = o.maxRetries ?? 3;
    this.backoffMs = o.backoffMs ?? 250;
  }

  /** false when dropped (queue full or closed). */
  push(item: T): boolean {
    if (this.closed || !this.queue.push(item)) {
      this.n.dropped++;
      return false;
    }
    if (this.queue.size >= this.maxBatch) this.kick();
    else if (this.timer === undefined && this.sending === undefined) {
      this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
      this.timer.unref();
    }
    return true;
  }

  stats(): PipelineStats {
    return { queued: this.queue.size, ...this.n };
  }

  private kick(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.sending !== undefined || this.queue.size === 0) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.queue.size > 0 && !this.closed) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.size > 0) {
      const batch = this.queue.take(this.maxBatch);
      let parts: T[][];
      try {
        parts = this.o.split === undefined ? [batch] : this.o.split(batch);
      } catch {
        parts = [batch];
      }
      for (const part of parts) if (part.length > 0) await this.deliver(part);
    }
  }

  /** Sends one part until it is accepted, refused, out of retries or past the close deadline. */
  private async deliver(part: T[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.n.sends++;
      let r: SendResult;
      try {
        r = await this.o.send(part);
      } catch {
        r = 'retry';
      }
      if (r === 'ok') {
        this.n.delivered += part.length;
        return;
      }
      if (r === 'drop' || attempt >= this.maxRetries || Date.now() >= this.deadline) {
        this.n.failed += part.length;
        this.o.onFailed?.(part.length);
        return;
      }
      await sleep(this.backoffMs * 2 ** attempt);
    }
  }

  /** Stops accepting, sends what is queued until `timeoutMs`, counts the rest as failed. */
  async close(timeoutMs = 2000): Promise<PipelineStats> {
    if (!this.closed) {
      this.closed = true;
      this.deadline = Date.now() + timeoutMs;
      this.kick();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      });
      await Promise.race([this.sending ?? Promise.resolve(), late]);
      clearTimeout(timer);
      const left = this.queue.take(this.queue.size).length;
      this.n.failed += left;
      if (left > 0) this.o.onFailed?.(left);
    }
    return this.stats();
  }
}

/**
 * One POST of an encoded batch (the logs-intake exporters): the answer drained and classified
 * by the vendor's `rule` (`delivery-retry.ts`); a refusal and an unreachable endpoint are warned
 * with the given texts.
 */
export async function postBatch(
  url: string | URL,
  init: { dispatcher: Dispatcher; headers: Record<string, string>; body: string | Buffer },
  rule: RetryRule,
  warn: (msg: string, extra?: Record<string, unknown>) => void,
  texts: { refused: string; unreachable: string },
): Promise<SendResult> {
  try {
    const res = await request(url, { method: 'POST', ...init });
    await res.body.dump();
    const r = rule(res.statusCode);
    if (r === 'drop') warn(texts.refused, { status: res.statusCode });
    return r;
  } catch {
    warn(texts.unreachable);
    return 'retry';
  }
}

/** Delivery warnings of one exporter, at most one a minute (a dead endpoint would flood the log). */
const WARN_EVERY_MS = 60_000;

/**
 * What the batched exporters (`datadog`, `aliyun_sls`, `object_store`) share: their pipeline,
 * their own connection pool, rate-limited warnings, stats and shutdown. A subclass encodes and
 * sends a batch (`send`) and feeds the pipeline from `offer`.
 */
/** Test timings, and where an exporter reports events lost after its queue took them. */
export interface SinkTuning {
  readonly flushIntervalMs?: number;
  readonly backoffMs?: number;
  readonly onLost?: (events: number) => void;
}

export abstract class BatchedSink<T> {
  readonly name: string;
  protected readonly pipeline: BatchPipeline<T>;
  protected readonly agent: Agent;
  private lastWarn = 0;

  constructor(
    name: string,
    protected readonly logger: Logger,
    o: { maxBatch: number; timeoutMs: number } & SinkTuning,
  ) {
    this.name = name;
    this.agent = new Agent({ connections: 2, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs });
    const { timeoutMs: _, onLost, ...tuning } = o;
    this.pipeline = new BatchPipeline<T>({
      send: (b) => this.send(b),
      split: (b) => this.split(b),
      ...tuning,
      ...(onLost !== undefined ? { onFailed: onLost } : {}),
    });
  }

  protected abstract send(batch: T[]): Promise<SendResult>;

  /** The parts of a batch sent one request each (the vendor's per-request limits); default whole. */
  protected split(batch: T[]): T[][] {
    return [batch];
  }

  protected warn(msg: string, extra: Record<string, unknown> = {}): void {
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.logger.warn({ exporter: this.name, ...extra }, msg);
  }

  stats() {
    return this.pipeline.stats();
  }

  async close(timeoutMs = 2000): Promise<unknown> {
    const s = await this.pipeline.close(timeoutMs);
    await this.agent.destroy().catch(() => {});
    return s;
  }
}
