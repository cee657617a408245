/**
 * The `otlp_http` observability exporter: each request's usage events become OTLP spans (GenAI
 * semantic conventions) sent as OTLP/HTTP JSON through the batched, bounded, retrying
 * `OtlpHttpExporter` (`tracing/exporter.ts`): one SERVER span for the request and one CLIENT
 * span per upstream attempt under it (OP-13). `sample_rate` is decided per request id, the same
 * way on every gateway process.
 *
 * `content_mode: full` adds `gen_ai.prompt` and `gen_ai.completion` (cut at `content_max_bytes`)
 * to the span of the attempt that served the answer, or to the request span when no attempt
 * ran (a cache hit). `headers` (collector auth) are sent, never logged.
 */
import type { Logger } from 'pino';
import { OtlpHttpExporter } from '../tracing/exporter.js';
import { newSpanId, sampled, traceIdFor } from '../tracing/ids.js';
import {
  int,
  type OtlpAttribute,
  type OtlpSpan,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  STATUS_ERROR,
  STATUS_OK,
  str,
  strs,
} from '../tracing/otlp.js';
import type { UsageSink } from './bus.js';
import { capUtf8, type UsageContent } from './content.js';
import type { UsageEvent } from './events.js';

export interface OtlpSinkConfig {
  readonly name: string;
  readonly endpoint: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly sample_rate?: number | undefined;
  /** `content_max_bytes` in `content_mode: full`; 0: metadata only. */
  readonly contentMaxBytes?: number | undefined;
}

/** Spans (not events) held per exporter before new ones are dropped. */
const MAX_QUEUE = 4096;

const ms2ns = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

/** `chat.completions` for `/v1/chat/completions`, `messages` for `/v1/messages`, ... */
function spanName(endpoint: string): string {
  return endpoint.startsWith('/v1/') ? endpoint.slice(4).replaceAll('/', '.') : endpoint;
}

function operation(endpoint: string): string {
  if (endpoint === '/v1/embeddings') return 'embeddings';
  if (endpoint === '/v1/completions') return 'text_completion';
  return 'chat';
}

export class OtlpEventSink implements UsageSink {
  readonly name: string;
  readonly contentMaxBytes: number;
  private readonly exporter: OtlpHttpExporter;
  private readonly rate: number;

  constructor(c: OtlpSinkConfig, version: string, logger: Logger, tuning: { flushIntervalMs?: number } = {}) {
    this.name = c.name;
    this.contentMaxBytes = c.contentMaxBytes ?? 0;
    this.rate = c.sample_rate ?? 1;
    this.exporter = new OtlpHttpExporter({
      endpoint: c.endpoint,
      serviceName: 'aisix-dp',
      version,
      logger,
      maxQueue: MAX_QUEUE,
      ...(c.headers ? { headers: c.headers } : {}),
      ...tuning,
    });
  }

  offer(events: readonly UsageEvent[], content?: UsageContent): number {
    const first = events[0];
    if (first === undefined) return 0;
    const traceId = traceIdFor(first.request_id);
    if (!sampled(traceId, this.rate)) return 0;
    const before = this.exporter.stats().dropped;
    const reqId = newSpanId();
    const end = Date.parse(first.occurred_at);
    const last = events[events.length - 1] as UsageEvent;
    const reqAttrs: OtlpAttribute[] = [];
    str(reqAttrs, 'aisix.request_id', first.request_id);
    str(reqAttrs, 'aisix.api_key_id', first.api_key_id);
    str(reqAttrs, 'gen_ai.request.model', first.requested_model);
    int(reqAttrs, 'http.response.status_code', last.status_code);
    int(reqAttrs, 'aisix.attempt_count', last.attempt_started_at === null ? 0 : events.length);
    str(reqAttrs, 'aisix.exporter_name', this.name);
    // MCP tool calls have no attempt spans: their server and tool ride on the request span.
    str(reqAttrs, 'aisix.mcp_server_name', first.mcp_server_name);
    str(reqAttrs, 'aisix.mcp_tool_name', first.mcp_tool_name);
    const attempts = last.attempt_started_at !== null;
    if (!attempts) this.addContent(reqAttrs, content);
    this.exporter.export({
      traceId,
      spanId: reqId,
      name: `POST ${first.endpoint}`,
      kind: SPAN_KIND_SERVER,
      startTimeUnixNano: ms2ns(end - first.downstream_latency_ms),
      endTimeUnixNano: ms2ns(end),
      attributes: reqAttrs,
      status: { code: last.status_code < 400 ? STATUS_OK : STATUS_ERROR },
    });
    for (const e of events) {
      if (e.attempt_started_at === null) continue;
      const span = this.attemptSpan(e, traceId, reqId);
      if (e === last) this.addContent(span.attributes, content);
      this.exporter.export(span);
    }
    // Counted in events (the bus's unit), not spans: the request span is extra.
    return Math.min(this.exporter.stats().dropped - before, events.length);
  }

