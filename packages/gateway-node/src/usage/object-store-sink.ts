/**
 * The `object_store` observability exporter, provider `s3`: each batch of usage events becomes
 * one object of JSON lines (one event per line), gzip'd unless `compression: none`, written with
 * an AWS SigV4-signed `PUT`. Objects are never appended to or overwritten, so a retry rewrites
 * the same key and a reader sees whole batches only.
 *
 * Object key layout (Hive-style partitions, so Athena/Spark/BigQuery can prune by time):
 *   `<prefix>dt=YYYY-MM-DD/hour=HH/<epoch-ms>-<host>-<pid>-<seq>.jsonl[.gz]`
 * `prefix` is used as given, with a `/` added when it is non-empty and lacks one; the time is the
 * UTC time the batch is sent.
 *
 * Addressing: no `endpoint` → `https://<bucket>.s3.<region>.amazonaws.com/<key>`
 * (virtual-hosted, region default `us-east-1`); with an `endpoint` (MinIO, a test host) →
 * path-style `<endpoint>/<bucket>/<key>`. Credentials: `auth_mode: credential_ref` reads
 * `OBJSTORE_CRED_<SLUG>_AWS_ACCESS_KEY_ID`, `_AWS_SECRET_ACCESS_KEY` and optional
 * `_AWS_SESSION_TOKEN`; `cloud_identity` reads the process's standard `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (as injected by the runtime; no IMDS lookup).
 * Missing credentials are a delivery error (logged, the batch counted as failed).
 */
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { sha256Hex, signV4 } from '../guardrails/remote/sigv4.js';
import { BatchPipeline, type SendResult } from './batch-pipeline.js';
import type { UsageSink } from './bus.js';
import type { UsageEvent } from './events.js';

const gzip = promisify(gzipCb);

export interface ObjectStoreConfig {
  readonly name: string;
  readonly provider: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly auth_mode?: string | undefined;
  readonly credential_ref?: string | undefined;
  readonly compression?: string | undefined;
}

/** Object-store providers this gateway writes to today. */
export const LIVE_OBJECT_STORE_PROVIDERS: ReadonlySet<string> = new Set(['s3']);

const MAX_BATCH = 5000;
const WARN_EVERY_MS = 60_000;

/** `OBJSTORE_CRED_<SLUG>_<FIELD>`; slug = ref upper-cased, every non-alphanumeric as `_`. */
export function objectStoreCredentialEnv(ref: string, field: string): string {
  return `OBJSTORE_CRED_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${field}`;
}

const pad = (n: number) => String(n).padStart(2, '0');
const encodeKey = (key: string) =>
  key
    .split('/')
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join('/');

/** The object key of a batch sent at `now` (see the layout above). */
export function objectKey(prefix: string, now: Date, unique: string, gzipped: boolean): string {
  const p = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const day = `${now.getUTCFullYear()}-${pad(now.getUTCMonth() + 1)}-${pad(now.getUTCDate())}`;
  return `${p}dt=${day}/hour=${pad(now.getUTCHours())}/${now.getTime()}-${unique}.jsonl${gzipped ? '.gz' : ''}`;
}

/** The URL an S3 object is written to. */
export function s3ObjectUrl(c: Pick<ObjectStoreConfig, 'bucket' | 'region' | 'endpoint'>, key: string): URL {
  if (c.endpoint) {
    const base = c.endpoint.endsWith('/') ? c.endpoint : `${c.endpoint}/`;
    return new URL(`${encodeKey(c.bucket)}/${encodeKey(key)}`, base);
  }
  return new URL(`https://${c.bucket}.s3.${c.region || 'us-east-1'}.amazonaws.com/${encodeKey(key)}`);
}

interface AwsCreds {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

export class ObjectStoreSink implements UsageSink {
  readonly name: string;
  private readonly pipeline: BatchPipeline<UsageEvent>;
  private readonly agent = new Agent({ connections: 2, headersTimeout: 30_000, bodyTimeout: 30_000 });
  private readonly unique = `${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${process.pid}`;
  private seq = 0;
  private lastWarn = 0;

  constructor(
    private readonly c: ObjectStoreConfig,
    private readonly logger: Logger,
    tuning: { flushIntervalMs?: number; backoffMs?: number } = {},
  ) {
    if (!LIVE_OBJECT_STORE_PROVIDERS.has(c.provider))
      throw new Error(`object_store provider ${c.provider} is not delivered yet`);
    this.name = c.name;
    this.pipeline = new BatchPipeline<UsageEvent>({
      send: (b) => this.send(b),
      maxBatch: MAX_BATCH,
      ...tuning,
    });
  }

  offer(events: readonly UsageEvent[]): number {
    let dropped = 0;
    for (const e of events) if (!this.pipeline.push(e)) dropped++;
    return dropped;
  }

  private warn(msg: string, extra: Record<string, unknown> = {}): void {
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.logger.warn({ exporter: this.name, ...extra }, msg);
  }

  private credentials(): AwsCreds | string {
    if (this.c.auth_mode === 'cloud_identity') {
      const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = process.env;
      return id && secret
        ? { accessKeyId: id, secretAccessKey: secret, sessionToken: token }
        : 'AWS_ACCESS_KEY_ID';
    }
    const ref = this.c.credential_ref ?? '';
    const idEnv = objectStoreCredentialEnv(ref, 'AWS_ACCESS_KEY_ID');
    const secretEnv = objectStoreCredentialEnv(ref, 'AWS_SECRET_ACCESS_KEY');
    const id = process.env[idEnv];
    const secret = process.env[secretEnv];
    if (!id) return idEnv;
    if (!secret) return secretEnv;
    return {
      accessKeyId: id,
      secretAccessKey: secret,
      sessionToken: process.env[objectStoreCredentialEnv(ref, 'AWS_SESSION_TOKEN')],
    };
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

  private async send(batch: UsageEvent[]): Promise<SendResult> {
    const creds = this.credentials();
    if (typeof creds === 'string') {
      this.warn('object_store exporter: credential environment variable is not set', { env: creds });
      return 'drop';
    }
    const { key, body } = await this.prepare(batch);
    const url = s3ObjectUrl(this.c, key);
    const headers: Record<string, string> = {
      'content-type': 'application/x-ndjson',
      'x-amz-content-sha256': sha256Hex(body),
    };
    if (this.c.compression !== 'none') headers['content-encoding'] = 'gzip';
    const signed = signV4({
      method: 'PUT',
      url,
      region: this.c.region || 'us-east-1',
      service: 's3',
      ...creds,
      headers,
      body,
      now: new Date(),
    });
    try {
      const res = await request(url, { method: 'PUT', dispatcher: this.agent, headers: signed, body });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return 'ok';
      if (res.statusCode === 429 || res.statusCode >= 500) return 'retry';
      this.warn('object_store exporter: the store refused an object', { status: res.statusCode });
      return 'drop';
    } catch {
      this.warn('object_store exporter: the store is unreachable');
      return 'retry';
    }
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
