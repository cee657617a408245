/**
 * Admission of a job call: the target Model, the input scan of a create body, then the quota
 * (the caller key's inline limit, the Model's inline limit in bucket `model:<display name>`,
 * the policies), checked once before the upstream call and held until the answer is relayed
 * (so `concurrency` counts it); no tokens are committed.
 */
import type { Admission } from '@aisix/limits';
import { errors, GatewayError } from '../errors.js';
import { sendError } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import { limitPlan } from '../pipeline/limit-plan.js';
import { apiKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { guardsFor, type JobGuards, scan } from './guard.js';
import type { JobTarget, TargetResult } from './target.js';

/** The admission to commit once the call ends (undefined: nothing applies), or the 429. */
async function admitJob(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: JobTarget,
): Promise<Admission | undefined | GatewayError> {
  const plan = limitPlan(ctx.snapshot);
  const key = ctx.apiKey;
  if (plan === undefined || key === undefined) return undefined;
  const v = apiKeyView(key);
  const buckets = plan.requestBuckets({
    apiKeyId: key.id,
    team: v.team_id,
    member: v.user_id,
    requestedName: t.alias,
    model: plan.modelFacts(t.model),
  });
  if (buckets.length === 0) return undefined;
  const r = await rt.limiter.acquire(buckets);
  if (r.ok) return r.admission;
  rt.metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
  return errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy);
}

/**
 * Target, then the input scan of `input` (a create body), then quota; the call runs while the
 * admission is held.
 */
export async function withTarget(
  rt: GatewayRuntime,
  ctx: RequestContext,
  pick: () => TargetResult,
  run: (t: JobTarget, guards: JobGuards) => Promise<void>,
  input?: string,
): Promise<void> {
  const chosen = pick();
  if (!chosen.ok) return sendError(ctx, rt.ident, chosen.error);
  const t = chosen.target;
  ctx.model = t.model;
  ctx.provider = t.provider;
  ctx.requestedModel = t.alias;
  const guards = guardsFor(rt, ctx, t);
  if (input !== undefined) {
    const blocked = await scan(rt, ctx, guards.input, input, 'input');
    if (blocked !== undefined) return sendError(ctx, rt.ident, blocked);
  }
  const admission: Admission | undefined | GatewayError = await admitJob(rt, ctx, t);
  if (admission instanceof GatewayError) return sendError(ctx, rt.ident, admission);
  try {
    await run(t, guards);
  } finally {
    if (admission !== undefined) void admission.commit(0);
  }
}
