/**
 * Compiles one `rate_limit_policies` row into what the planner needs per request: its limits
 * in RateLimit form, how it is matched (classic scope index or condition predicate), whether
 * it follows the routing target (evaluated against the target model for groups), its bucket
 * (or how to build the bucket key), and its suspension schedules.
 *
 * Classic (data-plane §9.5): window `second` -> rps, `minute` -> rpm/tpm, `hour` -> rph;
 * `max_tokens` on second/hour is ignored with a warning (there are no per-second/per-hour
 * token limits). Bucket `policy:<scope>:<scope_ref>:<policy_id>[:<user_id>]`.
 * Conditional: `limits`, `conditions`, `group_by`; bucket
 * `policy:v2:<policy_id>[:<dim>=<value>...]` with group_by dims in canonical order.
 * A policy reading model, model_name or provider (in conditions or group_by) follows the
 * target; classic `model` scope does too.
 *
 * Rows with unusable data are reported as a string (one warning) and skipped, never thrown.
 */
import { type CompiledConditions, compileConditions, type DimValues } from './conditions.js';
import { type CompiledSchedule, compileSchedules } from './schedules.js';
import { type Bucket, LIMIT_DIMS, type Limits, type PolicyRef } from './types.js';

export type ClassicScope = 'api_key' | 'model' | 'team' | 'member' | 'team_member';
const SCOPES: ReadonlySet<string> = new Set(['api_key', 'model', 'team', 'member', 'team_member']);

/** Canonical group_by order (bucket keys list dims in this order whatever the config says). */
export const GROUP_DIMS = ['team', 'member', 'api_key', 'model', 'provider'] as const;
export type GroupDim = (typeof GROUP_DIMS)[number];

interface Common {
  readonly ref: PolicyRef;
  readonly limits: Limits;
  readonly schedules: readonly CompiledSchedule[];
  readonly followsModel: boolean;
  /** Per-minute cache of the schedule verdict (minute index, suspended?). */
  minute: number;
  suspended: boolean;
}

export interface ClassicPolicy extends Common {
  readonly form: 'classic';
  readonly scope: ClassicScope;
  readonly scopeRef: string;
  /** The one bucket of every scope but team_member (which has one per member). */
  readonly bucket: Bucket | undefined;
}

export interface ConditionalPolicy extends Common {
  readonly form: 'conditional';
  readonly conditions: CompiledConditions;
  readonly groupBy: readonly GroupDim[];
  /** When group_by is empty: one shared bucket. */
  readonly bucket: Bucket | undefined;
}

export type CompiledPolicy = ClassicPolicy | ConditionalPolicy;

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}

/** Only the known, well-formed dimensions of a RateLimit (lenient reads may carry extras). */
export function cleanLimits(raw: unknown): Limits | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const src = raw as Record<string, unknown>;
  const out: Record<string, number> = {};
  let any = false;
  for (const d of LIMIT_DIMS) {
    const v = src[d];
    if (isCount(v)) {
      out[d] = v;
      any = true;
    }
  }
  return any ? Object.freeze(out) : undefined;
}

function classicLimits(p: Record<string, unknown>, warn: (m: string) => void): Limits | string {
  const req = isCount(p.max_requests) && p.max_requests > 0 ? p.max_requests : undefined;
  const tok = isCount(p.max_tokens) && p.max_tokens > 0 ? p.max_tokens : undefined;
  const out: Record<string, number> = {};
  switch (p.window) {
    case 'second':
      if (req !== undefined) out.rps = req;
      break;
    case 'minute':
      if (req !== undefined) out.rpm = req;
      if (tok !== undefined) out.tpm = tok;
      break;
    case 'hour':
      if (req !== undefined) out.rph = req;
      break;
    default:
      return 'window must be second, minute or hour';
  }
  if (tok !== undefined && p.window !== 'minute') {
    warn(`max_tokens is ignored for window "${String(p.window)}" (token limits exist per minute only)`);
  }
  if (Object.keys(out).length === 0) return 'no usable limit (max_requests/max_tokens)';
  return Object.freeze(out);
}

/** Compiles one row; `warn` collects non-fatal notes. A string result = skipped, with why. */
export function compilePolicy(id: string, doc: unknown, warn: (m: string) => void): CompiledPolicy | string {
  if (typeof doc !== 'object' || doc === null) return 'not an object';
  const p = doc as Record<string, unknown>;
  const name = typeof p.name === 'string' ? p.name : id;
  const ref: PolicyRef = Object.freeze({ id, name });
  const schedules = compileSchedules(p.schedules);
  if (typeof schedules === 'string') return schedules;
  const conditional = 'limits' in p || 'conditions' in p || 'group_by' in p || 'action' in p;
  if (!conditional) {
    if (typeof p.scope !== 'string' || !SCOPES.has(p.scope)) return 'unknown scope';
    if (typeof p.scope_ref !== 'string' || p.scope_ref === '') return 'scope_ref missing';
    const limits = classicLimits(p, warn);
    if (typeof limits === 'string') return limits;
    const scope = p.scope as ClassicScope;
    const bucket: Bucket | undefined =
      scope === 'team_member'
        ? undefined
        : Object.freeze({
            key: `policy:${scope}:${p.scope_ref}:${id}`,
            limits,
            layer: 'policy',
            policy: ref,
          });
    return {
      form: 'classic',
      ref,
      limits,
      schedules,
      followsModel: scope === 'model',
      minute: -1,
      suspended: false,
      scope,
      scopeRef: p.scope_ref,
      bucket,
    };
  }
  if (p.action !== undefined && p.action !== 'reject') return 'action must be reject';
  const limits = cleanLimits(p.limits);
  if (limits === undefined) return 'limits sets no dimension';
  const conditions = compileConditions(p.conditions);
  if (typeof conditions === 'string') return conditions;
  let groupBy: GroupDim[] = [];
  if (p.group_by !== undefined) {
    if (!Array.isArray(p.group_by)) return 'group_by is not a list';
    const wanted = new Set(p.group_by);
    if (wanted.size !== p.group_by.length) return 'group_by repeats a dimension';
    for (const g of wanted) {
      if (!(GROUP_DIMS as readonly unknown[]).includes(g)) return 'group_by has an unknown dimension';
    }
    groupBy = GROUP_DIMS.filter((g) => wanted.has(g));
  }
  const d = conditions.dims;
  const followsModel =
    d.has('model') ||
    d.has('model_name') ||
    d.has('provider') ||
    groupBy.includes('model') ||
    groupBy.includes('provider');
  const bucket: Bucket | undefined =
    groupBy.length === 0
      ? Object.freeze({ key: `policy:v2:${id}`, limits, layer: 'policy', policy: ref })
      : undefined;
  return {
    form: 'conditional',
    ref,
    limits,
    schedules,
    followsModel,
    minute: -1,
    suspended: false,
    conditions,
    groupBy,
    bucket,
  };
}

/**
 * The bucket of a conditional policy for one evaluation, or undefined when the request lacks
 * a grouped dimension (such a request is not subject to the policy).
 */
export function groupedBucket(p: ConditionalPolicy, v: DimValues): Bucket | undefined {
  if (p.bucket !== undefined) return p.bucket;
  let key = `policy:v2:${p.ref.id}`;
  for (const g of p.groupBy) {
    const x = v[g];
    if (x === undefined) return undefined;
    key += `:${g}=${x}`;
  }
  return { key, limits: p.limits, layer: 'policy', policy: p.ref };
}
