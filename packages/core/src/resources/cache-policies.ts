/**
 * `cache_policies`: which requests are cached, for how long, where, and shared how widely.
 * The root is open (unknown top-level fields dropped on write); `semantic` is closed.
 * `applies_to` values other than `all`, `model:<alias>`, `api_key:<id>` behave as `all`.
 */
import * as v from 'valibot';
import { intRange, type Mode, nonEmpty, obj, openObj, strLen, u32, u64, unit } from './common.js';

export function cachePolicySchema(mode: Mode) {
  return openObj(mode, {
    name: strLen(1, 120),
    enabled: v.optional(v.boolean(), true),
    applies_to: v.optional(strLen(1, 255), 'all'),
    ttl_seconds: v.optional(intRange(1, 604_800), 3600),
    backend: v.optional(v.picklist(['memory', 'redis']), 'memory'),
    scope: v.optional(v.picklist(['api_key', 'env']), 'api_key'),
    purge_generation: v.optional(u32, 0),
    semantic: v.optional(
      obj(mode, {
        embedding_model: nonEmpty,
        threshold: unit,
        embedding_timeout_ms: v.optional(u64),
        max_entries: v.optional(intRange(1, 10_000), 1000),
      }),
    ),
  });
}

export type CachePolicy = v.InferOutput<ReturnType<typeof cachePolicySchema>>;
