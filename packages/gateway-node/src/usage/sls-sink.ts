/**
 * The `aliyun_sls` observability exporter: usage events as Simple Log Service logs through the
 * PutLogs API: `POST https://<project>.<endpoint host>/logstores/<logstore>/shards/lb`, body a
 * protobuf `LogGroup` (one `Log` per event: `Time` = `occurred_at` in seconds, one `Content` per
 * event field, non-string values as JSON; `Topic` `aisix-usage`, `Source` the host name),
 * deflate-compressed (`x-log-compresstype: deflate`, `x-log-bodyrawsize`), signed with the
 * documented `LOG <AccessKeyId>:<base64 HMAC-SHA1>` scheme (`x-log-signaturemethod: hmac-sha1`,
 * API version 0.6.0). Batched per exporter (`batch-pipeline.ts`), each call at most 1,000 logs
 * (PutLogs takes 4,096) and 5 MB of raw (uncompressed) LogGroup, read as 5,000,000 bytes. 429 and
 * 5xx are retried (`defaultRule`).
 *
 * Credentials from the gateway host's environment: `SLS_CRED_<SLUG>_AK_ID` and
 * `SLS_CRED_<SLUG>_AK_SECRET` (slug = `credential_ref` upper-cased, non-alphanumerics as `_`);
 * missing → delivery error. A loopback or `mock-*` endpoint (tests) is used as given, without the
 * project prepended to its host.
 */
import { createHash, createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import { deflateSync } from 'node:zlib';
import type { Logger } from 'pino';
import { defaultRule } from '../delivery-retry.js';
import { BatchedSink, postBatch, type SendResult, type SinkTuning } from './batch-pipeline.js';
import type { UsageSink } from './bus.js';
import { type UsageContent, withContent } from './content.js';
import type { UsageEvent } from './events.js';

/** One SLS log: an event's fields, plus the content of a full-content exporter. */
type SlsLog = UsageEvent & Partial<UsageContent>;

export interface SlsConfig {
  readonly name: string;
  readonly endpoint: string;
  readonly project: string;
  readonly logstore: string;
  readonly credential_ref: string;
  /** `content_max_bytes` in `content_mode: full`; 0: metadata only. */
  readonly contentMaxBytes?: number | undefined;
}

const MAX_BATCH = 1000;
/** Raw (uncompressed) LogGroup bytes per PutLogs call: SLS refuses a group over 5 MB. */
export const MAX_GROUP_BYTES = 5_000_000;
const TOPIC = 'aisix-usage';

export function slsCredentialEnv(ref: string, field: 'AK_ID' | 'AK_SECRET'): string {
  return `SLS_CRED_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${field}`;
}

/** The PutLogs URL: the project is a subdomain of the regional endpoint (not for test hosts). */
export function putLogsUrl(c: Pick<SlsConfig, 'endpoint' | 'project' | 'logstore'>): URL {
  const u = new URL(c.endpoint.includes('://') ? c.endpoint : `https://${c.endpoint}`);
  if (u.hostname.endsWith('.aliyuncs.com')) u.hostname = `${c.project}.${u.hostname}`;
  u.pathname = `/logstores/${encodeURIComponent(c.logstore)}/shards/lb`;
  return u;
}

/** The SLS signature string: verb, MD5, type, date, sorted `x-log-`/`x-acs-` headers, resource. */
export function slsStringToSign(method: string, headers: Record<string, string>, resource: string): string {
  const log = Object.keys(headers)
    .filter((n) => n.startsWith('x-log-') || n.startsWith('x-acs-'))
    .sort()
    .map((n) => `${n}:${headers[n]}`)
    .join('\n');
  return [
    method,
    headers['content-md5'] ?? '',
    headers['content-type'] ?? '',
    headers.date ?? '',
    log,
    resource,
  ].join('\n');
}

// Protobuf wire encoding of sls.LogGroup (field numbers from the published log.proto).
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
const lenField = (field: number, b: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
const strField = (field: number, s: string) => lenField(field, Buffer.from(s, 'utf8'));

function encodeLog(e: SlsLog): Buffer {
  const parts: Buffer[] = [];
  const t = Math.floor(Date.parse(e.occurred_at) / 1000) || Math.floor(Date.now() / 1000);
  parts.push(varint(1 << 3), varint(t));
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined || v === null) continue;
    const value = typeof v === 'string' ? v : JSON.stringify(v);
    parts.push(lenField(2, Buffer.concat([strField(1, k), strField(2, value)])));
  }
  return Buffer.concat(parts);
}

