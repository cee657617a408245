/**
 * The live set of `observability_exporters`: reconciled against the config snapshot a request
 * runs on (one identity check per request; the work happens once per new snapshot). An exporter
 * added, edited (any field) or removed in the store is started, restarted or stopped on the
 * next request of the new snapshot; a disabled one is stopped. Each has its own bounded,
 * batched, retrying pipeline and is attached to the usage bus as a sink.
 *
 * Kinds delivered today: `otlp_http`. The others are validated and stored; the CLI's inert-
 * resource warning names them.
 */
import type { ConfigSnapshot } from '@aisix/core';
import type { Logger } from 'pino';
import type { UsageBus } from './bus.js';
import { OtlpEventSink } from './otlp-sink.js';

interface Live {
  readonly fingerprint: string;
  readonly sink: OtlpEventSink;
}

export const LIVE_EXPORTER_KINDS: ReadonlySet<string> = new Set(['otlp_http']);

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
        const v = w.value;
        const sink = new OtlpEventSink(
          {
            name: String(v.name),
            endpoint: String(v.endpoint),
            headers: v.headers as Record<string, string> | undefined,
            sample_rate: v.sample_rate as number | undefined,
          },
          this.version,
          this.logger,
          this.tuning,
        );
        this.bus.attach(sink);
        this.live.set(id, { fingerprint: w.fingerprint, sink });
      } catch (err) {
        this.logger.error({ exporter: id, err }, 'observability exporter could not start');
      }
    }
  }

  private stop(id: string, l: Live): void {
    this.bus.detach(l.sink);
    this.live.delete(id);
    // What it holds is still sent (bounded by the deadline), in the background.
    void l.sink.close();
  }

  /** Exporter name -> its pipeline counters (for status and tests). */
  stats(): Record<string, ReturnType<OtlpEventSink['stats']>> {
    const out: Record<string, ReturnType<OtlpEventSink['stats']>> = {};
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
