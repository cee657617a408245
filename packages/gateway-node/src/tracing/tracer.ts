/**
 * Request tracing (decisions.md OP-13): one SERVER span per proxy request with one CLIENT child
 * per upstream attempt, one INTERNAL child per guardrail evaluation and one for the response
 * cache's lookup.
 *
 * Cost model: with tracing off the runtime has no tracer, so the pipeline pays one `undefined`
 * check per request and per attempt and allocates nothing. An unsampled request gets no
 * `RequestTrace` either, so its attempts pay the same single check.
 *
 * Never in a span: prompts, completions, request or response bodies, headers, keys (caller or
 * provider), error messages from upstreams (they may echo input). Only ids, names, statuses,
 * counts and the catalogue's error types.
 */

import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, PassthroughEndpoint, Usage } from '@aisix/providers';
import type { AttemptResult } from '../upstream/failures.js';
import { capName } from '../usage/events.js';
import { newSpanId, type ParentContext, parseTraceparent, sampled, traceIdFor } from './ids.js';
import {
  int,
  type OtlpAttribute,
  type OtlpSpan,
  SPAN_KIND_CLIENT,
  SPAN_KIND_INTERNAL,
  SPAN_KIND_SERVER,
  STATUS_ERROR,
  STATUS_OK,
  str,
  unixNano,
} from './otlp.js';

/** Where finished spans go (the OTLP exporter, or a test sink). */
export interface SpanSink {
  export(span: OtlpSpan): void;
}

export interface TracerOptions {
  readonly sink: SpanSink;
  /** 0..1, decided per trace id (default 1). */
  readonly sampleRatio?: number;
  /** Continue a caller's W3C `traceparent` (default true). */
  readonly acceptTraceparent?: boolean;
}

export type AttemptKind = 'initial' | 'retry' | 'fallback';

/** The request fields a trace reads (the pipeline's `RequestContext` has them all). */
export interface TracedRequest {
  readonly id: string;
  readonly startedAt: number;
  readonly req: { readonly method?: string | undefined; readonly headers: IncomingHttpHeaders };
  readonly endpoint: string;
  readonly apiKey: { readonly id: string } | undefined;
  readonly requestedModel: string | undefined;
  readonly model: { readonly id: string } | undefined;
  readonly provider: string | undefined;
  readonly servedBy: string | undefined;
  readonly attempts: number;
  readonly stream: boolean;
  readonly usage: Usage | undefined;
  readonly errorType: string | undefined;
}

export interface AttemptInfo {
  readonly endpoint: Endpoint | PassthroughEndpoint;
  /** Provider family / vendor (`gen_ai.system`). */
  readonly provider: string;
  /** The target's alias (`aisix.attempt_model`). */
  readonly alias: string;
  /** The model id sent upstream. */
  readonly upstreamModel: string;
  /** 0-based over the whole request. */
  readonly index: number;
  readonly kind: AttemptKind;
}

const ATTEMPT_NAMES: Readonly<Record<Endpoint | PassthroughEndpoint, string>> = {
  chat: 'chat.completions',
  completions: 'completions',
  embeddings: 'embeddings',
  rerank: 'rerank',
  images_generations: 'images.generations',
  audio_speech: 'audio.speech',
  audio_transcriptions: 'audio.transcriptions',
  audio_translations: 'audio.translations',
};

/**
 * `gen_ai.operation.name`: the GenAI semantic conventions' values where one exists (`chat`,
 * `text_completion`, `embeddings`), as the otlp_http exporter writes them; else the span name.
 */
const OPERATIONS: Readonly<Record<Endpoint | PassthroughEndpoint, string>> = {
  ...ATTEMPT_NAMES,
  chat: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
};

export class Tracer {
  readonly sampleRatio: number;
  private readonly acceptParent: boolean;

  constructor(private readonly o: TracerOptions) {
    this.sampleRatio = o.sampleRatio ?? 1;
    this.acceptParent = o.acceptTraceparent ?? true;
  }

