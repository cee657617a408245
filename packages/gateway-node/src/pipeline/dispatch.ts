/**
 * The attempt loop (data-plane §8.3): for each target in order, up to its retry budget, call the
 * upstream; success stops, a non-retryable failure stops everything, otherwise retry the same
 * target after backoff or fail over to the next one without delay. The last failure is answered.
 *
 * Budget per target: model `retries` → group `routing.retries` → 0 when other targets remain →
 * `upstream.retries`. A budget from the deployment default does not retry timeouts on the same
 * target (it still fails over). Streams can only retry before the 200 is committed; a stream that
 * fails after it ends in-band and is recorded as the target's failed attempt, with no fail-over.
 */
import { type Resource, resolveModel } from '@aisix/core';
import {
  type Endpoint,
  type IngressDialect,
  isPassthroughEndpoint,
  type PassthroughEndpoint,
} from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { sendError } from '../http/respond.js';
import { type EnsembleView, type ModelView, modelKind, modelView, type SemanticView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { authorizeTarget } from '../upstream/authorize.js';
import {
  type AttemptFailure,
  type AttemptResult,
  backoffMs,
  DIRECT_POLICY,
  type RetryBudget,
  type RetryPolicy,
  retryAgain,
  retryBudget,
  served,
} from '../upstream/failures.js';
import { callPassthrough } from '../upstream/passthrough.js';
import { callStream } from '../upstream/stream.js';
import { buildTarget, type Target } from '../upstream/target.js';
import { callUnary } from '../upstream/unary.js';
import { closeAttemptTiming, openAttempt } from '../usage/attempts.js';
import { clientIp, ipAllowed } from './access.js';
import type { RequestContext } from './context.js';
import { answerWithJudge, holdPanelUsage, judgeError, judgeTarget, runPanel } from './ensemble.js';
import { attemptOrder, compiledGroup, eligibleTargets, type GroupTarget } from './routing.js';
import { closeAttempt, endAttempt, gateAttempt } from './scopes.js';
import { chooseSemantic } from './semantic.js';

export interface Candidate {
  readonly target: Target | undefined;
  /** Build-time refusal (config fault inside a group). */
  readonly refusal: GatewayError | undefined;
  readonly alias: string;
}

export interface DispatchInput {
  readonly endpoint: Endpoint | PassthroughEndpoint;
  readonly body: Readonly<Record<string, unknown>>;
  /** Forward the usage-only stream chunk (caller set `stream_options.include_usage: true`). */
  readonly forwardUsageChunk: boolean;
  readonly upstreamModel: string | undefined;
  /** Caller dialect other than OpenAI: chooses a native or bridged adapter per target. */
  readonly dialect?: IngressDialect;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A failed upstream attempt (model calls and video calls alike): counted against its model's
 * health (cooldowns, failure metrics) and, when the failure has a cause, logged as `message`.
 * The deployment is the model: its `upstream_model` label is the configured `model_name` (a
 * wildcard's template), never the name a caller picked through it.
 */
export function recordAttemptFailure(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: Pick<Target, 'model' | 'provider' | 'upstreamModel'> & {
    readonly view: Pick<Target['view'], 'display_name' | 'provider_key_id' | 'model_name'>;
  },
  f: AttemptFailure,
  message: string,
): void {
  rt.health.recordFailure(t.model, f, {
    provider: t.provider,
    model: t.view.display_name,
    upstream_model: t.view.model_name ?? t.upstreamModel,
    provider_key_id: t.view.provider_key_id ?? '',
  });
  if (f.detail) rt.logger.warn({ request_id: ctx.id, provider: t.provider, cause: f.detail }, message);
}

/**
 * The attempts of a request whose targets are known before any call (data-plane §2 steps 8-9):
 * a direct model's one target, a routing group's ordered, tag/IP/health-filtered candidates.
 */
export interface AttemptPlan {
  readonly candidates: readonly Candidate[];
  readonly group: ModelView | undefined;
}

/**
 * Steps 8-9 of data-plane §2: the attempt list, and for a direct model the check that it has a
 * provider key, a usable upstream configuration and an adapter for this endpoint. A refusal here
 * comes before the rate limits and the cache (steps 10, 13), so it uses no quota. Undefined for
 * the models whose target is chosen while serving (ensemble, semantic).
 */
export function planAttempts(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
): AttemptPlan | GatewayError | undefined {
  const model = ctx.model;
  if (!model) return errors.internal();
  const view = modelView(model);
  const kind = modelKind(view);
  if (kind === 'direct') {
    const built = buildTarget(
      rt,
      ctx,
      input.endpoint,
      input.body,
      model,
      input.upstreamModel ?? view.model_name ?? '',
      undefined,
      input.dialect,
    );
    if (!built.ok) return built.error;
    return {
      candidates: [{ target: built.target, refusal: undefined, alias: view.display_name }],
      group: undefined,
    };
  }
  if (kind === 'ensemble' || kind === 'semantic') {
    // Both shapes serve only /v1/chat/completions (agents-and-jobs §8).
    if (input.endpoint !== 'chat' || input.dialect !== undefined) {
      return errors.invalidBody(
        `model \`${view.display_name}\` is ${kind === 'ensemble' ? 'an ensemble' : 'a semantic'} model; only /v1/chat/completions is supported`,
      );
    }
    return undefined;
  }
  // Single-model endpoints (embeddings, passthrough) serve direct models only.
  if (
    kind !== 'routing' ||
    !view.routing ||
    input.endpoint === 'embeddings' ||
    isPassthroughEndpoint(input.endpoint)
  ) {
    return errors.invalidBody(`model ${JSON.stringify(view.display_name)} cannot serve this endpoint`);
  }
  const candidates = groupCandidates(rt, ctx, input, model, view);
  return Array.isArray(candidates) ? { candidates, group: view } : candidates;
}

/**
 * Serves the request from its model's targets: the plan the pipeline made of `input` before its
 * limits, else one made here. Not `async`: it returns the attempt loop's own promise (an async
 * function returning a promise costs two more microtask turns per request).
 */
export function dispatch(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
  planned?: AttemptPlan,
): Promise<void> | void {
  rt.exporters.sync(ctx.snapshot);
  if (rt.usage.active) ctx.attemptLog = [];
  const plan = planned ?? planAttempts(rt, ctx, input);
  if (plan instanceof GatewayError) return sendError(ctx, rt.ident, plan);
  if (plan !== undefined) return loop(rt, ctx, input, plan.candidates, plan.group);
  const view = ctx.model ? modelView(ctx.model) : undefined;
  if (view?.semantic) return dispatchSemantic(rt, ctx, input, view, view.semantic);
  if (view?.ensemble) return dispatchEnsemble(rt, ctx, input, view.ensemble);
  return sendError(ctx, rt.ident, errors.internal());
}

/**
 * An ensemble (§8.1): the panel runs in `ensemble.ts`; a streaming judge is relayed by the
 * attempt loop (callStream restamps chunks to the requested alias; no `x-aisix-served-by`).
 */
async function dispatchEnsemble(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
  e: EnsembleView,
): Promise<void> {
  const judge = await runPanel(rt, ctx, input.body, e);
  if (judge instanceof GatewayError) return sendError(ctx, rt.ident, judge);
  if (ctx.res.destroyed) return;
  if (!ctx.stream) return answerWithJudge(rt, ctx, judge);
  // Survivors are billed whatever the judge does (§8.1 steps 3, 7).
  holdPanelUsage(ctx, judge);
  const built = judgeTarget(rt, ctx, judge);
  if (!built.ok) return sendError(ctx, rt.ident, built.error);
  const t = built.target;
  ctx.provider = t.provider;
  ctx.upstreamModel = t.upstreamModel;
  ctx.attempts++;
  openAttempt(ctx, {
    index: judge.judgeIndex,
    kind: 'judge',
    model: t.model,
    upstreamModel: t.upstreamModel,
    provider: t.provider,
    providerKeyName: t.providerKeyName,
  });
  const auth = t.adapter.authorize ? await authorizeTarget(ctx, t, false) : undefined;
  rt.targets.begin(t.model.id);
  const r: AttemptResult =
    auth?.ok === false
      ? { ok: false, failure: auth.failure }
      : await callStream(rt, ctx, 'chat', auth?.ok ? auth.target : t, DIRECT_POLICY, input.forwardUsageChunk);
  rt.targets.end(t.model.id, undefined);
  closeAttemptTiming(ctx, r, served(r));
  if (!r.ok && !ctx.res.destroyed && !ctx.res.headersSent)
    sendError(ctx, rt.ident, judgeError(r.failure.error));
}

/** Semantic routing: choose the alias, then serve it as a one-target group (§8.2 step 6). */
async function dispatchSemantic(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
  view: ModelView,
  sem: SemanticView,
): Promise<void> {
  const chosen = await chooseSemantic(rt, ctx, sem, input.body.messages);
  if (chosen instanceof GatewayError) return sendError(ctx, rt.ident, chosen);
  if (ctx.res.destroyed) return;
  const resolved = resolveModel(ctx.snapshot, chosen.alias);
  if (!resolved || modelKind(modelView(resolved.model)) !== 'direct') {
    return sendError(
      ctx,
      rt.ident,
      errors.invalidBody(`semantic route target ${JSON.stringify(chosen.alias)} is not a direct model`),
    );
  }
  const tv = modelView(resolved.model);
  if (
    tv.allowed_cidrs &&
    tv.allowed_cidrs.length > 0 &&
    !ipAllowed(tv.allowed_cidrs, clientIp(ctx.req, rt.realIp))
  ) {
    return sendError(ctx, rt.ident, errors.ipRestricted());
  }
  ctx.semanticRoute = chosen.route;
  const built = buildTarget(
    rt,
    ctx,
    input.endpoint,
    input.body,
    resolved.model,
    resolved.upstreamModel ?? tv.model_name ?? '',
    view,
    input.dialect,
  );
  return loop(
    rt,
    ctx,
    input,
    [
      built.ok
        ? { target: built.target, refusal: undefined, alias: chosen.alias }
        : { target: undefined, refusal: built.error, alias: chosen.alias },
    ],
    view,
  );
}

function groupCandidates(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
  groupModel: Resource<'models'>,
  group: ModelView,
): Candidate[] | GatewayError {
  const routing = group.routing;
  if (!routing) return errors.internal();
  const g = compiledGroup(ctx.snapshot, groupModel, routing);
  const eligible = eligibleTargets(g, ctx.req.headers['x-aisix-routing-tags']);
  if (!Array.isArray(eligible)) return eligible as GatewayError;
  const sticky = headerValue(ctx.req.headers['x-aisix-routing-key']) ?? ctx.apiKey?.id;
  const ip = clientIp(ctx.req, rt.realIp);
  const out: Candidate[] = [];
  let ipDropped = 0;
  for (const i of attemptOrder(g, eligible, sticky, rt.targets)) {
    const gt = g.targets[i] as GroupTarget;
    if (gt.model === undefined) {
      return errors.invalidBody(`routing target ${JSON.stringify(gt.alias)} is not a direct model`);
    }
    const tv = modelView(gt.model);
    if (tv.allowed_cidrs && tv.allowed_cidrs.length > 0 && !ipAllowed(tv.allowed_cidrs, ip)) {
      ipDropped++;
      continue;
    }
    const built = buildTarget(
      rt,
      ctx,
      input.endpoint,
      input.body,
      gt.model,
      gt.upstreamModel,
      group,
      input.dialect,
    );
    out.push(
      built.ok
        ? { target: built.target, refusal: undefined, alias: gt.alias }
        : { target: undefined, refusal: built.error, alias: gt.alias },
    );
  }
  if (out.length === 0 && ipDropped > 0) return errors.ipRestricted();
  // Health filter (§8.4 step 5): healthy targets first, else cooling ones; all unhealthy → 503
  // unless `when_all_unavailable: try_anyway`.
  const kept = rt.health.healthFilter(
    out,
    (c) => c.target?.model.id,
    routing.when_all_unavailable === 'try_anyway',
  );
  return kept ?? errors.allCandidatesUnavailable();
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
}

/**
 * The latency sample of a finished attempt (least_latency): a success's duration (a stream's time
 * to first output when it had one, so long answers do not read as slow targets; also when the
 * stream failed after that output) or a timeout's; other failures say nothing of speed and are
 * not sampled.
 */
function attemptLatencyMs(ctx: RequestContext, r: AttemptResult, t0: number): number | undefined {
  if (ctx.stream && ctx.ttftSeconds !== undefined && served(r)) return ctx.ttftSeconds * 1000;
  if (r.ok) return performance.now() - t0;
  return r.failure.timeout ? performance.now() - t0 : undefined;
}

/** The target prepared again with the body a scope gave for this attempt (or the refusal). */
function reprepare(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
  t: Target,
  body: Readonly<Record<string, unknown>>,
  group: ModelView | undefined,
): Target | GatewayError {
  const built = buildTarget(rt, ctx, input.endpoint, body, t.model, t.upstreamModel, group, input.dialect);
  return built.ok ? built.target : built.error;
}

function budgetFor(
  rt: GatewayRuntime,
  t: ModelView,
  group: ModelView | undefined,
  othersRemain: boolean,
): RetryBudget {
  // A group member with other members left fails over instead of retrying (unless told to).
  const own = t.retries ?? group?.routing?.retries ?? (othersRemain ? 0 : undefined);
  return retryBudget(own, rt.settings.retries);
}

async function loop(
  rt: GatewayRuntime,
  ctx: RequestContext,
  input: DispatchInput,
  candidates: readonly Candidate[],
  group: ModelView | undefined,
): Promise<void> {
  const policy: RetryPolicy = group?.routing
    ? {
        retryOn429: group.routing.retry_on_429 ?? false,
        extraStatuses: group.routing.fallback_on_statuses ?? [],
      }
    : DIRECT_POLICY;
  let last: AttemptFailure | undefined;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i] as Candidate;
    if (!c.target) {
      last = { error: c.refusal ?? errors.internal(), retryable: true, timeout: false };
      continue;
    }
    const base = c.target;
    ctx.provider = base.provider;
    ctx.upstreamModel = base.upstreamModel;
    ctx.servedBy = group ? c.alias : undefined;
    const budget = budgetFor(rt, base.view, group, i < candidates.length - 1);
    for (let attempt = 0; ; attempt++) {
      let t = base;
      ctx.attempts++;
      if (attempt === 0 && ctx.attempts > 1) ctx.fallbacks++;
      const scopes = ctx.scopes;
      if (scopes !== undefined) {
        const facts = {
          model: t.model,
          alias: c.alias,
          provider: t.provider,
          upstreamModel: t.upstreamModel,
          group,
        };
        let gate = gateAttempt(rt.logger, ctx.id, scopes, facts);
        if (gate instanceof Promise) gate = await gate;
        // A body for this attempt (a member guardrail masked the input): its own target.
        const admitted =
          gate === undefined || gate instanceof GatewayError
            ? gate
            : reprepare(rt, ctx, input, t, gate.body, group);
        if (admitted instanceof GatewayError) {
          // A target over its own limit is skipped as a refused attempt; the next one is tried.
          if (!(gate instanceof GatewayError)) endAttempt(rt.logger, ctx.id, scopes, false);
          last = { error: admitted, retryable: true, timeout: false, status: admitted.status, local: true };
          break;
        }
        if (admitted !== undefined) t = admitted;
        ctx.attemptOpen = true;
        if (ctx.res.destroyed) return closeAttempt(rt.logger, ctx, false);
      }
      const span =
        ctx.trace === undefined
          ? undefined
          : ctx.trace.startAttempt({
              endpoint: input.endpoint,
              provider: t.provider,
              alias: c.alias,
              upstreamModel: t.upstreamModel,
              index: ctx.attempts - 1,
              kind: attempt > 0 ? 'retry' : i > 0 ? 'fallback' : 'initial',
            });
      openAttempt(ctx, {
        index: ctx.attempts - 1,
        kind: attempt > 0 ? 'retry' : i > 0 ? 'fallback' : 'initial',
        model: t.model,
        upstreamModel: t.upstreamModel,
        provider: t.provider,
        providerKeyName: t.providerKeyName,
      });
      // Async credentials (token minting) per attempt, only for adapters with the hook (no
      // extra await on the common path).
      // In flight from here until the attempt (a stream: its last byte) ends (least_busy). The
      // calls below answer every failure as a result; they do not throw.
      rt.targets.begin(t.model.id);
      const t0 = performance.now();
      const auth = t.adapter.authorize ? await authorizeTarget(ctx, t, group !== undefined) : undefined;
      const target = auth?.ok ? auth.target : t;
      const r: AttemptResult =
        auth?.ok === false
          ? { ok: false, failure: auth.failure }
          : isPassthroughEndpoint(input.endpoint)
            ? await callPassthrough(rt, ctx, input.endpoint, target, policy, input.body)
            : ctx.stream
              ? await callStream(rt, ctx, input.endpoint, target, policy, input.forwardUsageChunk)
              : await callUnary(rt, ctx, input.endpoint, target, policy);
      rt.targets.end(t.model.id, attemptLatencyMs(ctx, r, t0));
      if (span !== undefined) span.end(r);
      // An attempt that failed after commit still served the response: its usage and its rate-limit
      // admission count like a success's; its record carries the failure.
      closeAttemptTiming(ctx, r, served(r));
      closeAttempt(rt.logger, ctx, served(r));
      if (r.ok) {
        rt.health.recordSuccess(t.model.id);
        if (group && ctx.model) rt.health.recordSuccess(ctx.model.id);
        return;
      }
      if (r.committed) {
        // No fail-over nor retry after commit (§6.5), but the attempt failed (§8.6): it counts
        // against the target and may cool it down. The group's own health is left as it was (the
        // group did not fail every target, nor did it serve a success).
        recordAttemptFailure(rt, ctx, t, r.failure, 'upstream stream failed after commit');
        return;
      }
      if (ctx.res.destroyed || ctx.res.headersSent) return;
      last = r.failure;
      recordAttemptFailure(rt, ctx, t, last, 'upstream attempt failed');
      if (!last.retryable) return sendError(ctx, rt.ident, last.error);
      if (!retryAgain(last, attempt, budget)) break;
      await sleep(backoffMs(attempt + 1, last.retryAfterMs));
      if (ctx.res.destroyed) return;
    }
  }
  // Targets refused by the gateway's own limits say nothing about the group's health.
  if (group && ctx.model && !last?.local) rt.health.recordGroupFailure(ctx.model.id, group.display_name);
  sendError(ctx, rt.ident, last?.error ?? errors.internal());
}
