/**
 * The three non-direct model shapes: `routing` (a group over other aliases), `ensemble`
 * (a panel plus a judge) and `semantic` (embedding-based route selection). `models.ts`
 * combines them with the direct fields and enforces "exactly one shape".
 */
import * as v from 'valibot';
import { finiteNumber, intRange, type Mode, nonEmpty, numRange, obj, u32, u64, unit } from './common.js';

export const ROUTING_STRATEGIES = [
  'failover',
  'round_robin',
  'weighted',
  'least_cost',
  'least_latency',
  'least_busy',
] as const;

export function routingSchema(mode: Mode) {
  const target = obj(mode, {
    model: nonEmpty,
    weight: v.optional(u32, 1),
    tags: v.optional(v.array(v.string())),
  });
  return obj(mode, {
    targets: v.pipe(v.array(target), v.minLength(1)),
    strategy: v.optional(v.picklist(ROUTING_STRATEGIES), 'failover'),
    retries: v.optional(u32),
    max_fallbacks: v.optional(u32),
    retry_on_429: v.optional(v.boolean(), false),
    // Extra fail-over statuses are error statuses only (data-plane §8.4: 400–599).
    fallback_on_statuses: v.optional(v.array(intRange(400, 599))),
    when_all_unavailable: v.optional(v.picklist(['fail', 'try_anyway']), 'fail'),
    sticky: v.optional(v.boolean(), false),
  });
}

export function ensembleSchema(mode: Mode) {
  const member = obj(mode, {
    model: nonEmpty,
    temperature: v.optional(numRange(0)),
    seed: v.optional(u64),
    weight: v.optional(finiteNumber),
  });
  return obj(mode, {
    panel: v.pipe(v.array(member), v.minLength(1)),
    judge: obj(mode, { model: nonEmpty, synthesis_prompt: v.optional(nonEmpty) }),
    min_responses: v.optional(v.pipe(u32, v.minValue(1))),
    timeout_ms: v.optional(u64),
  });
}

function onEmbeddingFailure(mode: Mode) {
  return v.union([v.picklist(['default', 'fail']), obj(mode, { target: nonEmpty })]);
}

export function semanticSchema(mode: Mode) {
  const route = obj(mode, {
    name: nonEmpty,
    target: nonEmpty,
    examples: v.pipe(v.array(nonEmpty), v.minLength(1)),
    threshold: v.optional(unit),
    description: v.optional(v.string()),
  });
  return obj(mode, {
    embedding_model: v.optional(nonEmpty),
    default: v.optional(nonEmpty),
    match: obj(mode, {
      threshold: unit,
      distance_metric: v.optional(v.literal('cosine'), 'cosine'),
      aggregation: v.optional(v.literal('max'), 'max'),
    }),
    routes: v.pipe(v.array(route), v.minLength(1)),
    embedding_timeout_ms: v.optional(u64),
    on_embedding_failure: v.optional(onEmbeddingFailure(mode), 'default'),
  });
}
