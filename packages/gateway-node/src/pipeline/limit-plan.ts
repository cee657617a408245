/**
 * The snapshot's rate-limit plan for the surfaces outside the model pipeline (MCP `tools/call`,
 * the raw `/passthrough` tunnel), which acquire through `rt.limiter` themselves. Compiled once
 * per snapshot; undefined when the snapshot configures no limit at all.
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
