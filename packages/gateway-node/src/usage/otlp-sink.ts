/**
 * The `otlp_http` observability exporter: each request's usage events become OTLP spans (GenAI
 * semantic conventions) sent as OTLP/HTTP JSON through the batched, bounded, retrying
 * `OtlpHttpExporter` (`tracing/exporter.ts`): one SERVER span for the request and under it one
 * INTERNAL span for the response cache's lookup and for each guardrail evaluation, and one
 * CLIENT span per upstream attempt (OP-13). `sample_rate` is decided per request id, the same
 * way on every gateway process. A request's spans are admitted (or dropped) when it ends and
 * rendered shortly after, in a batch with other requests' (`RENDER_REQUESTS`).
 *
 * `content_mode: full` adds `gen_ai.prompt` and `gen_ai.completion` (cut at `content_max_bytes`)
 * to the span of the attempt that served the answer, or to the request span when no attempt
 * ran (a cache hit). `headers` (collector auth) are sent, never logged.
 */
import type { Logger } from 'pino';
import { DeferredBatch } from '../deferred-batch.js';
import type { CacheUsage, RequestSteps } from '../pipeline/context.js';
import { OtlpHttpExporter } from '../tracing/exporter.js';
import { newSpanId, sampled, traceIdFor } from '../tracing/ids.js';
import {
  epochMsToNano,
  renderStr,
  SPAN_KIND_CLIENT,
  SPAN_KIND_INTERNAL,
  SPAN_KIND_SERVER,
  SpanText,
  STATUS_ERROR,
  STATUS_OK,
} from '../tracing/otlp.js';
import type { GuardrailEvaluation } from '../tracing/tracer.js';
import type { UsageSink } from './bus.js';
import { capUtf8, type UsageContent } from './content.js';
import type { UsageEvent } from './events.js';
import { attemptClock, occurredClock } from './iso-time.js';

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

/**
 * A request's spans are rendered a little after it ends, together with other requests' (once
 * `RENDER_REQUESTS` wait, or `RENDER_DELAY_MS` after the first): rendering between two requests
 * ran on cold caches, and as with the access log the same code costs much less in a loop. The
 * times in a span come from its events, not from when it is rendered.
 */
const RENDER_REQUESTS = 64;
const RENDER_DELAY_MS = 20;

interface WaitingRequest {
  readonly events: readonly UsageEvent[];
  readonly content: UsageContent | undefined;
  readonly steps: RequestSteps | undefined;
  readonly traceId: string;
  /** Spans admitted for it. */
  readonly spans: number;
}

/** `chat.completions` for `/v1/chat/completions`, `messages` for `/v1/messages`, ... */
function spanName(endpoint: string): string {
  return endpoint.startsWith('/v1/') ? endpoint.slice(4).replaceAll('/', '.') : endpoint;
}

function operation(endpoint: string): string {
  if (endpoint === '/v1/embeddings') return 'embeddings';
  if (endpoint === '/v1/completions') return 'text_completion';
  return 'chat';
}

/** What the spans of one endpoint share, rendered once. */
interface EndpointTexts {
  readonly requestName: string;
  readonly attemptName: string;
  readonly operationAttr: string;
}

const endpointTexts = new Map<string, EndpointTexts>();
/** Endpoint labels are a bounded set; past this they are rendered per span instead of kept. */
const MAX_ENDPOINT_TEXTS = 256;

function textsOf(endpoint: string): EndpointTexts {
  let t = endpointTexts.get(endpoint);
  if (t === undefined) {
    t = {
      requestName: `POST ${endpoint}`,
      attemptName: spanName(endpoint),
      operationAttr: renderStr('gen_ai.operation.name', operation(endpoint)),
    };
    if (endpointTexts.size < MAX_ENDPOINT_TEXTS) endpointTexts.set(endpoint, t);
  }
  return t;
}

const SYSTEM_ATTR = renderStr('gen_ai.system', 'aisix');

/** `s` as a flat (sequential) string: a rope kept for reuse would be flattened by every use. */
function flat(s: string): string {
  // Number(s) reads every character, which makes V8 flatten the rope in place.
  void Number(s);
  return s;
}

/**
 * One INTERNAL step of a request (`attrs` written), timed by a `performance.now()` end and a
 * length in seconds.
 */
function stepSpan(
  attrs: SpanText,
  s: { readonly name: string; readonly endedAt: number; readonly seconds: number; readonly failed: boolean },
  traceId: string,
  parent: string,
): string {
  const end = performance.timeOrigin + s.endedAt;
  return attrs.text({
    traceId,
    spanId: newSpanId(),
    parentSpanId: parent,
    name: s.name,
    kind: SPAN_KIND_INTERNAL,
    startTimeUnixNano: epochMsToNano(end - s.seconds * 1000),
    endTimeUnixNano: epochMsToNano(end),
    statusCode: s.failed ? STATUS_ERROR : STATUS_OK,
  });
}

