/**
 * Usage events: one per upstream attempt (failed attempts carry zero tokens, the attempt that
 * served the answer carries its usage and cost), or one terminal event for a request that never
 * reached an upstream (refused, invalid, answered from the cache). Built at the completion hook
 * only while a sink is attached (`bus.ts`), so a gateway without exporters allocates nothing.
 *
 * Never in an event: prompts, completions, caller or provider keys, request headers other than
 * the (control-stripped, 256-char) User-Agent. Error messages are the caller-facing catalogue
 * text, cut at 256 characters.
 *
 * Guardrail fields come from what the guardrails recorded on the request (`ctx.guardrails`:
 * kinds and hooks, detector counts and monitor hits, never what matched). Leaves out:
 * `provider_model_version` is not read from answers (the caller's body carries the alias) and
 * stays null.
 */
import type { Resource } from '@aisix/core';
import { emptyUsage, type Usage } from '@aisix/providers';
import type { RequestContext } from '../pipeline/context.js';

/** `panel` / `judge`: the sub-calls of an ensemble (agents-and-jobs §8.1 step 7). */
export type AttemptKind = 'initial' | 'retry' | 'fallback' | 'panel' | 'judge';

/** One routing attempt as dispatch saw it (recorded only while events are built). */
export interface AttemptRecord {
  readonly index: number;
  readonly kind: AttemptKind;
  readonly model: Resource<'models'>;
  readonly upstreamModel: string;
  readonly provider: string;
  readonly providerKeyName: string | null;
  /** `performance.now()` when the attempt started. */
  readonly t0: number;
  /** Duration; -1 while the attempt runs (a stream can close the response before it returns). */
  ms: number;
  ok: boolean;
  /** Upstream (or gateway-decided) status of a failed attempt. */
  status: number | undefined;
  errorClass: string | null;
  errorMessage: string | null;
  providerRequestId: string | null;
  /** This attempt's own usage (ensemble sub-calls); else the request's usage. */
  usage?: Usage;
  /** Whether `usage` holds local estimates (else the request's flag applies). */
  estimated?: boolean;
}

export interface UsageEvent {
  readonly request_id: string;
  readonly occurred_at: string;
  readonly model_id: string | null;
  readonly api_key_id: string | null;
  readonly requested_model: string | null;
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly cached_prompt_tokens: number;
  readonly reasoning_tokens: number;
  readonly cache_creation_tokens: number;
  readonly cache_read_tokens: number;
  readonly usage_estimated: boolean;
  readonly upstream_latency_ms: number | null;
  readonly upstream_ttft_ms: number | null;
  readonly downstream_latency_ms: number;
  readonly status_code: number;
  readonly provider_request_id: string | null;
  readonly provider_model_version: string | null;
  readonly finish_reason: string | null;
  readonly cost_usd: number | null;
  readonly guardrail_blocked: boolean;
  readonly guardrail_bypassed_reason: string | null;
  readonly applied_guardrails: readonly { readonly kind: string; readonly hook: string }[];
  readonly redacted_entity_counts: Readonly<Record<string, number>>;
  readonly guardrail_monitor_hits: readonly string[];
  readonly cache_status: 'disabled' | 'miss' | 'hit' | 'bypass';
  readonly cache_hit_layer: string | null;
  readonly cache_similarity: number | null;
  readonly cache_hit_saved_input_tokens: number;
  readonly cache_hit_saved_output_tokens: number;
  readonly inbound_protocol: 'openai' | 'anthropic' | 'batch';
  readonly attempt_index: number;
  readonly attempt_kind: AttemptKind;
  readonly attempt_model: string | null;
  readonly error_class: string | null;
  readonly error_message: string | null;
  readonly provider_kind: string | null;
  readonly provider_featured: boolean;
  readonly branded_provider: string | null;
  readonly pk_label: string | null;
  readonly byo_label: string | null;
  readonly client_source_ip: string | null;
  readonly client_user_agent: string | null;
  /** Gateway-side details (not in the reference list): the endpoint route template, and when the
   * attempt started (RFC 3339; null for a terminal event). */
  readonly endpoint: string;
  readonly attempt_started_at: string | null;
}

const ZERO: Usage = Object.freeze(emptyUsage());

