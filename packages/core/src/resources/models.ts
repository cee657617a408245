/**
 * `models`: the aliases callers put in `model`. A document has exactly one shape: direct
 * (provider + model_name + provider_key_id), routing, ensemble or semantic. The shape check
 * runs after the fields parsed, so a field-level problem is always reported first.
 */
import * as v from 'valibot';
import { intRange, type Mode, nonEmpty, numRange, obj, rateLimit, statusList, u32, u64 } from './common.js';
import { ensembleSchema, routingSchema, semanticSchema } from './model-shapes.js';

const PROVIDER_ID = v.pipe(v.string(), v.minLength(1), v.maxLength(64), v.regex(/^[a-z0-9][a-z0-9._-]*$/));

const DEFAULT_TRIGGER_STATUSES: readonly number[] = [401, 408, 429, 500, 502, 503, 504];

function directParts(mode: Mode) {
  return {
    provider: v.optional(PROVIDER_ID),
    model_name: v.optional(nonEmpty),
    provider_key_id: v.optional(nonEmpty),
    background_model_check: v.optional(
      obj(mode, {
        enabled: v.boolean(),
        interval_seconds: intRange(5),
        timeout_seconds: intRange(1),
        prompt: nonEmpty,
        max_tokens: intRange(1),
        stale_after_seconds: intRange(1),
        ignore_statuses: v.optional(statusList),
      }),
    ),
    cooldown: v.optional(
      obj(mode, {
        enabled: v.optional(v.boolean(), true),
        default_seconds: v.optional(u64, 30),
        max_seconds: v.optional(intRange(1), 600),
        honor_retry_after: v.optional(v.boolean(), true),
        trigger_statuses: v.optional(statusList, () => [...DEFAULT_TRIGGER_STATUSES]),
        trigger_on_timeout: v.optional(v.boolean(), true),
        trigger_on_transport: v.optional(v.boolean(), true),
      }),
    ),
    embedding: v.optional(obj(mode, { dimensions: intRange(1), normalize: v.optional(v.boolean(), true) })),
  };
}

type Shape = 'direct' | 'routing' | 'ensemble' | 'semantic';
const DIRECT_REQUIRED = ['provider', 'model_name', 'provider_key_id'] as const;
const DIRECT_ONLY = [...DIRECT_REQUIRED, 'background_model_check', 'cooldown', 'embedding'] as const;
const GROUP_FIELDS = ['routing', 'ensemble', 'semantic'] as const;

/**
 * Returns null when the document matches exactly one shape, otherwise a message naming the
 * first violated rule of the must/must-not table.
 */
export function modelShapeError(o: Readonly<Record<string, unknown>>): string | null {
  const groups = GROUP_FIELDS.filter((g) => o[g] !== undefined);
  if (groups.length > 1)
    return `a model has exactly one shape; ${groups.join(' and ')} are mutually exclusive`;
  const shape: Shape = groups[0] ?? 'direct';
  if (shape === 'direct') {
    const missing = DIRECT_REQUIRED.filter((f) => o[f] === undefined);
    if (missing.length > 0) {
      return `a direct model requires ${missing.map((f) => `"${f}"`).join(', ')} (or one of routing, ensemble, semantic)`;
    }
    return null;
  }
  const forbidden = DIRECT_ONLY.filter((f) => o[f] !== undefined);
  if (forbidden.length > 0) return `a ${shape} model must not have "${forbidden[0]}"`;
  return null;
}

export function modelSchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      display_name: nonEmpty,
      ...directParts(mode),
      timeout: v.optional(u64),
      stream_timeout: v.optional(u64),
      retries: v.optional(u32),
      rate_limit: v.optional(rateLimit(mode)),
      allowed_cidrs: v.optional(v.array(nonEmpty)),
      cost: v.optional(obj(mode, { input_per_1k: numRange(0), output_per_1k: numRange(0) })),
      auto_prompt_caching: v.optional(
        obj(mode, { enabled: v.boolean(), ttl: v.optional(v.picklist(['5m', '1h']), '5m') }),
      ),
      routing: v.optional(routingSchema(mode)),
      ensemble: v.optional(ensembleSchema(mode)),
      semantic: v.optional(semanticSchema(mode)),
    }),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const msg = modelShapeError(dataset.value);
      if (msg !== null) addIssue({ message: msg });
    }),
  );
}

export type Model = v.InferOutput<ReturnType<typeof modelSchema>>;
