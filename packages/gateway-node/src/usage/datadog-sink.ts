/**
 * The `datadog` observability exporter: usage events as Datadog logs through the HTTP logs
 * intake (`POST https://http-intake.logs.<site>/api/v2/logs`, `DD-API-KEY` header, a JSON array
 * of entries with `ddsource`, `ddtags`, `hostname`, `service`, `message` and the event's fields
 * as attributes, `timestamp` the event time in epoch ms), batched per exporter (`batch-pipeline.ts`)
 * within the intake's documented limits: at most 1,000 entries and 5 MB of uncompressed JSON per
 * request (read as 5,000,000 bytes, under 5 MiB too), an entry at most 1 MB (1,000,000 bytes; a
 * larger one has its `prompt` and `completion` cut to fit and `content_truncated: true`). 408, 429
 * and 5xx are retried (`datadogRule`). The API key comes from the gateway
 * host's environment: `DD_CRED_<SLUG>_API_KEY`, slug = `credential_ref` upper-cased with every
 * non-alphanumeric as `_`. A missing key is a delivery error (logged, batches counted as failed).
 * A test host as `site` (loopback or `mock-*`, optionally with a port or `http://`) is sent to over
 * plain HTTP at `/api/v2/logs`.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { datadogRule } from '../delivery-retry.js';
import { BatchedSink, postBatch, type SendResult, type SinkTuning } from './batch-pipeline.js';
import type { UsageSink } from './bus.js';
import { capUtf8, type UsageContent, withContent } from './content.js';
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
/**
 * Uncompressed bytes per payload: the intake answers 413 above "5MB". Read as 5,000,000 bytes,
 * which is also under 5 MiB whichever the intake means.
 */
export const MAX_PAYLOAD_BYTES = 5_000_000;
/** Bytes of one entry's JSON: the intake's documented 1 MB per log. */
export const MAX_ENTRY_BYTES = 1_000_000;

type Entry = Record<string, unknown>;

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

/** `s` cut so that its JSON string literal, quotes excluded, is at most `max` bytes. */
function capJsonString(s: string, max: number): string {
  let r = capUtf8(s, max);
  for (;;) {
    const n = jsonBytes(r) - 2;
    if (n <= max) return r;
    // Escapes made it longer than its UTF-8: shrink in proportion, until it fits.
    r = capUtf8(r, Math.floor((Buffer.byteLength(r, 'utf8') * max) / n));
  }
}

/**
 * The JSON of one entry, at most `MAX_ENTRY_BYTES`: a larger entry with content has `prompt` and
 * `completion` cut (each gets half the room left by the rest of the entry, a shorter one leaving
 * what it does not use to the other) and says so with `content_truncated: true`. An entry over the
 * limit without content (its metadata alone) is left as is: the intake cuts it, it is not refused.
 */
export function entryJson(e: Entry): string {
  const text = JSON.stringify(e);
  if (text.length <= MAX_ENTRY_BYTES / 3 || Buffer.byteLength(text, 'utf8') <= MAX_ENTRY_BYTES) return text;
  const prompt = typeof e.prompt === 'string' ? e.prompt : undefined;
  const completion = typeof e.completion === 'string' ? e.completion : undefined;
  if (prompt === undefined && completion === undefined) return text;
  const room =
    MAX_ENTRY_BYTES -
    jsonBytes({
      ...e,
      ...(prompt === undefined ? {} : { prompt: '' }),
      ...(completion === undefined ? {} : { completion: '' }),
      content_truncated: true,
    });
  if (room < 0) return text;
  const p = prompt === undefined ? 0 : jsonBytes(prompt) - 2;
  const c = completion === undefined ? 0 : jsonBytes(completion) - 2;
  let forPrompt = Math.floor(room / 2);
  if (p < forPrompt) forPrompt = p;
  else if (c < room - forPrompt) forPrompt = room - c;
  const cut: Entry = { ...e, content_truncated: true };
  if (prompt !== undefined) cut.prompt = capJsonString(prompt, forPrompt);
  if (completion !== undefined) cut.completion = capJsonString(completion, room - forPrompt);
  return JSON.stringify(cut);
}

export function credentialEnv(ref: string): string {
  return `DD_CRED_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_API_KEY`;
}

export function intakeUrl(site: string): string {
  const real = /^(?:[a-z0-9]+\.)?(?:datadoghq\.com|datadoghq\.eu|ddog-gov\.com)$/.test(site);
  if (real) return `https://http-intake.logs.${site}/api/v2/logs`;
  const base = site.includes('://') ? site : `http://${site}`;
  return new URL('/api/v2/logs', base).toString();
}

export class DatadogSink extends BatchedSink<Entry> implements UsageSink {
  readonly contentMaxBytes: number;
  private readonly url: string;
  private readonly envName: string;
  private readonly base: Entry;
  /** The body of each part `split` made, written once (a retry sends the same bytes). */
  private readonly bodies = new WeakMap<Entry[], string>();

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
        // Datadog's reserved date attribute (epoch ms): the log is dated at the event, not at intake.
        timestamp: Date.parse(e.occurred_at),
        message: `aisix usage ${e.endpoint} ${e.status_code} attempt ${e.attempt_index}`,
        // `status` is Datadog's log level attribute.
        status: e.status_code >= 500 ? 'error' : e.status_code >= 400 ? 'warn' : 'info',
      };
      if (!this.pipeline.push(entry)) dropped++;
    }
    return dropped;
  }

  /** Parts of at most `MAX_BATCH` entries and `MAX_PAYLOAD_BYTES` of JSON, entries cut to fit. */
  protected override split(batch: Entry[]): Entry[][] {
    const parts: Entry[][] = [];
    let part: Entry[] = [];
    let texts: string[] = [];
    let bytes = 0;
    const close = () => {
      parts.push(part);
      this.bodies.set(part, `[${texts.join(',')}]`);
    };
    for (const e of batch) {
      const text = entryJson(e);
      const n = Buffer.byteLength(text, 'utf8');
      // `[`, `]` and a comma between entries.
      if (part.length > 0 && (part.length >= MAX_BATCH || bytes + 2 + texts.length + n > MAX_PAYLOAD_BYTES)) {
        close();
        part = [];
        texts = [];
        bytes = 0;
      }
      part.push(e);
      texts.push(text);
      bytes += n;
    }
    if (part.length > 0) close();
    return parts;
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
        body: this.bodies.get(batch) ?? `[${batch.map(entryJson).join(',')}]`,
      },
      datadogRule,
      (msg, extra) => this.warn(msg, extra),
      {
        refused: 'datadog exporter: intake refused a batch',
        unreachable: 'datadog exporter: intake unreachable',
      },
    );
  }
}
