/**
 * Quota buckets of the non-model surfaces (agents-and-jobs §1.3: MCP `tools/call`, A2A calls):
 * the key's inline limit, then the policies that do not follow a model. The snapshot's limit
 * plan is compiled once per snapshot.
 */
import type { ConfigSnapshot, Resource } from '@aisix/core';
import type { Bucket, ModelFacts } from '@aisix/limits';
import { limitPlan } from './limit-plan.js';

/**
 * The buckets of one call on a model-less surface. `label` stands in for the model name;
 * `group` keeps model-following policies out of the request gate (no model dimension).
 */
export function surfaceBuckets(snapshot: ConfigSnapshot, key: Resource<'api_keys'>, label: string): Bucket[] {
  const plan = limitPlan(snapshot);
  if (plan === undefined) return [];
  const v = key.value as Readonly<Record<string, unknown>>;
  const model: ModelFacts = { id: '', alias: label, group: true };
  return plan.requestBuckets({
    apiKeyId: key.id,
    team: typeof v.team_id === 'string' ? v.team_id : undefined,
    member: typeof v.user_id === 'string' ? v.user_id : undefined,
    requestedName: label,
    model,
  });
}