/** The response cache's lookup: policy and outcome only. */
function cacheSpan(c: CacheUsage, traceId: string, parent: string): string {
  const attrs = new SpanText()
    .str('aisix.cache.policy', c.policy)
    .str('aisix.cache.status', c.status)
    .str('aisix.cache.layer', c.layer);
  if (c.similarity !== null) attrs.double('aisix.cache.similarity', c.similarity);
  return stepSpan(attrs, { ...c, name: `cache ${c.policy}`, failed: false }, traceId, parent);
}

/** One guardrail evaluation: names, phase and result only (never what was scanned). */
function guardrailSpan(g: GuardrailEvaluation, traceId: string, parent: string): string {
  const attrs = new SpanText()
    .str('aisix.guardrail.name', g.guardrail)
    .str('aisix.guardrail.kind', g.kind)
    .str('aisix.guardrail.phase', g.phase)
    .str('aisix.guardrail.result', g.result)
    .str('error.type', g.errorType === 'none' ? undefined : g.errorType);
  return stepSpan(
    attrs,
    { ...g, name: `guardrail ${g.guardrail}`, failed: g.result === 'block' },
    traceId,
    parent,
  );
}

export class OtlpEventSink implements UsageSink {
  readonly name: string;
  readonly wantsSteps = true;
  /** Told how many events were lost after the queue took them (`aisix_usage_event_drops_total`). */
  private readonly onLost: ((events: number) => void) | undefined;
  readonly contentMaxBytes: number;
  private readonly exporter: OtlpHttpExporter;
  private readonly rate: number;
  /** `aisix.exporter_name`, rendered once. */
  private readonly nameAttr: string;
  /** Requests whose spans are admitted and not yet rendered (see `RENDER_REQUESTS`). */
  private readonly waiting = new DeferredBatch<WaitingRequest>(RENDER_REQUESTS, RENDER_DELAY_MS, (all) => {
    for (const w of all) {
      let spans: string[];
      try {
        spans = this.renderRequest(w.events, w.content, w.steps, w.traceId);
      } catch (err) {
        // Runs from a timer: a failure must not escape, nor keep the room the spans took.
        this.exporter.forfeit(w.spans);
        this.onLost?.(w.events.length);
        this.logger.error({ err, exporter: this.name }, 'otlp: rendering spans failed, dropped');
        continue;
      }
      // The request span carries the weight of the request's events: a lost batch is counted
      // in events, the bus's unit (drops at the queue are counted the same way).
      for (let i = 0; i < spans.length; i++)
        this.exporter.exportAdmitted(spans[i] as string, i === 0 ? w.events.length : 0);
    }
  });

