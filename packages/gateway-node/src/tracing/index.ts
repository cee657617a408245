/**
 * Tracing entry point: `createTracing(config)` returns undefined when
 * `observability.tracing.otlp.enabled` is false (the default), else a tracer wired to an OTLP/HTTP
 * JSON exporter. The CLI passes `tracer` to `startGateway` and calls `shutdown()` in its drain.
 */
import type { Logger } from 'pino';
import { type ExporterOptions, type ExporterStats, OtlpHttpExporter } from './exporter.js';
import { Tracer } from './tracer.js';

export interface TracingConfig {
  readonly service_name?: string;
  readonly tracing?: {
    readonly otlp?: {
      readonly enabled?: boolean;
      readonly endpoint?: string;
      readonly sample_ratio?: number;
    };
  };
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly exporter: OtlpHttpExporter;
  /** Sends what is queued (bounded by `timeoutMs`) and closes the exporter. */
  shutdown(timeoutMs?: number): Promise<ExporterStats>;
}

export function createTracing(
  observability: TracingConfig | undefined,
  o: { readonly version: string; readonly logger?: Logger } & Partial<ExporterOptions>,
): Tracing | undefined {
  const otlp = observability?.tracing?.otlp;
  if (!otlp?.enabled || !otlp.endpoint) return undefined;
  const exporter = new OtlpHttpExporter({
    ...o,
    endpoint: o.endpoint ?? otlp.endpoint,
    serviceName: o.serviceName ?? observability?.service_name ?? 'aisix',
  });
  const tracer = new Tracer({ sink: exporter, sampleRatio: otlp.sample_ratio ?? 1 });
  return { tracer, exporter, shutdown: (ms) => exporter.shutdown(ms) };
}

export { type ExporterOptions, type ExporterStats, OtlpHttpExporter, tracesUrl } from './exporter.js';
export { parseTraceparent, sampled } from './ids.js';
export type { OtlpSpan } from './otlp.js';
export { type AttemptKind, AttemptSpan, RequestTrace, type SpanSink, Tracer } from './tracer.js';
