/**
 * The quota of a job call: the caller key's inline limit, the Model's inline limit (bucket
 * `model:<display name>`) and the policies, checked once before the upstream call and held
 * until the answer is relayed (so `concurrency` counts it); no tokens are committed.
 */
import type { ConfigSnapshot } from '@aisix/core';
import { type Admission, compileLimitPlan, type LimitPlan } from '@aisix/limits';
import { errors, type GatewayError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { apiKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import type { JobTarget } from './target.js';

const plans = new WeakMap<ConfigSnapshot, LimitPlan | null>();

/** The snapshot's plan (null: no limit configured anywhere), compiled once per snapshot. */
function planOf(snapshot: ConfigSnapshot): LimitPlan | undefined {
  let p = plans.get(snapshot);
  if (p === undefined) {
    p = compileLimitPlan(snapshot) ?? null;
    plans.set(snapshot, p);
  }
  return p ?? undefined;
}

/** The admission to commit once the call ends (undefined: nothing applies), or the 429. */
export async function admitJob(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: JobTarget,
): Promise<Admission | undefined | GatewayError> {
  const plan = planOf(ctx.snapshot);
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
