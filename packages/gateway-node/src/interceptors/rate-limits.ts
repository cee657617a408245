/**
 * Rate limiting on the request lifecycle (data-plane §9): the interceptor that asks
 * `@aisix/limits` for the request's buckets (caller key, requested model, policies), acquires
 * them all-or-nothing before dispatch, gates each routing-group attempt on the target's own
 * limits, writes `x-ratelimit-*` headers on every success, and commits the served tokens when
 * the response closes (streams at their end, cache hits and failures 0; slots held until then
 * and released on cancel).
 *
 * The counters live in a `CounterStore` chosen by the CLI (memory, the pod-shared store of
 * node:cluster workers, Redis with fail-open to memory); this file never knows which.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import {
  type Admission,
  type Bucket,
  type BucketState,
  type CounterStore,
  estimateTokens,
  Limiter,
  type LimitPlan,
  type LimitRefusal,
  type RequestFacts as LimitRequestFacts,
  type LimitResult,
  tightestState,
} from '@aisix/limits';
import type { Usage } from '@aisix/providers';
import type { Logger } from 'pino';
import { errors, type GatewayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Begin, Interceptor, RequestFacts } from '../pipeline/lifecycle.js';
import { limitPlan } from '../pipeline/limit-plan.js';
import type { AttemptFacts, MemberGate, Outcome, Scope } from '../pipeline/scopes.js';
import { apiKeyView, modelView } from '../resources.js';
import { ESTIMATED_KINDS, estimateRequestUsage, needsEstimate } from '../usage/estimate.js';

export interface RateLimitDeps {
  readonly store: CounterStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** Tokens a response consumed, cache-inclusive (data-plane §9.3). */
export function committedTokens(u: Usage | undefined): number {
  if (u === undefined) return 0;
  const sum = u.prompt_tokens + u.completion_tokens + u.cache_creation_tokens + u.cache_read_tokens;
  return Math.max(sum, u.total_tokens);
}

function hasTokenLimit(buckets: readonly Bucket[]): boolean {
  for (const b of buckets) if (b.limits.tpm !== undefined || b.limits.tpd !== undefined) return true;
  return false;
}

/** Warnings already logged (bounded: a policy warning repeats per snapshot otherwise). */
const MAX_WARNED = 1000;

export function rateLimitInterceptor(d: RateLimitDeps): Interceptor<LimitPlan> {
  let storeFailures = 0;
  const limiter = new Limiter(d.store, {
    onError: (op, err) => {
      // The fail-open store logs outages itself; this is for anything that slips through.
      if (storeFailures++ % 1000 === 0)
        d.logger.warn(
          { op, err: String(err), failures: storeFailures },
          'rate-limit store call failed; passing',
        );
    },
  });
  const warned = new Set<string>();
  return {
    name: 'rate-limits',
    afterPlan: true,
    compile(snapshot) {
      const plan = limitPlan(snapshot);
      if (plan !== undefined) {
        for (const w of plan.warnings) {
          if (warned.has(w) || warned.size >= MAX_WARNED) continue;
          warned.add(w);
          d.logger.warn(w);
        }
      }
      return plan;
    },
    begin(plan, f) {
      const ctx = f.ctx;
      const key = ctx.apiKey;
      const model = ctx.model;
      if (key === undefined || model === undefined) return undefined;
      const kv = apiKeyView(key);
      const mv = modelView(model);
      const facts: LimitRequestFacts = {
        apiKeyId: key.id,
        team: kv.team_id,
        member: kv.user_id,
        requestedName: ctx.requestedModel ?? mv.display_name,
        // Cached per model resource (a fresh object only for a wildcard's upstream name).
        model: plan.modelFacts(model, f.upstreamModel),
      };
      const buckets = plan.requestBuckets(facts, Date.now());
      // A semantic model serves its chosen alias as a one-target group (agents-and-jobs §8.2
      // step 6): that target's own limits gate the attempt, so the scope is needed here too.
      // An ensemble's panel members keep their own limits too (§8.1 step 2, `member`).
      const group = mv.routing !== undefined || mv.semantic !== undefined || mv.ensemble !== undefined;
      if (buckets.length === 0 && !group) return undefined;
      const scope = new RateLimitScope(d, limiter, plan, facts, f);
      if (buckets.length === 0) return { scope };
      const admit = (r: LimitResult): Begin => {
        if (!r.ok) return { refuse: refusal(d.metrics, r) };
        scope.admitted(r.admission);
        d.metrics.governance.rateLimitRemaining(key.id, mv.display_name, r.admission.headers);
        return { scope };
      };
      const reserve = hasTokenLimit(buckets) ? scope.estimate() : 0;
      // The memory store answers at once: no promise on the request path.
      const now = limiter.acquireNow(buckets, reserve);
      return now !== undefined ? admit(now) : limiter.acquire(buckets, reserve).then(admit);
    },
  };
}