export function encodeLogGroup(events: readonly SlsLog[], source: string): Buffer {
  return groupOf(
    events.map((e) => lenField(1, encodeLog(e))),
    source,
  );
}

/** A LogGroup of logs already encoded as its field 1. */
function groupOf(logs: Buffer[], source: string): Buffer {
  return Buffer.concat([...logs, strField(3, TOPIC), strField(4, source)]);
}

export class SlsSink extends BatchedSink<SlsLog> implements UsageSink {
  readonly contentMaxBytes: number;
  private readonly url: URL;
  private readonly source = hostname();
  /** The raw LogGroup of each part `split` made, encoded once (a retry sends the same logs). */
  private readonly groups = new WeakMap<SlsLog[], Buffer>();

  constructor(
    private readonly c: SlsConfig,
    logger: Logger,
    tuning: SinkTuning = {},
  ) {
    super(c.name, logger, { maxBatch: MAX_BATCH, timeoutMs: 10_000, ...tuning });
    this.contentMaxBytes = c.contentMaxBytes ?? 0;
    this.url = putLogsUrl(c);
  }

  offer(events: readonly UsageEvent[], content?: UsageContent): number {
    let dropped = 0;
    for (const e of withContent(events, content, this.contentMaxBytes)) if (!this.pipeline.push(e)) dropped++;
    return dropped;
  }

  /** Parts of at most `MAX_BATCH` logs and `MAX_GROUP_BYTES` of raw LogGroup. */
  protected override split(batch: SlsLog[]): SlsLog[][] {
    const tail = strField(3, TOPIC).length + strField(4, this.source).length;
    const parts: SlsLog[][] = [];
    let part: SlsLog[] = [];
    let logs: Buffer[] = [];
    let bytes = tail;
    for (const e of batch) {
      const log = lenField(1, encodeLog(e));
      if (part.length > 0 && (part.length >= MAX_BATCH || bytes + log.length > MAX_GROUP_BYTES)) {
        parts.push(part);
        this.groups.set(part, groupOf(logs, this.source));
        part = [];
        logs = [];
        bytes = tail;
      }
      part.push(e);
      logs.push(log);
      bytes += log.length;
    }
    if (part.length > 0) {
      parts.push(part);
      this.groups.set(part, groupOf(logs, this.source));
    }
    return parts;
  }

  protected async send(batch: SlsLog[]): Promise<SendResult> {
    const idEnv = slsCredentialEnv(this.c.credential_ref, 'AK_ID');
    const secretEnv = slsCredentialEnv(this.c.credential_ref, 'AK_SECRET');
    const id = process.env[idEnv];
    const secret = process.env[secretEnv];
    if (!id || !secret) {
      this.warn('aliyun_sls exporter: credential environment variable is not set', {
        env: id ? secretEnv : idEnv,
      });
      return 'drop';
    }
    const raw = this.groups.get(batch) ?? encodeLogGroup(batch, this.source);
    const body = deflateSync(raw);
    const headers: Record<string, string> = {
      'content-type': 'application/x-protobuf',
      'content-md5': createHash('md5').update(body).digest('hex').toUpperCase(),
      'content-length': String(body.length),
      date: new Date().toUTCString(),
      'x-log-apiversion': '0.6.0',
      'x-log-bodyrawsize': String(raw.length),
      'x-log-compresstype': 'deflate',
      'x-log-signaturemethod': 'hmac-sha1',
    };
    const sig = createHmac('sha1', secret)
      .update(slsStringToSign('POST', headers, this.url.pathname), 'utf8')
      .digest('base64');
    headers.authorization = `LOG ${id}:${sig}`;
    return postBatch(
      this.url,
      { dispatcher: this.agent, headers, body },
      defaultRule,
      (msg, extra) => this.warn(msg, extra),
      {
        refused: 'aliyun_sls exporter: PutLogs refused a batch',
        unreachable: 'aliyun_sls exporter: endpoint unreachable',
      },
    );
  }
}
