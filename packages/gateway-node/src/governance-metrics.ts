/**
 * The metrics of what the gateway governs (data-plane §9.6, §10.6, control-plane §1.8): rate-limit
 * refusals and remaining capacity, response-cache outcomes, and failed Redis calls. A part of
 * `Metrics` (`metrics.governance`), registered on its registry; its families are bumped only on
 * requests an interceptor applies to.
 */
import { CounterFamily, type Family, GaugeFamily, type Labels } from './metric-families.js';

interface GaugeCell {
  readonly labels: Labels;
  value: number;
}

export type CacheOutcome = 'hit_exact' | 'hit_semantic' | 'miss' | 'bypass';

export class GovernanceMetrics {
  private readonly rlRejections = new CounterFamily(
    'aisix_ratelimit_rejections_total',
    'Requests refused by a rate limit, by what ran out (scope), layer and policy.',
  );
  private readonly rlRemaining = {
    requests: new Map<string, GaugeCell>(),
    tokens: new Map<string, GaugeCell>(),
  };
  private readonly cacheRequests = new CounterFamily(
    'aisix_cache_requests_total',
    'Cacheable requests by cache policy and outcome (hit_exact, hit_semantic, miss, bypass).',
  );
  private readonly redisFailures = new CounterFamily(
    'aisix_redis_failures_total',
    'Redis calls that failed (the gateway fell back to local state or a cache miss).',
  );

  /** @param maxSeries bound of the per-key/model gauge series (cleared when reached). */
  constructor(private readonly maxSeries: number) {}

  /** In exposition order. */
  families(): Family[] {
    const remaining = (name: string, help: string, cells: Map<string, GaugeCell>) =>
      // Across cluster workers the tightest view counts, not the sum.
      new GaugeFamily(
        name,
        help,
        () => [...cells.values()].map((c) => ({ value: c.value, labels: c.labels })),
        'min',
      );
    return [
      this.rlRejections,
      remaining(
        'aisix_ratelimit_remaining_requests',
        'Requests left in the tightest request window, as of the caller key and model last admitted.',
        this.rlRemaining.requests,
      ),
      remaining(
        'aisix_ratelimit_remaining_tokens',
        'Tokens left in the tightest token window, as of the caller key and model last admitted.',
        this.rlRemaining.tokens,
      ),
      this.cacheRequests,
      this.redisFailures,
    ];
  }

  rateLimitRejected(scope: string, layer: string, policyId: string | undefined): void {
    const policy = policyId ?? '';
    this.rlRejections.cell(`${scope}\u0001${layer}\u0001${policy}`, () => ({
      scope,
      layer,
      policy_id: policy,
    })).value++;
  }

  /** The remaining requests/tokens an admitted request saw (bounded like the other series). */
  rateLimitRemaining(
    apiKeyId: string,
    model: string,
    s: {
      readonly requests?: { remaining: number } | undefined;
      readonly tokens?: { remaining: number } | undefined;
    },
  ): void {
    const key = `${apiKeyId}\u0001${model}`;
    const set = (cells: Map<string, GaugeCell>, v: number | undefined) => {
      if (v === undefined) return;
      let c = cells.get(key);
      if (c === undefined) {
        if (cells.size >= this.maxSeries) cells.clear();
        c = { labels: { api_key_id: apiKeyId, model }, value: 0 };
        cells.set(key, c);
      }
      c.value = v;
    };
    set(this.rlRemaining.requests, s.requests?.remaining);
    set(this.rlRemaining.tokens, s.tokens?.remaining);
  }

  cacheRequest(policy: string, outcome: CacheOutcome): void {
    this.cacheRequests.cell(`${policy}\u0001${outcome}`, () => ({ policy, outcome })).value++;
  }

  redisFailure(operation: string): void {
    this.redisFailures.cell(operation, () => ({ operation })).value++;
  }
}