function refusal(metrics: Metrics, r: LimitRefusal): GatewayError {
  metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
  return errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy);
}

class RateLimitScope implements Scope {
  private admission: Admission | undefined;
  /** The admission of the routing attempt in flight (merged into the request's if it wins). */
  private attemptAdmission: Admission | undefined;
  private reserve: number | undefined;
  /** Tokens of a JSON answer, known before its head is written (headers read after commit). */
  private served: number | undefined;
  /** Routing attempts this scope's gate refused / let through (OP-9, see `finish`). */
  private gateRefusals = 0;
  private gatePasses = 0;

  constructor(
    private readonly d: RateLimitDeps,
    private readonly limiter: Limiter,
    private readonly plan: LimitPlan,
    private readonly facts: LimitRequestFacts,
    private readonly req: RequestFacts,
  ) {}

  /** The token reservation held against tpm/tpd until commit (computed once, on demand). */
  estimate(): number {
    let r = this.reserve;
    if (r === undefined) {
      r = estimateTokens(this.req.route.kind, this.req.body);
      this.reserve = r;
    }
    return r;
  }

  admitted(a: Admission): void {
    this.admission = a;
  }

  attempt(a: AttemptFacts): GatewayError | undefined | Promise<GatewayError | undefined> {
    // Only a routing group's members (and a semantic model's chosen target) have limits of
    // their own: no promise for a direct model, nor on the memory store, which answers at once.
    if (a.group === undefined) return undefined;
    const target = this.plan.modelFacts(a.model, a.upstreamModel);
    const buckets = this.plan.targetBuckets(this.facts, target, Date.now());
    if (buckets.length === 0) return this.gated(undefined);
    const reserve = hasTokenLimit(buckets) ? this.estimate() : 0;
    const now = this.limiter.acquireNow(buckets, reserve);
    return now !== undefined
      ? this.gated(now)
      : this.limiter.acquire(buckets, reserve).then((r) => this.gated(r));
  }

  /**
   * One ensemble panel call (agents-and-jobs §8.1 step 2): the member's inline limit and the
   * policies that follow it, acquired for this call alone (panel calls run concurrently). Over
   * limit → that member fails; otherwise its tokens are committed when the call ends.
   */
  member(a: AttemptFacts): MemberGate | Promise<MemberGate> {
    const target = this.plan.modelFacts(a.model, a.upstreamModel);
    const buckets = this.plan.targetBuckets(this.facts, target, Date.now());
    if (buckets.length === 0) return undefined;
    const reserve = hasTokenLimit(buckets) ? this.estimate() : 0;
    const held = (r: LimitResult): MemberGate => {
      if (!r.ok) return refusal(this.d.metrics, r);
      const adm = r.admission;
      return {
        end: (usage) => {
          // A failed call reached the member: its request counts stay, its slot goes.
          if (usage === undefined) void adm.release(false);
          else void adm.commit(committedTokens(usage));
        },
      };
    };
    const now = this.limiter.acquireNow(buckets, reserve);
    return now !== undefined ? held(now) : this.limiter.acquire(buckets, reserve).then(held);
  }

  /** Counts the gate's verdict on an attempt (undefined: no limit applied). */
  private gated(r: LimitResult | undefined): GatewayError | undefined {
    if (r !== undefined) {
      if (!r.ok) {
        this.gateRefusals++;
        return refusal(this.d.metrics, r);
      }
      this.attemptAdmission = r.admission;
    }
    this.gatePasses++;
    return undefined;
  }

