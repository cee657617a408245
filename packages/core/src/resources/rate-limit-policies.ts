/**
 * `rate_limit_policies` in two forms. Classic: one counter per (scope, scope_ref, window)
 * with `max_requests`/`max_tokens`. Conditional: a RateLimit `limits` object applied to the
 * requests a condition tree selects, optionally bucketed by `group_by`. The form is chosen
 * by the presence of a conditional-only field; mixing the two forms is an error in both
 * modes (a lenient read would otherwise serve an ambiguous policy).
 */
import * as v from 'valibot';
import { intRange, isPlainObject, type Mode, nonEmpty, obj, RATE_LIMIT_FIELDS, rateLimit } from './common.js';
import { conditionNodeSchema, conditionsCheck, scheduleSchema } from './rate-limit-conditions.js';

const CLASSIC_FIELDS = ['scope', 'scope_ref', 'window', 'max_requests', 'max_tokens'] as const;
const CONDITIONAL_FIELDS = ['limits', 'conditions', 'group_by', 'action'] as const;
const GROUP_BY = ['team', 'member', 'api_key', 'model', 'provider'] as const;

const positive = intRange(1);

function classic(mode: Mode) {
  return v.pipe(
    obj(mode, {
      name: nonEmpty,
      scope: v.picklist(['api_key', 'model', 'team', 'member', 'team_member']),
      scope_ref: nonEmpty,
      window: v.picklist(['second', 'minute', 'hour']),
      max_requests: v.optional(positive),
      max_tokens: v.optional(positive),
      schedules: v.optional(v.array(scheduleSchema(mode))),
    }),
    v.check(
      (p) => p.max_requests !== undefined || p.max_tokens !== undefined,
      'a classic policy needs at least one of "max_requests" or "max_tokens"',
    ),
  );
}

function conditional(mode: Mode) {
  return v.pipe(
    obj(mode, {
      name: nonEmpty,
      limits: v.pipe(
        rateLimit(mode),
        v.check(
          (l) => RATE_LIMIT_FIELDS.some((f) => l[f] !== undefined),
          'limits must set at least one field',
        ),
      ),
      conditions: v.optional(v.array(conditionNodeSchema(mode))),
      group_by: v.optional(
        v.pipe(
          v.array(v.picklist(GROUP_BY)),
          v.check((g) => new Set(g).size === g.length, 'group_by must not repeat a dimension'),
        ),
      ),
      action: v.optional(v.literal('reject')),
      schedules: v.optional(v.array(scheduleSchema(mode))),
    }),
    conditionsCheck(),
  );
}

function isConditional(x: unknown): boolean {
  return isPlainObject(x) && CONDITIONAL_FIELDS.some((f) => f in x);
}

function isMixed(x: unknown): boolean {
  return isConditional(x) && isPlainObject(x) && CLASSIC_FIELDS.some((f) => f in x);
}

export function rateLimitPolicySchema(mode: Mode) {
  const c = classic(mode);
  const k = conditional(mode);
  const either = v.lazy((x) => (isConditional(x) ? k : c)) as v.GenericSchema<
    v.InferInput<typeof c> | v.InferInput<typeof k>,
    v.InferOutput<typeof c> | v.InferOutput<typeof k>
  >;
  return v.pipe(
    v.unknown(),
    v.check(
      (x) => !isMixed(x),
      'a policy is either classic (scope, scope_ref, window, max_requests/max_tokens) or conditional (limits, conditions, group_by, action), not both',
    ),
    either,
  );
}

export type RateLimitPolicy = v.InferOutput<ReturnType<typeof rateLimitPolicySchema>>;
