/**
 * Attempt-list construction for routing groups (data-plane §8.4 steps 1, 3 and 4):
 *
 * - the group is compiled once per snapshot (`compiledGroup`): target aliases resolved to direct
 *   models, costs summed, tags read, so a request does no name resolution;
 * - tag filter (§8.5, `eligibleTargets`) from the `x-aisix-routing-tags` header;
 * - order by strategy: `failover` from the first eligible target, `round_robin` from a
 *   per-process counter, `weighted` from a weight-proportional draw (deterministic FNV-1a of the
 *   stability key when `sticky`), each a positional walk with wrap-around; `least_cost`,
 *   `least_latency` and `least_busy` sort the whole eligible set (stable) by cost, latency
 *   estimate or in-flight count (`TargetStats`). Cut to 1 + `max_fallbacks`.
 *
 * Step 2 (`allowed_cidrs`) and the health filter (step 5) run in `dispatch.ts` on the result.
 */
import { type ConfigSnapshot, type Resource, resolveModel } from '@aisix/core';
import { errors, type GatewayError } from '../errors.js';
import { modelKind, modelView, type RoutingView } from '../resources.js';
import type { TargetStats } from './target-stats.js';

export interface GroupTarget {
  readonly alias: string;
  readonly weight: number;
  readonly tags: readonly string[] | undefined;
  /** The direct model the alias names in this snapshot; undefined → 400 when the walk reaches it. */
  readonly model: Resource<'models'> | undefined;
  readonly upstreamModel: string;
  /** `cost.input_per_1k + cost.output_per_1k`; Infinity without `cost` (sorts last). */
  readonly cost: number;
}

export interface CompiledGroup {
  readonly id: string;
  readonly routing: RoutingView;
  readonly targets: readonly GroupTarget[];
  /** Every target index, in order (the eligible set without tag routing). */
  readonly all: readonly number[];
  /** Some target carries tags (else tag routing is off for this group). */
  readonly tagged: boolean;
  /** Indexes of targets tagged `default`. */
  readonly defaults: readonly number[];
}

const compiled = new WeakMap<ConfigSnapshot, Map<string, CompiledGroup>>();

function compile(snapshot: ConfigSnapshot, id: string, routing: RoutingView): CompiledGroup {
  const targets: GroupTarget[] = [];
  const defaults: number[] = [];
  let tagged = false;
  for (const t of routing.targets) {
    const resolved = resolveModel(snapshot, t.model);
    const direct = resolved && modelKind(modelView(resolved.model)) === 'direct' ? resolved : undefined;
    const cost = direct ? modelView(direct.model).cost : undefined;
    if (t.tags && t.tags.length > 0) tagged = true;
    if (t.tags?.includes('default')) defaults.push(targets.length);
    targets.push({
      alias: t.model,
      weight: Math.max(0, t.weight ?? 1),
      tags: t.tags,
      model: direct?.model,
      upstreamModel: direct?.upstreamModel ?? '',
      cost: cost ? cost.input_per_1k + cost.output_per_1k : Number.POSITIVE_INFINITY,
    });
  }
  return { id, routing, targets, all: targets.map((_, i) => i), tagged, defaults };
}

/** The group compiled for this snapshot (built on first use, then one map lookup). */
export function compiledGroup(
  snapshot: ConfigSnapshot,
  group: Resource<'models'>,
  routing: RoutingView,
): CompiledGroup {
  let bySnapshot = compiled.get(snapshot);
  if (bySnapshot === undefined) {
    bySnapshot = new Map();
    compiled.set(snapshot, bySnapshot);
  }
  let g = bySnapshot.get(group.id);
  if (g === undefined) {
    g = compile(snapshot, group.id, routing);
    bySnapshot.set(group.id, g);
  }
  return g;
}

/** `x-aisix-routing-tags`: comma-separated, trimmed, empties dropped. */
export function parseRoutingTags(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const s = Array.isArray(v) ? v.join(',') : v;
  const out: string[] = [];
  for (const part of s.split(',')) {
    const t = part.trim();
    if (t) out.push(t);
  }
  return out;
}