  /** The request's trace, or undefined when this request is not sampled. */
  startRequest(ctx: TracedRequest): RequestTrace | undefined {
    const parent = this.acceptParent ? parseTraceparent(ctx.req.headers.traceparent) : undefined;
    const traceId = parent ? parent.traceId : traceIdFor(ctx.id);
    // A caller's "not sampled" is respected; the ratio applies on top, so 0 exports nothing.
    if ((parent !== undefined && !parent.sampled) || !sampled(traceId, this.sampleRatio)) return undefined;
    return new RequestTrace(this.o.sink, traceId, parent, ctx.startedAt);
  }
}

/**
 * One guardrail evaluation, for the trace span and the exporters' spans: names, phase and the
 * result only (never what was scanned or matched).
 */
export interface GuardrailEvaluation {
  readonly guardrail: string;
  readonly kind: string;
  readonly phase: string;
  readonly result: string;
  readonly errorType: string;
  /** `performance.now()` when it ended, and how long it took. */
  readonly endedAt: number;
  readonly seconds: number;
}

export class RequestTrace {
  readonly spanId = newSpanId();
  private lastAttemptFailed = false;
  private ended = false;

  constructor(
    private readonly sink: SpanSink,
    readonly traceId: string,
    private readonly parent: ParentContext | undefined,
    private readonly startedAt: number,
  ) {}

  startAttempt(a: AttemptInfo): AttemptSpan {
    return new AttemptSpan(this, a);
  }

  /**
   * One guardrail evaluation that just ended, `seconds` long: names, phase and result only
   * (never what was scanned or matched).
   */
  guardrail(g: GuardrailEvaluation): void {
    const end = g.endedAt;
    const attrs: OtlpAttribute[] = [];
    str(attrs, 'aisix.guardrail.name', g.guardrail);
    str(attrs, 'aisix.guardrail.kind', g.kind);
    str(attrs, 'aisix.guardrail.phase', g.phase);
    str(attrs, 'aisix.guardrail.result', g.result);
    if (g.errorType !== 'none') str(attrs, 'error.type', g.errorType);
    this.sink.export({
      traceId: this.traceId,
      spanId: newSpanId(),
      parentSpanId: this.spanId,
      name: `guardrail ${g.guardrail}`,
      kind: SPAN_KIND_INTERNAL,
      startTimeUnixNano: unixNano(end - g.seconds * 1000),
      endTimeUnixNano: unixNano(end),
      attributes: attrs,
      status: g.result === 'block' ? { code: STATUS_ERROR, message: 'content_filter' } : { code: STATUS_OK },
    });
  }

  /** The response cache's lookup: policy and outcome only. */
  cache(c: {
    readonly policy: string;
    readonly status: string;
    readonly layer: string | null;
    readonly similarity: number | null;
    readonly endedAt: number;
    readonly seconds: number;
  }): void {
    const end = c.endedAt;
    const attrs: OtlpAttribute[] = [];
    str(attrs, 'aisix.cache.policy', c.policy);
    str(attrs, 'aisix.cache.status', c.status);
    str(attrs, 'aisix.cache.layer', c.layer);
    if (c.similarity !== null)
      attrs.push({ key: 'aisix.cache.similarity', value: { doubleValue: c.similarity } });
    this.sink.export({
      traceId: this.traceId,
      spanId: newSpanId(),
      parentSpanId: this.spanId,
      name: `cache ${c.policy}`,
      kind: SPAN_KIND_INTERNAL,
      startTimeUnixNano: unixNano(end - c.seconds * 1000),
      endTimeUnixNano: unixNano(end),
      attributes: attrs,
      status: { code: STATUS_OK },
    });
  }

  /** @internal */
  attemptEnded(span: OtlpSpan, failed: boolean): void {
    this.lastAttemptFailed = failed;
    this.sink.export(span);
  }