  constructor(
    c: OtlpSinkConfig,
    version: string,
    private readonly logger: Logger,
    tuning: { flushIntervalMs?: number; onLost?: (events: number) => void } = {},
  ) {
    this.name = c.name;
    this.onLost = tuning.onLost;
    this.contentMaxBytes = c.contentMaxBytes ?? 0;
    this.rate = c.sample_rate ?? 1;
    this.nameAttr = renderStr('aisix.exporter_name', c.name);
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

  offer(events: readonly UsageEvent[], content?: UsageContent, steps?: RequestSteps): number {
    const first = events[0];
    if (first === undefined) return 0;
    const traceId = traceIdFor(first.request_id);
    if (!sampled(traceId, this.rate)) return 0;
    const attempts = (events[events.length - 1] as UsageEvent).attempt_started_at !== null;
    // A request's spans are kept or dropped together; drops are counted in events (the bus's
    // unit), not spans.
    const spans =
      (attempts ? events.length + 1 : 1) +
      (steps === undefined ? 0 : steps.guardrails.length + (steps.cache === undefined ? 0 : 1));
    if (!this.exporter.admit(spans)) return events.length;
    this.waiting.push({ events, content, steps, traceId, spans });
    return 0;
  }

  /**
   * One request's spans: the SERVER span, one INTERNAL span for the cache lookup and for each
   * guardrail evaluation, and one CLIENT span per attempt under it.
   */
  private renderRequest(
    events: readonly UsageEvent[],
    content: UsageContent | undefined,
    steps: RequestSteps | undefined,
    traceId: string,
  ): string[] {
    const first = events[0] as UsageEvent;
    const reqId = newSpanId();
    const end = occurredClock.parse(first.occurred_at);
    const last = events[events.length - 1] as UsageEvent;
    const attempts = last.attempt_started_at !== null;
    // The status the caller got; an attempt's event carries the upstream's (a 500 answered 502).
    const status = steps?.status ?? last.status_code;
    const req = new SpanText()
      .str('aisix.request_id', first.request_id)
      .str('aisix.api_key_id', first.api_key_id)
      .str('gen_ai.request.model', first.requested_model)
      .int('http.response.status_code', status)
      .int('aisix.attempt_count', attempts ? events.length : 0)
      .pre(this.nameAttr)
      // MCP tool calls have no attempt spans: their server and tool ride on the request span.
      .str('aisix.mcp_server_name', first.mcp_server_name)
      .str('aisix.mcp_tool_name', first.mcp_tool_name);
    if (!attempts) {
      // A request answered without an attempt (refused, invalid, a cache hit): its terminal
      // event's fields ride on the request span, as the attempt's ride on the attempt span.
      req
        .str('aisix.error_class', first.error_class)
        .str('aisix.error_message', first.error_message)
        .int('aisix.downstream_latency_ms', first.downstream_latency_ms)
        .str('aisix.client_source_ip', first.client_source_ip)
        .str('aisix.client_user_agent', first.client_user_agent);
      this.addContent(req, content);
    }
    const spans = [
      req.text({
        traceId,
        spanId: reqId,
        name: textsOf(first.endpoint).requestName,
        kind: SPAN_KIND_SERVER,
        startTimeUnixNano: epochMsToNano(
          end - (steps === undefined ? first.downstream_latency_ms : steps.seconds * 1000),
        ),
        endTimeUnixNano: epochMsToNano(end),
        statusCode: status < 400 ? STATUS_OK : STATUS_ERROR,
      }),
    ];
    if (steps !== undefined) {
      const c = steps.cache;
      if (c !== undefined) spans.push(cacheSpan(c, traceId, reqId));
      for (const g of steps.guardrails) spans.push(guardrailSpan(g, traceId, reqId));
    }
    if (attempts)
      for (const e of events)
        spans.push(this.attemptSpan(e, traceId, reqId, e === last ? content : undefined));
    return spans;
  }

  private addContent(span: SpanText, content: UsageContent | undefined): void {
    if (content === undefined || this.contentMaxBytes <= 0) return;
    span.str('gen_ai.prompt', capUtf8(content.prompt, this.contentMaxBytes));
    span.str('gen_ai.completion', capUtf8(content.completion, this.contentMaxBytes));
  }

  /**
   * The attempt span's attributes that repeat from one request to the next (the caller, the
   * model, the client), rendered once and reused while consecutive attempts share every input:
   * an attribute list is unordered (OTLP), so they lead the span as one block.
   */
  private stable:
    | { readonly from: UsageEvent; readonly texts: EndpointTexts; readonly text: string }
    | undefined;

  private stableAttrs(e: UsageEvent, texts: EndpointTexts): string {
    const m = this.stable;
    const f = m?.from;
    if (
      m !== undefined &&
      f !== undefined &&
      m.texts === texts &&
      f.requested_model === e.requested_model &&
      f.attempt_model === e.attempt_model &&
      f.api_key_id === e.api_key_id &&
      f.model_id === e.model_id &&
      f.attempt_kind === e.attempt_kind &&
      f.client_source_ip === e.client_source_ip &&
      f.client_user_agent === e.client_user_agent
    )
      return m.text;
    const text = new SpanText()
      .pre(SYSTEM_ATTR)
      .pre(texts.operationAttr)
      .str('gen_ai.request.model', e.requested_model)
      .str('gen_ai.response.model', e.attempt_model)
      .str('aisix.api_key_id', e.api_key_id)
      .str('aisix.model_id', e.model_id)
      .str('aisix.attempt_kind', e.attempt_kind)
      .str('aisix.attempt_model', e.attempt_model)
      .str('aisix.client_source_ip', e.client_source_ip)
      .str('aisix.client_user_agent', e.client_user_agent)
      .pre(this.nameAttr)
      .attributes();
    // Flat once here, not at every span that reuses it.
    this.stable = { from: e, texts, text: flat(text) };
    return this.stable.text;
  }

  /** The CLIENT span of one attempt, as OTLP/JSON text. */
  private attemptSpan(
    e: UsageEvent,
    traceId: string,
    parent: string,
    content: UsageContent | undefined,
  ): string {
    const start = attemptClock.parse(e.attempt_started_at as string);
    const texts = textsOf(e.endpoint);
    const span = new SpanText()
      .pre(this.stableAttrs(e, texts))
      .str('gen_ai.response.id', e.provider_request_id)
      // string[] in the GenAI semantic conventions; the gateway records one reason per attempt.
      .strs('gen_ai.response.finish_reasons', e.finish_reason)
      .int('gen_ai.usage.input_tokens', e.prompt_tokens)
      .int('gen_ai.usage.output_tokens', e.completion_tokens)
      .int('http.response.status_code', e.status_code)
      .str('aisix.request_id', e.request_id)
      .int('aisix.attempt_index', e.attempt_index)
      .str('aisix.error_class', e.error_class)
      .str('aisix.error_message', e.error_message)
      .int('aisix.upstream_ttft_ms', e.upstream_ttft_ms)
      .int('aisix.downstream_latency_ms', e.downstream_latency_ms)
      .bool('aisix.usage_estimated', e.usage_estimated);
    this.addContent(span, content);
    return span.text({
      traceId,
      spanId: newSpanId(),
      parentSpanId: parent,
      name: texts.attemptName,
      kind: SPAN_KIND_CLIENT,
      startTimeUnixNano: epochMsToNano(start),
      endTimeUnixNano: epochMsToNano(start + (e.upstream_latency_ms ?? 0)),
      statusCode: e.status_code >= 200 && e.status_code < 300 ? STATUS_OK : STATUS_ERROR,
    });
  }

  stats() {
    return this.exporter.stats();
  }

  close(timeoutMs = 2000): Promise<unknown> {
    this.waiting.flush();
    return this.exporter.shutdown(timeoutMs);
  }
}