  attemptEnd(ok: boolean): void {
    const a = this.attemptAdmission;
    if (a === undefined) return;
    this.attemptAdmission = undefined;
    if (!ok) {
      // The attempt reached the target: its request counts stay, its slot and reservation go.
      void a.release(false);
      return;
    }
    if (this.admission === undefined) this.admission = a;
    else this.admission.merge(a);
  }

  headers(h: OutgoingHttpHeaders): void {
    // The head is written during the attempt that answers, before it is merged: its target's
    // buckets are applicable layers too (OP-10).
    const a = this.admission?.headers;
    const t = this.attemptAdmission?.headers;
    const view = a === undefined ? t : t === undefined ? a : tightestState(a, t);
    if (view === undefined) return;
    const json = this.served !== undefined;
    writeHeaders(h, view, json ? (this.served as number) - (this.reserve ?? 0) : 0, json);
  }

  json(body: string, usage: Usage | undefined): string | Promise<string> {
    const ctx = this.req.ctx;
    const generates = ESTIMATED_KINDS[this.req.route.kind];
    // An upstream answer without usage is committed at its estimate (§12.5, done at finish):
    // when a token header is written, estimate it now, so the head reads as after that commit
    // (§9.6) instead of counting the answer as free. The estimate becomes the request's usage,
    // so it is not made twice. A cache hit (no attempt) commits 0 and is left alone.
    if (
      generates === undefined ||
      ctx.attempts === 0 ||
      !needsEstimate(usage, generates) ||
      (this.admission?.headers.tokens ?? this.attemptAdmission?.headers.tokens) === undefined
    ) {
      this.served = committedTokens(usage);
      return body;
    }
    const answer = { json: body, sse: undefined, sseDroppedChars: 0 };
    return estimateRequestUsage(ctx, usage, generates, answer).then(
      (u) => {
        this.served = committedTokens(u);
        return body;
      },
      () => {
        this.served = committedTokens(usage);
        return body;
      },
    );
  }

  finish(o: Outcome): void {
    // What the caller was served: 0 after a refusal or a failure, the usage a stream reported
    // so far when it ended early (data-plane §6.3, §9.3).
    const tokens = committedTokens(o.usage);
    if (this.attemptAdmission !== undefined) {
      void this.attemptAdmission.release(false);
      this.attemptAdmission = undefined;
    }
    const a = this.admission;
    if (a === undefined) return;
    // Every routing target refused by its own limits: the request was refused by a later
    // layer and is counted nowhere (decisions.md OP-9).
    if (this.gateRefusals > 0 && this.gatePasses === 0) void a.release(true);
    else void a.commit(tokens);
  }
}

/**
 * `x-ratelimit-*` from the tightest applicable layer (decisions.md OP-10), only for the
 * dimensions configured. A JSON answer's headers read as after its commit (data-plane §9.6):
 * `tokenDelta` corrects the token view by what the answer used beyond (or below) the
 * reservation, and `committed` gives back the request's own concurrency slot, which the commit
 * releases. A stream's head is written while its slot is held.
 */
function writeHeaders(h: OutgoingHttpHeaders, s: BucketState, tokenDelta: number, committed: boolean): void {
  const r = s.requests;
  if (r !== undefined) {
    h['x-ratelimit-limit-requests'] = String(r.limit);
    h['x-ratelimit-remaining-requests'] = String(r.remaining);
    h['x-ratelimit-reset-requests'] = `${r.resetSecs}s`;
  }
  const t = s.tokens;
  if (t !== undefined) {
    h['x-ratelimit-limit-tokens'] = String(t.limit);
    h['x-ratelimit-remaining-tokens'] = String(Math.max(0, t.remaining - tokenDelta));
    h['x-ratelimit-reset-tokens'] = `${t.resetSecs}s`;
  }
  const c = s.concurrent;
  if (c !== undefined) {
    h['x-ratelimit-limit-concurrent'] = String(c.limit);
    h['x-ratelimit-remaining-concurrent'] = String(
      committed ? Math.min(c.limit, c.remaining + 1) : c.remaining,
    );
  }
}
