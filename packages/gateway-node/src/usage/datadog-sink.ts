/**
 * The `datadog` observability exporter: usage events as Datadog logs through the HTTP logs
 * intake (`POST https://http-intake.logs.<site>/api/v2/logs`, `DD-API-KEY` header, a JSON array
 * of entries with `ddsource`, `ddtags`, `hostname`, `service`, `message` and the event's fields
 * as attributes), batched per exporter (`batch-pipeline.ts`). The API key comes from the gateway
 * host's environment: `DD_CRED_<SLUG>_API_KEY`, slug = `credential_ref` upper-cased with every
 * non-alphanumeric as `_`. A missing key is a delivery error (logged, batches counted as failed).
 * A test host as `site` (loopback or `mock-*`, optionally with a port or `http://`) is sent to over
 * plain HTTP at `/api/v2/logs`.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { BatchPipeline, postBatch, type SendResult } from './batch-pipeline.js';
import type { UsageSink } from './bus.js';
import { type UsageContent, withContent } from './content.js';
import type { UsageEvent } from './events.js';

export interface DatadogConfig {
  readonly name: string;
  readonly site: string;
  readonly service: string;
  readonly credential_ref: string;
  readonly ddsource?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  /** `content_max_bytes` in `content_mode: full`; 0: metadata only. */
  readonly contentMaxBytes?: number | undefined;
}

/** Datadog's documented limit is 1,000 entries per payload. */
const MAX_BATCH = 1000;
const WARN_EVERY_MS = 60_000;

export function credentialEnv(ref: string): string {
  return `DD_CRED_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_API_KEY`;
}

export function intakeUrl(site: string): string {
  const real = /^(?:[a-z0-9]+\.)?(?:datadoghq\.com|datadoghq\.eu|ddog-gov\.com)$/.test(site);
  if (real) return `https://http-intake.logs.${site}/api/v2/logs`;
  const base = site.includes('://') ? site : `http://${site}`;
  return new URL('/api/v2/logs', base).toString();
}

type Entry = Record<string, unknown>;

export class DatadogSink implements UsageSink {
  readonly name: string;
  readonly contentMaxBytes: number;
  private readonly pipeline: BatchPipeline<Entry>;
  private readonly agent = new Agent({ connections: 2, headersTimeout: 10_000, bodyTimeout: 10_000 });
  private readonly url: string;
  private readonly envName: string;
  private readonly base: Entry;
  private lastWarn = 0;

  constructor(
    c: DatadogConfig,
    private readonly logger: Logger,
    tuning: { flushIntervalMs?: number; backoffMs?: number } = {},
  ) {
    this.name = c.name;
    this.contentMaxBytes = c.contentMaxBytes ?? 0;
    this.url = intakeUrl(c.site);
    this.envName = credentialEnv(c.credential_ref);
    this.base = {
      ddsource: c.ddsource ?? 'aisix-ai-gateway',
      ddtags: (c.tags ?? []).join(','),
      hostname: hostname(),
      service: c.service,
    };
    this.pipeline = new BatchPipeline<Entry>({ send: (b) => this.send(b), maxBatch: MAX_BATCH, ...tuning });
  }

  offer(events: readonly UsageEvent[], content?: UsageContent): number {
    let dropped = 0;
    for (const e of withContent(events, content, this.contentMaxBytes)) {
      const entry: Entry = {
        ...e,
        ...this.base,
        message: `aisix usage ${e.endpoint} ${e.status_code} attempt ${e.attempt_index}`,
        // `status` is Datadog's log level attribute.
        status: e.status_code >= 500 ? 'error' : e.status_code >= 400 ? 'warn' : 'info',
      };
      if (!this.pipeline.push(entry)) dropped++;
    }
    return dropped;
  }

  private warn(msg: string, extra: Record<string, unknown> = {}): void {
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.logger.warn({ exporter: this.name, ...extra }, msg);
  }

  private async send(batch: Entry[]): Promise<SendResult> {
    const key = process.env[this.envName];
    if (!key) {
      this.warn('datadog exporter: API key environment variable is not set', { env: this.envName });
      return 'drop';
    }
    return postBatch(
      this.url,
      {
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', 'dd-api-key': key },
        body: JSON.stringify(batch),
      },
      (msg, extra) => this.warn(msg, extra),
      {
        refused: 'datadog exporter: intake refused a batch',
        unreachable: 'datadog exporter: intake unreachable',
      },
    );
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
