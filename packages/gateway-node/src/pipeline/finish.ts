/**
 * The completion hook: runs exactly once per request when its response closes (finished, or the
 * client went away first). It is the only place that emits the access log line and the
 * per-request metrics, and where the request scopes finish (`lifecycle.ts`), so every terminal
 * path — success, catalogue error, stream end, client cancel — is recorded the same way.
 * Usage events are built at the close; they and the per-request metrics are recorded a little
 * later, in batches (`recordFinished`, via `GatewayRuntime.finished`).
 */
import type { Usage } from '@aisix/providers';
import { errors } from '../errors.js';
import { modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import type { GuardrailEvaluation } from '../tracing/tracer.js';
import { closeAttemptTiming } from '../usage/attempts.js';
import { captureContent } from '../usage/content.js';
import { ESTIMATED_KINDS, estimateRequestUsage, needsEstimate } from '../usage/estimate.js';
import { buildEvents, capName, finishReason } from '../usage/events.js';
import { clientIp } from './access.js';
import { accessLogWriter } from './access-log.js';
import {
  completedFacts,
  type FinishedRequest,
  type FinishedUsage,
  type RequestContext,
  type RequestSteps,
} from './context.js';
import { joinPanelUsage } from './ensemble.js';
import { closeAttempt, finishScopes } from './scopes.js';

export function finishRequest(rt: GatewayRuntime, ctx: RequestContext): void {
  ctx.closed = true;
  const res = ctx.res;
  const seconds = (performance.now() - ctx.startedAt) / 1000;
  // A WebSocket session ends with the status its relay decided (the 101 is not the outcome).
  const session = ctx.sessionStatus;
  // Closed before the gateway finished writing: the client cancelled (499).
  const cancelled = session === undefined && !res.writableFinished;
  if (cancelled) ctx.onClientGone?.();
  const status = session ?? (cancelled ? 499 : res.statusCode);
  if (cancelled && !ctx.errorType) {
    const e = errors.clientDisconnected();
    ctx.errorType = e.type;
    ctx.errorMessage = e.message;
  }
  // An attempt still open produced this response if it wrote the head (none else can).
  const wrote = session !== undefined || res.headersSent;
  closeAttemptTiming(ctx, undefined, wrote);
  if (ctx.scopes !== undefined) closeAttempt(rt.logger, ctx, wrote);
  // A session's tokens were consumed whatever ended it (agents-and-jobs §7.5).
  const served = session !== undefined || (res.headersSent && res.statusCode >= 200 && res.statusCode < 300);
  let generates = served && ctx.attempts > 0 ? ESTIMATED_KINDS[ctx.route?.kind ?? 'health'] : undefined;
  if (generates === true && cancelled && ctx.stream && ctx.firstOutputAt === undefined) {
    // The caller left before any generated output reached it (a slow first token, or a stream
    // held back by an output guardrail): no completion side is billed, and only the prompt is
    // estimated (data-plane §6.3 steps 1-2).
    generates = false;
    if (ctx.usage !== undefined) ctx.usage = promptSideOnly(ctx.usage);
  }
  if (generates === undefined || !needsEstimate(ctx.usage, generates)) {
    complete(rt, ctx, status, cancelled, served, seconds);
    return;
  }
  // Zero counters on a served upstream answer: estimated before anything reads them (the
  // tokenizer loads on first use; counting yields to the event loop between slices).
  const answer = { json: ctx.outputJson, sse: ctx.sseOut, sseDroppedChars: ctx.sseDroppedChars };
  estimateRequestUsage(ctx, ctx.usage, generates, answer).then(
    () => complete(rt, ctx, status, cancelled, served, seconds),
    (err: unknown) => {
      rt.logger.error({ request_id: ctx.id, err }, 'token estimation failed');
      complete(rt, ctx, status, cancelled, served, seconds);
    },
  );
}

/** `u` with its completion-side counters zeroed and the total equal to the prompt (§6.3). */
function promptSideOnly(u: Usage): Usage {
  return {
    ...u,
    completion_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
    total_tokens: u.prompt_tokens,
  };
}

function complete(
  rt: GatewayRuntime,
  ctx: RequestContext,
  status: number,
  cancelled: boolean,
  served: boolean,
  seconds: number,
): void {
  if (ctx.apiKey !== undefined) rt.exporters.sync(ctx.snapshot);
  joinPanelUsage(ctx);
  if (ctx.scopes !== undefined) {
    // Token commits count what the upstream consumed: nothing on a refusal or a failed call
    // (no usage was read); an answer whose output guardrails blocked it still costs its tokens
    // (data-plane §9.3, §2 step 15); a stream cut short (client gone, upstream dropped) counts
    // what it reported so far (§6.3: committed at stream end, normal, error or disconnect).
    finishScopes(rt.logger, ctx.id, ctx.scopes, {
      status,
      cancelled,
      usage: ctx.usage,
      error: ctx.errorType,
    });
  }
  if (ctx.trace !== undefined) ctx.trace.end(ctx, status);
  // The usage events are built now, from the closed request; the batch that records them with
  // the metrics holds plain copies, never the request context (see `CompletedFacts`).
  const usage = wantsUsageEvents(rt, ctx) ? usageOf(rt, ctx, status, served, seconds) : undefined;
  rt.finished.push({ id: ctx.id, facts: completedFacts(ctx), usage, status, seconds });
  // Nothing reads the answer's text any more: a stream kept for the events is not kept longer.
  ctx.sseOut = undefined;
  ctx.sseServed = undefined;
  ctx.outputJson = undefined;
  rt.metrics.ended(ctx.endpoint);
  if (!rt.settings.accessLog || ctx.skipAccessLog) return;
  if (ctx.endpoint === '/livez' || ctx.endpoint === '/readyz') return;
  const u = ctx.usage;
  accessLogWriter(rt.logger)({
    // Always set on a server-side request.
    method: ctx.req.method as string,
    // A2A calls log one bounded path (agents-and-jobs §1.4); the agent is in the usage event.
    path: ctx.endpoint === '/a2a' ? '/a2a' : ctx.path,
    status,
    latency_ms: Math.round(seconds * 1e6) / 1e3,
    provider: ctx.provider ?? null,
    // The name the caller sent (a wildcard or unknown model): its first 256 characters.
    model: capName(ctx.requestedModel),
    api_key_id: ctx.apiKey?.id ?? null,
    prompt_tokens: u ? u.prompt_tokens : null,
    completion_tokens: u ? u.completion_tokens : null,
    total_tokens: u ? u.total_tokens : null,
    request_id: ctx.id,
    served_by_model: ctx.servedBy ?? (ctx.model ? modelView(ctx.model).display_name : null),
    routing_attempt_count: ctx.attempts,
    routing_fallback_count: ctx.fallbacks,
    error_kind: ctx.errorType ?? null,
    error: ctx.errorMessage ?? null,
    upstream_latency_ms: ctx.attempts > 0 ? Math.round(ctx.upstreamMs * 1e3) / 1e3 : null,
    gateway_latency_ms: Math.round(Math.max(seconds * 1e3 - ctx.upstreamMs, 0) * 1e3) / 1e3,
    ttft_ms: ctx.ttftSeconds !== undefined ? Math.round(ctx.ttftSeconds * 1e6) / 1e3 : null,
    usage_estimated: ctx.usageEstimated,
  });
}

/**
 * Records finished requests (`GatewayRuntime.finished` hands them over in batches): the
 * per-request metrics and the usage events. Nothing here decides anything for the caller (the
 * token commits, slot releases and the access log's time happen at the close), and metrics
 * readers flush the batch first, so a scrape sees every request that has finished.
 */
export function recordFinished(rt: GatewayRuntime, all: readonly FinishedRequest[]): void {
  for (const f of all) {
    try {
      recordOne(rt, f);
    } catch (err) {
      rt.logger.error({ request_id: f.id, err }, 'recording a finished request failed');
    }
  }
}

/**
 * Whether a closed request gets usage events (decided, and the events built, at its close; the
 * batch is recorded before the sinks change, `beforeSinksChange`).
 */
function wantsUsageEvents(rt: GatewayRuntime, ctx: RequestContext): boolean {
  const kind = ctx.route?.kind;
  return (
    rt.usage.active &&
    ctx.usageEvents &&
    ctx.apiKey !== undefined &&
    kind !== undefined &&
    kind !== 'models' &&
    kind !== 'health' &&
    kind !== 'a2a_card' &&
    // An A2A call has its event once it passed the ACL and body checks (agents-and-jobs §3.8).
    (kind !== 'a2a' || ctx.a2a !== undefined) &&
    // MCP: `tools/call` only; initialize, ping, tools/list are unlogged in usage (§2.7).
    (kind !== 'mcp' || ctx.mcp !== undefined)
  );
}

function recordOne(rt: GatewayRuntime, { facts, usage, status, seconds }: FinishedRequest): void {
  rt.metrics.completed(facts, status, seconds);
  if (usage !== undefined) rt.usage.publish(usage.events, usage.content, usage.steps);
}

function usageOf(
  rt: GatewayRuntime,
  ctx: RequestContext,
  status: number,
  served: boolean,
  seconds: number,
): FinishedUsage {
  const events = buildEvents(ctx, {
    status,
    seconds,
    endedAtMs: performance.timeOrigin + ctx.startedAt + seconds * 1000,
    clientIp: clientIp(ctx.req, rt.realIp),
    finishReason: served ? finishReason(ctx.outputJson, ctx.sseOut) : null,
  });
  // Full content only for exporters that ask, never for a caller refused as unauthenticated.
  const content =
    rt.usage.contentBytes > 0 && status !== 401 && status !== 403
      ? captureContent(ctx, rt.usage.contentBytes)
      : undefined;
  const steps: RequestSteps | undefined = rt.usage.stepsWanted
    ? { status, seconds, cache: ctx.cache, guardrails: ctx.guardrails?.evaluations ?? NO_EVALUATIONS }
    : undefined;
  return { events, content, steps };
}

const NO_EVALUATIONS: readonly GuardrailEvaluation[] = Object.freeze([]);
