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
import type { CacheUsage, RequestContext } from '../pipeline/context.js';
import { attemptClock, occurredClock } from './iso-time.js';
import type { AttemptKind, InboundProtocol, UsageEvent } from './records.js';

export type { AttemptKind, AttemptRecord, UsageEvent } from './records.js';

const ZERO: Usage = Object.freeze(emptyUsage());

const MAX_TEXT = 256;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A name the caller chose (the model it asked for, a wildcard's upstream name, a JSON-RPC method
 * or tool): its first 256 characters, so a queued event stays small whatever the caller sent.
 */
export function capName(v: string): string;
export function capName(v: string | undefined | null): string | null;
export function capName(v: string | undefined | null): string | null {
  if (v === undefined || v === null) return null;
  return v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v;
}

export function cleanText(v: string | undefined | null): string | null {
  if (v === undefined || v === null || v === '') return null;
  const s = v.replace(CONTROL, '');
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s;
}

function savedUsage(saved: NonNullable<CacheUsage['saved']>): Usage {
  const u = emptyUsage();
  u.prompt_tokens = saved.prompt_tokens;
  u.completion_tokens = saved.completion_tokens;
  u.total_tokens = saved.prompt_tokens + saved.completion_tokens;
  return u;
}

/** USD from the model's `cost` (per 1k tokens) and the tokens; null when the model has none. */
export function costUsd(model: Resource<'models'> | undefined, u: Usage): number | null {
  const c = model?.value.cost;
  if (c === undefined) return null;
  const usd = (u.prompt_tokens / 1000) * c.input_per_1k + (u.completion_tokens / 1000) * c.output_per_1k;
  // Rounded to 1e-9 USD: sums of float products otherwise print as 0.30000000000000004.
  return Math.round(usd * 1e9) / 1e9;
}

const REASON_KEYS = ['"finish_reason":"', '"stop_reason":"'] as const;

/** The `[A-Za-z_]{1,40}` value closed by a quote at `at`, else null. */
function reasonAt(text: string, at: number): string | null {
  const end = Math.min(text.length, at + 41);
  for (let i = at; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i > at ? text.slice(at, i) : null;
    // A-Z, a-z, _
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f)) return null;
  }
  return null;
}

/**
 * The last finish/stop reason in the served answer (JSON body or the tail of the SSE text): the
 * last `"finish_reason":"<reason>"` or `"stop_reason":"<reason>"`, searched from the end (the
 * answer is not parsed again for it).
 */
export function finishReason(json: string | undefined, sse: readonly string[] | undefined): string | null {
  let text = json;
  if (text === undefined && sse !== undefined && sse.length > 0) {
    const n = sse.length;
    text = n === 1 ? (sse[0] as string) : `${sse[n - 2] as string}${sse[n - 1] as string}`;
  }
  if (text === undefined) return null;
  let last: string | null = null;
  let lastAt = -1;
  for (const key of REASON_KEYS) {
    for (let at = text.lastIndexOf(key); at > lastAt; at = text.lastIndexOf(key, at - 1)) {
      const reason = reasonAt(text, at + key.length);
      if (reason !== null) {
        last = reason;
        lastAt = at;
        break;
      }
      if (at === 0) break;
    }
  }
  if (last === null && json !== undefined && json.includes('"status":"completed"')) return 'completed';
  return last;
}

/** What the completion hook knows about the request's end. */
export interface RequestEnd {
  readonly status: number;
  readonly seconds: number;
  /** When the response closed, epoch ms (`occurred_at`). */
  readonly endedAtMs: number;
  readonly clientIp: string | undefined;
  readonly finishReason: string | null;
}

const NO_GUARDRAILS: readonly { readonly kind: string; readonly hook: string }[] = Object.freeze([]);
const NO_COUNTS: Readonly<Record<string, number>> = Object.freeze({});
const NO_HITS: readonly string[] = Object.freeze([]);

