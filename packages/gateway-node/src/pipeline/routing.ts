/**
 * Attempt-order construction for routing groups (data-plane §8.4): `failover` from the first
 * target, `round_robin` from a per-process counter, `weighted` from a weight-proportional draw
 * (deterministic FNV-1a of the stability key when `sticky`), each followed by a positional walk
 * with wrap-around, cut to 1 + `max_fallbacks`. Metric strategies (least_*) are not implemented
 * yet and walk like `failover`. Tag routing is not implemented yet. The health filter (step 5:
 * cooled-down targets skipped while another remains) runs on the resolved candidates in
 * `dispatch.ts` (`ModelHealthTracker.healthFilter`, health/tracker.ts).
 */
import type { RoutingView } from '../resources.js';

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

function weightedStart(routing: RoutingView, stickyKey: string | undefined, random: () => number): number {
  const weights = routing.targets.map((t) => Math.max(0, t.weight ?? 1));
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const point = routing.sticky && stickyKey ? Number(fnv1a64(stickyKey) % BigInt(total)) : random() * total;
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i] as number;
    if (point < acc) return i;
  }
  return weights.length - 1;
}

/** Target indexes in attempt order. */
export function attemptOrder(
  groupId: string,
  routing: RoutingView,
  stickyKey: string | undefined,
  random: () => number = Math.random,
): number[] {
  const n = routing.targets.length;
  if (n === 0) return [];
  let start = 0;
  if (routing.strategy === 'round_robin') {
    const c = roundRobin.get(groupId) ?? 0;
    roundRobin.set(groupId, (c + 1) % 1_000_000_007);
    start = c % n;
  } else if (routing.strategy === 'weighted') {
    start = weightedStart(routing, stickyKey, random);
  }
  const maxFallbacks = Math.min(routing.max_fallbacks ?? n - 1, n - 1);
  const order: number[] = [];
  for (let i = 0; i <= maxFallbacks; i++) order.push((start + i) % n);
  return order;
}
