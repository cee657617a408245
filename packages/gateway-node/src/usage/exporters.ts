/**
 * The live set of `observability_exporters`: reconciled against the config snapshot a request
 * runs on (one identity check per request; the work happens once per new snapshot). An exporter
 * added, edited (any field) or removed in the store is started, restarted or stopped on the
 * next request of the new snapshot; a disabled one is stopped. Each has its own bounded,
 * batched, retrying pipeline and is attached to the usage bus as a sink.
 *
 * Kinds delivered: `otlp_http`, `datadog`, `object_store` (s3, gcs, azure_blob), `aliyun_sls`.
 */
import type { ConfigSnapshot } from '@aisix/core';
import type { Logger } from 'pino';
import type { UsageBus, UsageSink } from './bus.js';
import { DatadogSink } from './datadog-sink.js';
import { ObjectStoreSink } from './object-store-sink.js';
import { OtlpEventSink } from './otlp-sink.js';
import { SlsSink } from './sls-sink.js';

/** A running exporter: a usage sink with its own pipeline. */
interface ExporterSink extends UsageSink {
  stats(): object;
  close(timeoutMs?: number): Promise<unknown>;
}

interface Live {
  readonly fingerprint: string;
  readonly sink: ExporterSink;
}

export const LIVE_EXPORTER_KINDS: ReadonlySet<string> = new Set([
  'otlp_http',
  'datadog',
  'object_store',
  'aliyun_sls',
]);

export class Exporters {
  private last: ConfigSnapshot | undefined;
  private readonly live = new Map<string, Live>();

  constructor(
    private readonly bus: UsageBus,
    private readonly version: string,
    private readonly logger: Logger,
    private readonly tuning: { flushIntervalMs?: number } = {},
  ) {}

  sync(s: ConfigSnapshot): void {
    if (s === this.last) return;
    this.last = s;
    const want = new Map<string, { fingerprint: string; value: Record<string, unknown> }>();
    for (const r of s.byId('observability_exporters').values()) {
      const v = r.value as Record<string, unknown>;
      if (v.enabled === false || !LIVE_EXPORTER_KINDS.has(String(v.kind))) continue;
      want.set(r.id, { fingerprint: JSON.stringify(v), value: v });
    }
    for (const [id, l] of this.live) {
      if (want.get(id)?.fingerprint === l.fingerprint) continue;
      this.stop(id, l);
    }
    for (const [id, w] of want) {
      if (this.live.has(id)) continue;
      try {
        const sink = this.start(w.value);
        this.bus.attach(sink);
        this.live.set(id, { fingerprint: w.fingerprint, sink });
      } catch (err) {
        this.logger.error({ exporter: id, err }, 'observability exporter could not start');
      }
    }
  }

  private start(v: Record<string, unknown>): ExporterSink {
    const name = String(v.name);
    const tuning = { ...this.tuning, onLost: (n: number) => this.bus.lost(name, n) };
    // Object stores have no content mode (control-plane §3.9): metadata only.
    const contentMaxBytes = v.content_mode === 'full' ? Number(v.content_max_bytes ?? 131_072) : 0;
    if (v.kind === 'datadog')
      return new DatadogSink(
        {
          name,
          site: String(v.site),
          service: String(v.service),
          credential_ref: String(v.credential_ref),
          ddsource: v.ddsource as string | undefined,
          tags: v.tags as string[] | undefined,
          contentMaxBytes,
        },
        this.logger,
        tuning,
      );
    if (v.kind === 'aliyun_sls')
      return new SlsSink(
        {
          name,
          endpoint: String(v.endpoint),
          project: String(v.project),
          logstore: String(v.logstore),
          credential_ref: String(v.credential_ref),
          contentMaxBytes,
        },
        this.logger,
        tuning,
      );
    if (v.kind === 'object_store')
      return new ObjectStoreSink(
        {
          name,
          provider: String(v.provider),
          bucket: String(v.bucket),
          prefix: String(v.prefix ?? ''),
          region: v.region as string | undefined,
          endpoint: v.endpoint as string | undefined,
          auth_mode: v.auth_mode as string | undefined,
          credential_ref: v.credential_ref as string | undefined,
          compression: v.compression as string | undefined,
        },
        this.logger,
        tuning,
      );
    return new OtlpEventSink(
      {
        name,
        endpoint: String(v.endpoint),
        headers: v.headers as Record<string, string> | undefined,
        sample_rate: v.sample_rate as number | undefined,
        contentMaxBytes,
      },
      this.version,
      this.logger,
      tuning,
    );
  }

  private stop(id: string, l: Live): void {
    this.bus.detach(l.sink);
    this.live.delete(id);
    // What it holds is still sent (bounded by the deadline), in the background.
    void l.sink.close();
  }

  /** Exporter name -> its pipeline counters (for status and tests). */
  stats(): Record<string, object> {
    const out: Record<string, object> = {};
    for (const l of this.live.values()) out[l.sink.name] = l.sink.stats();
    return out;
  }

  async close(): Promise<void> {
    const all = [...this.live.values()];
    this.live.clear();
    for (const l of all) this.bus.detach(l.sink);
    await Promise.allSettled(all.map((l) => l.sink.close()));
  }
}
