/**
 * The `object_store` observability exporter (`s3`, `gcs`, `azure_blob`): each batch of usage events becomes
 * one object of JSON lines (one event per line), gzip'd unless `compression: none`, written with
 * one signed `PUT`. Objects are never appended to or overwritten, so a retry rewrites
 * the same key and a reader sees whole batches only.
 *
 * Object key layout (Hive-style partitions, so Athena/Spark/BigQuery can prune by time):
 *   `<prefix>dt=YYYY-MM-DD/hour=HH/<epoch-ms>-<host>-<pid>-<seq>.jsonl[.gz]`
 * `prefix` is used as given, with a `/` added when it is non-empty and lacks one; the time is the
 * UTC time the batch is sent.
 *
 * Per-provider addressing, signing and credentials: `object-store-writers.ts`. Missing
 * credentials are a delivery error (logged, the batch counted as failed).
 */
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import { request } from 'undici';
import { defaultRule } from '../delivery-retry.js';
import { BatchedSink, type SendResult, type SinkTuning } from './batch-pipeline.js';
import type { UsageSink } from './bus.js';
import type { UsageEvent } from './events.js';
import { type ObjectStoreConfig, type ObjectWriter, objectWriter } from './object-store-writers.js';

const gzip = promisify(gzipCb);

const MAX_BATCH = 5000;
const pad = (n: number) => String(n).padStart(2, '0');

/** The object key of a batch sent at `now` (see the layout above). */
export function objectKey(prefix: string, now: Date, unique: string, gzipped: boolean): string {
  const p = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const day = `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())}`;
  return `${p}dt=${day}/hour=${pad(now.getUTCHours())}/${now.getTime()}-${unique}.jsonl${gzipped ? '.gz' : ''}`;
}

export class ObjectStoreSink extends BatchedSink<UsageEvent> implements UsageSink {
  private readonly unique = `${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${process.pid}`;
  private readonly writer: ObjectWriter & { forgetToken?: () => void };
  private seq = 0;

  constructor(
    private readonly c: ObjectStoreConfig,
    logger: Logger,
    tuning: SinkTuning = {},
  ) {
    super(c.name, logger, { maxBatch: MAX_BATCH, timeoutMs: 30_000, ...tuning });
    this.writer = objectWriter(c, this.agent);
  }

  offer(events: readonly UsageEvent[]): number {
    let dropped = 0;
    for (const e of events) if (!this.pipeline.push(e)) dropped++;
    return dropped;
  }

  /** The batch's body and key are fixed on the first attempt so a retry rewrites the same object. */
  private readonly prepared = new WeakMap<UsageEvent[], { key: string; body: Buffer }>();

  private async prepare(batch: UsageEvent[]): Promise<{ key: string; body: Buffer }> {
    const had = this.prepared.get(batch);
    if (had) return had;
    const gz = this.c.compression !== 'none';
    const lines = Buffer.from(`${batch.map((e) => JSON.stringify(e)).join('\n')}\n`, 'utf8');
    const body = gz ? await gzip(lines) : lines;
    const key = objectKey(this.c.prefix, new Date(), `${this.unique}-${this.seq++}`, gz);
    const p = { key, body };
    this.prepared.set(batch, p);
    return p;
  }

  protected async send(batch: UsageEvent[]): Promise<SendResult> {
    const { key, body } = await this.prepare(batch);
    try {
      const put = await this.writer.put(key, body, this.c.compression !== 'none');
      if ('missing' in put) {
        this.warn('object_store exporter: credential environment variable is not set', { env: put.missing });
        return 'drop';
      }
      const res = await request(put.url, {
        method: 'PUT',
        dispatcher: this.agent,
        headers: put.headers,
        body,
      });
      await res.body.dump();
      if (res.statusCode === 401) {
        // A cached bearer (GCS) may have expired: mint a new one for the retry.
        this.writer.forgetToken?.();
        return 'retry';
      }
      const r = defaultRule(res.statusCode);
      if (r === 'drop')
        this.warn('object_store exporter: the store refused an object', { status: res.statusCode });
      return r;
    } catch (err) {
      this.warn('object_store exporter: the store is unreachable', { err: (err as Error).message });
      return 'retry';
    }
  }
}