/**
 * Tag routing (§8.5): untagged groups → all; a request without tags → targets tagged `default`
 * if any, else all; with tags → targets with any matching tag, else `default`, else 400.
 */
export function eligibleTargets(
  g: CompiledGroup,
  header: string | string[] | undefined,
): readonly number[] | GatewayError {
  if (!g.tagged) return g.all;
  const wanted = parseRoutingTags(header);
  if (wanted.length === 0) return g.defaults.length > 0 ? g.defaults : g.all;
  const out: number[] = [];
  for (let i = 0; i < g.targets.length; i++) {
    const tags = g.targets[i]?.tags;
    if (tags?.some((t) => wanted.includes(t))) out.push(i);
  }
  if (out.length > 0) return out;
  if (g.defaults.length > 0) return g.defaults;
  return errors.invalidBody(`no routing target matches request tags [${wanted.join(', ')}]`);
}

const roundRobin = new Map<string, number>();

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

/** Position in `eligible` where the weighted walk starts. */
function weightedStart(
  g: CompiledGroup,
  eligible: readonly number[],
  stickyKey: string | undefined,
  random: () => number,
): number {
  let total = 0;
  for (const i of eligible) total += g.targets[i]?.weight ?? 0;
  if (total === 0) return 0;
  const point = g.routing.sticky && stickyKey ? Number(fnv1a64(stickyKey) % BigInt(total)) : random() * total;
  let acc = 0;
  for (let p = 0; p < eligible.length; p++) {
    acc += g.targets[eligible[p] as number]?.weight ?? 0;
    if (point < acc) return p;
  }
  return eligible.length - 1;
}

/** The sort key of a metric strategy for one target; undefined for positional strategies. */
function metricOf(
  strategy: string | undefined,
  stats: TargetStats,
): ((t: GroupTarget) => number) | undefined {
  switch (strategy) {
    case 'least_cost':
      return (t) => t.cost;
    case 'least_latency':
      // Never-sampled targets first (-1), then ascending estimate; unresolved targets last.
      return (t) => (t.model ? stats.latency(t.model.id) : Number.POSITIVE_INFINITY);
    case 'least_busy':
      return (t) => (t.model ? stats.inFlight(t.model.id) : Number.POSITIVE_INFINITY);
    default:
      return undefined;
  }
}

/** Target indexes in attempt order over `eligible` (already tag-filtered). */
export function attemptOrder(
  g: CompiledGroup,
  eligible: readonly number[],
  stickyKey: string | undefined,
  stats: TargetStats,
  random: () => number = Math.random,
): number[] {
  const n = eligible.length;
  if (n === 0) return [];
  const routing = g.routing;
  const len = Math.min(routing.max_fallbacks ?? n - 1, n - 1) + 1;
  const metric = metricOf(routing.strategy, stats);
  if (metric !== undefined) {
    if (n === 1) return [eligible[0] as number];
    // Insertion sort (groups are small): stable, so equal keys keep the configured order.
    const sorted: number[] = new Array(n);
    const keys = new Float64Array(n);
    for (let p = 0; p < n; p++) {
      const i = eligible[p] as number;
      const k = metric(g.targets[i] as GroupTarget);
      let j = p;
      while (j > 0 && (keys[j - 1] as number) > k) {
        keys[j] = keys[j - 1] as number;
        sorted[j] = sorted[j - 1] as number;
        j--;
      }
      keys[j] = k;
      sorted[j] = i;
    }
    if (n > len) sorted.length = len;
    return sorted;
  }
  let start = 0;
  if (routing.strategy === 'round_robin') {
    const c = roundRobin.get(g.id) ?? 0;
    roundRobin.set(g.id, (c + 1) % 1_000_000_007);
    start = c % n;
  } else if (routing.strategy === 'weighted') {
    start = weightedStart(g, eligible, stickyKey, random);
  }
  const order: number[] = new Array(len);
  for (let p = 0; p < len; p++) order[p] = eligible[(start + p) % n] as number;
  return order;
}