  private addContent(a: OtlpAttribute[], content: UsageContent | undefined): void {
    if (content === undefined || this.contentMaxBytes <= 0) return;
    str(a, 'gen_ai.prompt', capUtf8(content.prompt, this.contentMaxBytes));
    str(a, 'gen_ai.completion', capUtf8(content.completion, this.contentMaxBytes));
  }

  private attemptSpan(
    e: UsageEvent,
    traceId: string,
    parent: string,
  ): OtlpSpan & { attributes: OtlpAttribute[] } {
    const start = Date.parse(e.attempt_started_at as string);
    const a: OtlpAttribute[] = [];
    str(a, 'gen_ai.system', 'aisix');
    str(a, 'gen_ai.operation.name', operation(e.endpoint));
    str(a, 'gen_ai.request.model', e.requested_model);
    str(a, 'gen_ai.response.model', e.attempt_model);
    str(a, 'gen_ai.response.id', e.provider_request_id);
    // string[] in the GenAI semantic conventions; the gateway records one reason per attempt.
    strs(a, 'gen_ai.response.finish_reasons', e.finish_reason);
    int(a, 'gen_ai.usage.input_tokens', e.prompt_tokens);
    int(a, 'gen_ai.usage.output_tokens', e.completion_tokens);
    int(a, 'http.response.status_code', e.status_code);
    str(a, 'aisix.api_key_id', e.api_key_id);
    str(a, 'aisix.model_id', e.model_id);
    str(a, 'aisix.request_id', e.request_id);
    int(a, 'aisix.attempt_index', e.attempt_index);
    str(a, 'aisix.attempt_kind', e.attempt_kind);
    str(a, 'aisix.attempt_model', e.attempt_model);
    str(a, 'aisix.error_class', e.error_class);
    str(a, 'aisix.error_message', e.error_message);
    int(a, 'aisix.upstream_ttft_ms', e.upstream_ttft_ms ?? undefined);
    int(a, 'aisix.downstream_latency_ms', e.downstream_latency_ms);
    str(a, 'aisix.client_source_ip', e.client_source_ip);
    str(a, 'aisix.client_user_agent', e.client_user_agent);
    str(a, 'aisix.exporter_name', this.name);
    a.push({ key: 'aisix.usage_estimated', value: { boolValue: e.usage_estimated } });
    return {
      traceId,
      spanId: newSpanId(),
      parentSpanId: parent,
      name: spanName(e.endpoint),
      kind: SPAN_KIND_CLIENT,
      startTimeUnixNano: ms2ns(start),
      endTimeUnixNano: ms2ns(start + (e.upstream_latency_ms ?? 0)),
      attributes: a,
      status: { code: e.status_code >= 200 && e.status_code < 300 ? STATUS_OK : STATUS_ERROR },
    };
  }

  stats() {
    return this.exporter.stats();
  }

  close(timeoutMs = 2000): Promise<unknown> {
    return this.exporter.shutdown(timeoutMs);
  }
}
