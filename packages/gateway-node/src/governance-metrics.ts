/**
 * The metrics of what the gateway governs (data-plane §9.6, §10.6, control-plane §1.8): rate-limit
 * refusals and remaining capacity, response-cache outcomes, and failed Redis calls. A part of
 * `Metrics` (`metrics.governance`), registered on its registry; its families are bumped only on
 * requests an interceptor applies to.
 */
import { type CounterCell, CounterFamily, type Family, GaugeFamily, type Labels } from './metric-families.js';

interface GaugeCell {
  readonly labels: Labels;
  value: number;
}

interface RemainingCells {
  requests: GaugeCell | undefined;
  tokens: GaugeCell | undefined;
}

/** Cache policies whose outcome cells are indexed (the cells themselves are never dropped). */
const MAX_INDEXED_POLICIES = 1000;

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

  /**
   * The remaining-capacity cells per caller key id, then model: looked up by the resources' own
   * strings (hashed once) instead of a label key built per admission.
   */
  private readonly remainingIndex = new Map<string, Map<string, RemainingCells>>();
  private remainingPairs = 0;
  /** The cache outcome cells per policy name. */
  private readonly cacheIndex = new Map<string, Map<CacheOutcome, CounterCell>>();

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
    // Inline limits have no policy: a missing dimension reads "unknown" (data-plane §12.2).
    const policy = policyId ?? 'unknown';
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
    let byModel = this.remainingIndex.get(apiKeyId);
    if (byModel === undefined) {
      byModel = new Map();
      this.remainingIndex.set(apiKeyId, byModel);
    }
    let cells = byModel.get(model);
    if (cells === undefined) {
      if (this.remainingPairs >= this.maxSeries) this.clearRemainingIndex();
      cells = { requests: undefined, tokens: undefined };
      byModel.set(model, cells);
      this.remainingPairs++;
    }
    const r = s.requests?.remaining;
    if (r !== undefined) {
      cells.requests ??= this.gaugeCell(this.rlRemaining.requests, apiKeyId, model);
      cells.requests.value = r;
    }
    const t = s.tokens?.remaining;
    if (t !== undefined) {
      cells.tokens ??= this.gaugeCell(this.rlRemaining.tokens, apiKeyId, model);
      cells.tokens.value = t;
    }
  }

  private clearRemainingIndex(): void {
    this.remainingIndex.clear();
    this.remainingPairs = 0;
  }

  private gaugeCell(cells: Map<string, GaugeCell>, apiKeyId: string, model: string): GaugeCell {
    const key = `${apiKeyId}\u0001${model}`;
    let c = cells.get(key);
    if (c === undefined) {
      if (cells.size >= this.maxSeries) {
        cells.clear();
        // The indexed cells may be among the cleared ones: they would no longer be exposed.
        this.clearRemainingIndex();
      }
      c = { labels: { api_key_id: apiKeyId, model }, value: 0 };
      cells.set(key, c);
    }
    return c;
  }

  cacheRequest(policy: string, outcome: CacheOutcome): void {
    let byOutcome = this.cacheIndex.get(policy);
    if (byOutcome === undefined) {
      // Policy names come from the config; renamed ones leave entries behind: bounded anyway.
      if (this.cacheIndex.size >= MAX_INDEXED_POLICIES) this.cacheIndex.clear();
      byOutcome = new Map();
      this.cacheIndex.set(policy, byOutcome);
    }
    let c = byOutcome.get(outcome);
    if (c === undefined) {
      c = this.cacheRequests.cell(`${policy}\u0001${outcome}`, () => ({ policy, outcome }));
      byOutcome.set(outcome, c);
    }
    c.value++;
  }

  redisFailure(operation: string): void {
    this.redisFailures.cell(operation, () => ({ operation })).value++;
  }
}