/** What every event of one request shares (computed once per request). */
interface Shared {
  readonly occurred: string;
  readonly downstream: number;
  readonly cacheStatus: UsageEvent['cache_status'];
  readonly cacheLayer: string | null;
  readonly cacheSimilarity: number | null;
  readonly savedInput: number;
  readonly savedOutput: number;
  readonly inbound: InboundProtocol;
  readonly clientIp: string | null;
  readonly userAgent: string | null;
}

/** What differs between the events of one request (one per attempt). */
interface PerEvent {
  readonly model_id: string | null;
  readonly usage: Usage;
  readonly estimated: boolean;
  readonly upstream_latency_ms: number | null;
  readonly upstream_ttft_ms: number | null;
  readonly status_code: number;
  readonly provider_request_id: string | null;
  readonly finish_reason: string | null;
  readonly cost_usd: number | null;
  readonly attempt_index: number;
  readonly attempt_kind: AttemptKind;
  readonly attempt_model: string | null;
  readonly attempt_started_at: string | null;
  readonly error_class: string | null;
  readonly error_message: string | null;
  readonly provider: string | null;
  readonly pk_label: string | null;
}

/** One event, every field written in one literal (one object shape for all events). */
function eventOf(ctx: RequestContext, s: Shared, p: PerEvent): UsageEvent {
  const g = ctx.guardrails;
  const u = p.usage;
  const e: { -readonly [K in keyof UsageEvent]: UsageEvent[K] } = {
    request_id: ctx.id,
    occurred_at: s.occurred,
    model_id: p.model_id,
    api_key_id: ctx.apiKey?.id ?? null,
    requested_model: capName(ctx.requestedModel),
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    cached_prompt_tokens: u.cached_prompt_tokens,
    reasoning_tokens: u.reasoning_tokens,
    cache_creation_tokens: u.cache_creation_tokens,
    cache_read_tokens: u.cache_read_tokens,
    usage_estimated: p.estimated,
    upstream_latency_ms: p.upstream_latency_ms,
    upstream_ttft_ms: p.upstream_ttft_ms,
    downstream_latency_ms: s.downstream,
    status_code: p.status_code,
    provider_request_id: p.provider_request_id,
    provider_model_version: null,
    finish_reason: p.finish_reason,
    cost_usd: p.cost_usd,
    guardrail_blocked: g?.blocked ?? false,
    guardrail_bypassed_reason: g?.bypassedReason ?? null,
    applied_guardrails: g?.applied ?? NO_GUARDRAILS,
    redacted_entity_counts: g?.redacted ?? NO_COUNTS,
    guardrail_monitor_hits: g?.monitorHits ?? NO_HITS,
    cache_status: s.cacheStatus,
    cache_hit_layer: s.cacheLayer,
    cache_similarity: s.cacheSimilarity,
    cache_hit_saved_input_tokens: s.savedInput,
    cache_hit_saved_output_tokens: s.savedOutput,
    inbound_protocol: s.inbound,
    attempt_index: p.attempt_index,
    attempt_kind: p.attempt_kind,
    attempt_model: p.attempt_model,
    error_class: p.error_class,
    error_message: p.error_message,
    provider_kind: p.provider,
    provider_featured: false,
    branded_provider: p.provider,
    pk_label: p.pk_label,
    byo_label: null,
    client_source_ip: s.clientIp,
    client_user_agent: s.userAgent,
    endpoint: ctx.endpoint,
    attempt_started_at: p.attempt_started_at,
  };
  if (ctx.a2a !== undefined) {
    e.a2a_agent_name = ctx.a2a.agent;
    e.a2a_method = capName(ctx.a2a.method);
  }
  if (ctx.mcp !== undefined) {
    e.mcp_server_name = capName(ctx.mcp.server);
    e.mcp_tool_name = capName(ctx.mcp.tool);
  }
  return e;
}