  /** Ends the SERVER span (called once, from the completion hook). */
  end(ctx: TracedRequest, status: number): void {
    if (this.ended) return;
    this.ended = true;
    const route = ctx.endpoint;
    const method = ctx.req.method ?? 'POST';
    const attrs: OtlpAttribute[] = [];
    str(attrs, 'http.request.method', method);
    str(attrs, 'http.route', route);
    int(attrs, 'http.response.status_code', status);
    str(attrs, 'aisix.request_id', ctx.id);
    str(attrs, 'aisix.api_key_id', ctx.apiKey?.id);
    str(attrs, 'gen_ai.request.model', capName(ctx.requestedModel));
    str(attrs, 'aisix.model_id', ctx.model?.id);
    str(attrs, 'aisix.provider', ctx.provider);
    str(attrs, 'aisix.served_by', ctx.servedBy);
    int(attrs, 'aisix.attempts', ctx.attempts);
    if (ctx.stream) attrs.push({ key: 'aisix.stream', value: { boolValue: true } });
    const u = ctx.usage;
    if (u) {
      int(attrs, 'gen_ai.usage.input_tokens', u.prompt_tokens);
      int(attrs, 'gen_ai.usage.output_tokens', u.completion_tokens);
    }
    str(attrs, 'aisix.error_type', ctx.errorType);
    const failed = status >= 500 || (ctx.attempts > 0 && this.lastAttemptFailed && status >= 400);
    this.sink.export({
      traceId: this.traceId,
      spanId: this.spanId,
      ...(this.parent ? { parentSpanId: this.parent.spanId } : {}),
      name: `${method} ${route}`,
      kind: SPAN_KIND_SERVER,
      startTimeUnixNano: unixNano(this.startedAt),
      endTimeUnixNano: unixNano(performance.now()),
      attributes: attrs,
      status: failed
        ? { code: STATUS_ERROR, message: ctx.errorType ?? `HTTP ${status}` }
        : { code: STATUS_OK },
    });
  }
}

export class AttemptSpan {
  private readonly spanId = newSpanId();
  private readonly startedAt = performance.now();
  private ended = false;

  constructor(
    private readonly trace: RequestTrace,
    private readonly a: AttemptInfo,
  ) {}

  /** Ends the CLIENT span with the attempt's outcome. */
  end(r: AttemptResult): void {
    if (this.ended) return;
    this.ended = true;
    const a = this.a;
    const attrs: OtlpAttribute[] = [];
    str(attrs, 'gen_ai.system', a.provider);
    str(attrs, 'gen_ai.operation.name', OPERATIONS[a.endpoint]);
    // Behind a wildcard model the upstream name is the caller's: capped like the requested one.
    const upstream = capName(a.upstreamModel);
    str(attrs, 'gen_ai.request.model', upstream);
    int(attrs, 'aisix.attempt_index', a.index);
    str(attrs, 'aisix.attempt_kind', a.kind);
    str(attrs, 'aisix.attempt_model', a.alias);
    let status: OtlpSpan['status'];
    if (r.ok) {
      // The adapters do not surface the answer's `model`; the upstream id asked for stands in.
      str(attrs, 'gen_ai.response.model', upstream);
      int(attrs, 'http.response.status_code', 200);
      status = { code: STATUS_OK };
    } else {
      const f = r.failure;
      int(attrs, 'http.response.status_code', f.status);
      const cls = f.timeout ? 'timeout' : f.status !== undefined ? `http_${f.status}` : f.error.type;
      str(attrs, 'error.type', cls);
      str(attrs, 'aisix.error_class', f.error.type);
      str(attrs, 'aisix.error_code', f.error.code);
      int(attrs, 'aisix.error_status', f.error.status);
      attrs.push({ key: 'aisix.retryable', value: { boolValue: f.retryable } });
      status = { code: STATUS_ERROR, message: cls };
    }
    this.trace.attemptEnded(
      {
        traceId: this.trace.traceId,
        spanId: this.spanId,
        parentSpanId: this.trace.spanId,
        name: ATTEMPT_NAMES[a.endpoint],
        kind: SPAN_KIND_CLIENT,
        startTimeUnixNano: unixNano(this.startedAt),
        endTimeUnixNano: unixNano(performance.now()),
        attributes: attrs,
        status,
      },
      !r.ok,
    );
  }
}