const MAX_TEXT = 256;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function cleanText(v: string | undefined | null): string | null {
  if (v === undefined || v === null || v === '') return null;
  const s = v.replace(CONTROL, '');
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

/** USD from the model's `cost` (per 1k tokens) and the tokens; null when the model has none. */
export function costUsd(model: Resource<'models'> | undefined, u: Usage): number | null {
  const c = model?.value.cost;
  if (c === undefined) return null;
  const usd = (u.prompt_tokens / 1000) * c.input_per_1k + (u.completion_tokens / 1000) * c.output_per_1k;
  // Rounded to 1e-9 USD: sums of float products otherwise print as 0.30000000000000004.
  return Math.round(usd * 1e9) / 1e9;
}

const FINISH = /"(?:finish_reason|stop_reason)":"([A-Za-z_]{1,40})"/g;

/** The last finish/stop reason in the served answer (JSON body or the tail of the SSE text). */
export function finishReason(json: string | undefined, sse: readonly string[] | undefined): string | null {
  let text = json;
  if (text === undefined && sse !== undefined && sse.length > 0) {
    const n = sse.length;
    text = n === 1 ? (sse[0] as string) : `${sse[n - 2] as string}${sse[n - 1] as string}`;
  }
  if (text === undefined) return null;
  let last: string | null = null;
  for (const m of text.matchAll(FINISH)) last = m[1] ?? last;
  if (last === null && json !== undefined && json.includes('"status":"completed"')) return 'completed';
  return last;
}

/** What the completion hook knows about the request's end. */
export interface RequestEnd {
  readonly status: number;
  readonly seconds: number;
  readonly clientIp: string | undefined;
  readonly finishReason: string | null;
}

function cacheFields(ctx: RequestContext) {
  const h = ctx.res.getHeader('x-aisix-cache');
  const status = h === 'hit' || h === 'miss' || h === 'bypass' ? h : 'disabled';
  const layer = ctx.res.getHeader('x-aisix-cache-layer');
  const sim = ctx.res.getHeader('x-aisix-cache-similarity');
  return {
    cache_status: status,
    cache_hit_layer: status === 'hit' && typeof layer === 'string' ? layer : null,
    cache_similarity: status === 'hit' && typeof sim === 'string' ? Number(sim) : null,
  } as const;
}

/** The events of a finished request, in attempt order. */
export function buildEvents(ctx: RequestContext, end: RequestEnd): UsageEvent[] {
  const occurred = new Date().toISOString();
  const downstream = Math.round(end.seconds * 1e6) / 1e3;
  const cache = cacheFields(ctx);
  const common = {
    request_id: ctx.id,
    occurred_at: occurred,
    api_key_id: ctx.apiKey?.id ?? null,
    requested_model: ctx.requestedModel ?? null,
    downstream_latency_ms: downstream,
    provider_model_version: null,
    guardrail_blocked: ctx.guardrails?.blocked ?? false,
    guardrail_bypassed_reason: ctx.guardrails?.bypassedReason ?? null,
    applied_guardrails: ctx.guardrails?.applied ?? [],
    redacted_entity_counts: ctx.guardrails?.redacted ?? {},
    guardrail_monitor_hits: ctx.guardrails?.monitorHits ?? [],
    ...cache,
    cache_hit_saved_input_tokens: 0,
    cache_hit_saved_output_tokens: 0,
    inbound_protocol: ctx.route?.envelope ?? 'openai',
    provider_featured: false,
    byo_label: null,
    client_source_ip: end.clientIp ?? null,
    client_user_agent: cleanText(ctx.req.headers['user-agent']),
    endpoint: ctx.endpoint,
  } as const;
  const attempts = ctx.attemptLog;
  if (attempts === undefined || attempts.length === 0) {
    return [
      {
        ...common,
        model_id: ctx.model?.id ?? null,
        ...tokens(ZERO, false),
        upstream_latency_ms: null,
        upstream_ttft_ms: null,
        status_code: end.status,
        provider_request_id: null,
        finish_reason: end.status < 400 ? end.finishReason : null,
        cost_usd: null,
        attempt_index: 0,
        attempt_kind: 'initial',
        attempt_model: null,
        attempt_started_at: null,
        error_class: ctx.errorType ?? null,
        error_message: cleanText(ctx.errorMessage),
        provider_kind: ctx.provider ?? null,
        branded_provider: ctx.provider ?? null,
        pk_label: null,
      },
    ];
  }
  const out: UsageEvent[] = [];
  for (const a of attempts) {
    const u = a.ok ? (a.usage ?? ctx.usage ?? ZERO) : ZERO;
    const status = a.ok ? end.status : (a.status ?? 502);
    out.push({
      ...common,
      model_id: a.model.id,
      ...tokens(u, a.ok && (a.estimated ?? ctx.usageEstimated)),
      upstream_latency_ms: Math.round(Math.max(a.ms, 0) * 1e3) / 1e3,
      upstream_ttft_ms:
        a.ok && ctx.ttftSeconds !== undefined ? Math.round(ctx.ttftSeconds * 1e6) / 1e3 : null,
      status_code: status,
      provider_request_id: a.providerRequestId,
      finish_reason: a.ok ? end.finishReason : null,
      cost_usd: a.ok ? costUsd(a.model, u) : null,
      attempt_index: a.index,
      attempt_kind: a.kind,
      attempt_model: a.upstreamModel,
      attempt_started_at: new Date(performance.timeOrigin + a.t0).toISOString(),
      error_class: a.ok ? (status >= 400 ? (ctx.errorType ?? null) : null) : a.errorClass,
      error_message: a.ok ? (status >= 400 ? cleanText(ctx.errorMessage) : null) : cleanText(a.errorMessage),
      provider_kind: a.provider,
      branded_provider: a.provider,
      pk_label: a.providerKeyName,
    });
  }
  return out;
}

function tokens(u: Usage, estimated: boolean) {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    cached_prompt_tokens: u.cached_prompt_tokens,
    reasoning_tokens: u.reasoning_tokens,
    cache_creation_tokens: u.cache_creation_tokens,
    cache_read_tokens: u.cache_read_tokens,
    usage_estimated: estimated,
  };
}