/** The events of a finished request, in attempt order. */
export function buildEvents(ctx: RequestContext, end: RequestEnd): UsageEvent[] {
  const c = ctx.cache;
  const s: Shared = {
    occurred: occurredClock.at(end.endedAtMs),
    // To the first output written (a stream), else the whole request (data-plane §6.4).
    downstream:
      ctx.firstOutputAt !== undefined
        ? Math.round((ctx.firstOutputAt - ctx.startedAt) * 1e3) / 1e3
        : Math.round(end.seconds * 1e6) / 1e3,
    cacheStatus: c?.status ?? 'disabled',
    cacheLayer: c?.layer ?? null,
    cacheSimilarity: c?.similarity ?? null,
    savedInput: c?.saved?.prompt_tokens ?? 0,
    savedOutput: c?.saved?.completion_tokens ?? 0,
    inbound:
      ctx.a2a !== undefined
        ? 'a2a'
        : ctx.mcp !== undefined
          ? 'mcp'
          : ctx.route?.kind === 'realtime'
            ? 'realtime'
            : (ctx.route?.envelope ?? 'openai'),
    clientIp: end.clientIp ?? null,
    userAgent: cleanText(ctx.req.headers['user-agent']),
  };
  const attempts = ctx.attemptLog;
  if (attempts === undefined || attempts.length === 0) {
    // A cache hit's event carries the stored answer's usage at no cost (data-plane §10.4).
    const saved = c?.status === 'hit' ? c.saved : undefined;
    return [
      eventOf(ctx, s, {
        model_id: ctx.model?.id ?? null,
        usage: saved === undefined ? ZERO : savedUsage(saved),
        estimated: false,
        // MCP: the tool call's duration; tokens and cost are zero, not unknown (§2.7 step 7).
        upstream_latency_ms:
          ctx.mcp?.upstreamMs !== undefined ? Math.round(ctx.mcp.upstreamMs * 1e3) / 1e3 : null,
        upstream_ttft_ms: null,
        // A relayed A2A stream that ended with an error event failed (§3.5), whatever its head said.
        status_code: ctx.a2a?.faulted === true ? 502 : end.status,
        provider_request_id: null,
        finish_reason: end.status < 400 ? end.finishReason : null,
        cost_usd: ctx.mcp !== undefined || saved !== undefined ? 0 : null,
        attempt_index: 0,
        attempt_kind: 'initial',
        attempt_model: null,
        attempt_started_at: null,
        error_class: ctx.errorType ?? null,
        error_message: cleanText(ctx.errorMessage),
        provider: ctx.provider ?? null,
        pk_label: null,
      }),
    ];
  }
  const out: UsageEvent[] = [];
  const outputBlocked = ctx.guardrails?.blocked === true;
  for (const a of attempts) {
    const u = a.ok ? (a.usage ?? ctx.usage ?? ZERO) : ZERO;
    const status = a.ok ? end.status : (a.status ?? 502);
    out.push(
      eventOf(ctx, s, {
        model_id: a.model.id,
        usage: u,
        estimated: a.ok && (a.estimated ?? ctx.usageEstimated),
        upstream_latency_ms: Math.round(Math.max(a.ms, 0) * 1e3) / 1e3,
        upstream_ttft_ms:
          a.ok && ctx.ttftSeconds !== undefined ? Math.round(ctx.ttftSeconds * 1e6) / 1e3 : null,
        status_code: status,
        provider_request_id: a.providerRequestId,
        finish_reason: a.ok ? end.finishReason : null,
        cost_usd: a.ok ? costUsd(a.model, u) : null,
        attempt_index: a.index,
        attempt_kind: a.kind,
        attempt_model: capName(a.upstreamModel),
        attempt_started_at: attemptClock.at(performance.timeOrigin + a.t0),
        // A served attempt that failed after commit (a stream ended by an error frame) keeps
        // its usage and its 2xx status, and names its failure like the access log does; so does
        // a stream an output guardrail ended with its error frame after the 200.
        error_class: a.ok
          ? (a.errorClass ?? (status >= 400 || outputBlocked ? (ctx.errorType ?? null) : null))
          : a.errorClass,
        error_message: a.ok
          ? a.errorClass !== null
            ? cleanText(a.errorMessage)
            : status >= 400 || outputBlocked
              ? cleanText(ctx.errorMessage)
              : null
          : cleanText(a.errorMessage),
        provider: a.provider,
        pk_label: a.providerKeyName,
      }),
    );
  }
  return out;
}
