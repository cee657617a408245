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

  /** The remaining-capacity cells of the caller key and model admitted last. */
  private lastRemaining:
    | {
        readonly apiKeyId: string;
        readonly model: string;
        requests: GaugeCell | undefined;
        tokens: GaugeCell | undefined;
      }
    | undefined;
  /** The cache outcome cells of the policy counted last. */
  private lastCache:
    | { readonly policy: string; readonly byOutcome: Map<CacheOutcome, CounterCell> }
    | undefined;

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
    // Consecutive admissions are mostly for the same key and model: their cells are kept, so
    // the label key is built and hashed only when the pair changes.
    let last = this.lastRemaining;
    if (last === undefined || last.apiKeyId !== apiKeyId || last.model !== model) {
      last = { apiKeyId, model, requests: undefined, tokens: undefined };
      this.lastRemaining = last;
    }
    const r = s.requests?.remaining;
    if (r !== undefined) {
      last.requests ??= this.gaugeCell(this.rlRemaining.requests, apiKeyId, model);
      last.requests.value = r;
    }
    const t = s.tokens?.remaining;
    if (t !== undefined) {
      last.tokens ??= this.gaugeCell(this.rlRemaining.tokens, apiKeyId, model);
      last.tokens.value = t;
    }
  }

  private gaugeCell(cells: Map<string, GaugeCell>, apiKeyId: string, model: string): GaugeCell {
    const key = `${apiKeyId}\u0001${model}`;
    let c = cells.get(key);
    if (c === undefined) {
      if (cells.size >= this.maxSeries) {
        cells.clear();
        // The kept cells may be among the cleared ones: they would no longer be exposed.
        this.lastRemaining = { apiKeyId, model, requests: undefined, tokens: undefined };
      }
      c = { labels: { api_key_id: apiKeyId, model }, value: 0 };
      cells.set(key, c);
    }
    return c;
  }

  cacheRequest(policy: string, outcome: CacheOutcome): void {
    let cells = this.lastCache;
    if (cells === undefined || cells.policy !== policy) {
      cells = { policy, byOutcome: new Map() };
      this.lastCache = cells;
    }
    let c = cells.byOutcome.get(outcome);
    if (c === undefined) {
      c = this.cacheRequests.cell(`${policy}\u0001${outcome}`, () => ({ policy, outcome }));
      cells.byOutcome.set(outcome, c);
    }
    c.value++;
  }

  redisFailure(operation: string): void {
    this.redisFailures.cell(operation, () => ({ operation })).value++;
  }
}
