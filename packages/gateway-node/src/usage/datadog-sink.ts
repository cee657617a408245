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
import { BatchedSink, postBatch, type SendResult, type SinkTuning } from './batch-pipeline.js';
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

export class DatadogSink extends BatchedSink<Entry> implements UsageSink {
  readonly contentMaxBytes: number;
  private readonly url: string;
  private readonly envName: string;
  private readonly base: Entry;

  constructor(c: DatadogConfig, logger: Logger, tuning: SinkTuning = {}) {
    super(c.name, logger, { maxBatch: MAX_BATCH, timeoutMs: 10_000, ...tuning });
    this.contentMaxBytes = c.contentMaxBytes ?? 0;
    this.url = intakeUrl(c.site);
    this.envName = credentialEnv(c.credential_ref);
    this.base = {
      ddsource: c.ddsource ?? 'aisix-ai-gateway',
      ddtags: (c.tags ?? []).join(','),
      hostname: hostname(),
      service: c.service,
    };
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

  protected async send(batch: Entry[]): Promise<SendResult> {
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
}
