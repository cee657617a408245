/**
 * The snapshot's rate-limit plan, compiled once per snapshot and shared by the model pipeline's
 * rate-limit interceptor and the surfaces that acquire through `rt.limiter` themselves (MCP
 * `tools/call`, A2A calls, the raw `/passthrough` tunnel, job calls, video polls); undefined
 * when the snapshot configures no limit at all.
 */
import type { ConfigSnapshot } from '@aisix/core';
import { compileLimitPlan, type LimitPlan } from '@aisix/limits';

const plans = new WeakMap<ConfigSnapshot, LimitPlan | null>();

export function limitPlan(snapshot: ConfigSnapshot): LimitPlan | undefined {
  let p = plans.get(snapshot);
  if (p === undefined) {
    p = compileLimitPlan(snapshot) ?? null;
    plans.set(snapshot, p);
  }
  return p ?? undefined;
}
