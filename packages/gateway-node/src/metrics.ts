/**
 * Prometheus metrics of the proxy (data-plane §12.2, core subset), on a registry of their own
 * (one per gateway, so tests and cluster workers do not share the global one).
 *
 * Hot path: a finished request costs one string concat and one Map lookup. The label
 * combination of a request (endpoint, provider, model, upstream model, stream, status) picks a
 * cached `RequestSeries` that holds direct references to every cell it touches, and the cells
 * are plain numbers (counters) or bucket arrays (histograms) bumped in place. prom-client only
 * sees them at scrape time: each family (`./metric-families.ts`) implements `get()` (the shape
 * prom-client's own metrics return), so `Registry.metrics()` renders the usual text and
 * `getMetricsAsJSON()` can be aggregated across cluster workers. Labels stay bounded (route templates, configured model
 * and provider names, `unresolved` for unknown models); per-caller labels (api key, user) from
 * the reference's wide series are left out for now.
 */
import { type Metric, Registry } from 'prom-client';
import { type ClientClassifier, createClientClassifier } from './client-type.js';
import type { Settings } from './config.js';
import { GovernanceMetrics } from './governance-metrics.js';
import {
  type CounterCell,
  CounterFamily,
  type Family,
  GaugeFamily,
  type HistogramCell,
  HistogramFamily,
  type Labels,
  type MetricsSnapshot,
} from './metric-families.js';
import type { AuthDenyReason, AuthMethod } from './pipeline/auth.js';
import type { EndpointLabel, RequestContext } from './pipeline/context.js';
import { modelView } from './resources.js';

export { aggregateMetricsText, type MetricsSnapshot } from './metric-families.js';

function statusClass(status: number): string {
  if (status >= 200 && status < 600) return `${Math.floor(status / 100)}xx`;
  return 'other';
}

function outcome(status: number): string {
  if (status >= 200 && status < 400) return 'success';
  if (status === 429) return 'rate_limited';
  if (status >= 400 && status < 500) return 'client_error';
  return 'upstream_error';
}

interface ClientTokenCells {
  readonly input: CounterCell;
  readonly output: CounterCell;
  readonly total: CounterCell;
}

interface TokenCells {
  readonly input: CounterCell;
  readonly output: CounterCell;
  readonly total: CounterCell;
  readonly consumed: CounterCell;
}

/**
 * Every cell one finished request touches, resolved once per label combination. TTFT and token
 * cells are created on first use, so a series shows up in the scrape only once it has a value.
 */
interface RequestSeries {
  readonly requests: CounterCell;
  readonly proxy: CounterCell;
  readonly failed: CounterCell | undefined;
  readonly cancelled: CounterCell | undefined;
  readonly e2e: HistogramCell;
  ttft: HistogramCell | undefined;
  tokens: TokenCells | undefined;
  readonly latKey: string;
  readonly latLabels: () => Labels;
  readonly endpoint: EndpointLabel;
  readonly provider: string;
  readonly model: string;
}

/** Cap on cached label combinations; past it the cache is cleared (cells themselves stay). */
const MAX_SERIES_CACHE = 10_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly inFlight = new Map<EndpointLabel, number>();
  private readonly series = new Map<string, RequestSeries>();
  private readonly requests = new CounterFamily(
    'aisix_requests_total',
    'Proxy requests by provider, model, status and outcome.',
  );
  private readonly proxyRequests = new CounterFamily('aisix_proxy_requests_total', 'Proxy requests.');
  private readonly proxyFailed = new CounterFamily(
    'aisix_proxy_failed_requests_total',
    'Failed proxy requests.',
  );
  private readonly e2e: HistogramFamily;
  private readonly ttft: HistogramFamily;
  private readonly tokens = {
    input: new CounterFamily('aisix_llm_input_tokens_total', 'Prompt tokens.'),
    output: new CounterFamily('aisix_llm_output_tokens_total', 'Completion tokens.'),
    total: new CounterFamily('aisix_llm_total_tokens_total', 'Total tokens.'),
    consumed: new CounterFamily('aisix_tokens_consumed_total', 'Tokens consumed.'),
  };
  private readonly tokensByClient = new CounterFamily(
    'aisix_llm_tokens_by_client_total',
    'Tokens by client type (classified User-Agent), model and token type.',
  );
  private readonly clientCells = new Map<string, ClientTokenCells>();
  private readonly classifyClient: ClientClassifier;
  private readonly auth = new CounterFamily('aisix_auth_decisions_total', 'Caller authentication decisions.');
  private readonly authAllowedCell: CounterCell;
  private readonly cancelled = new CounterFamily(
    'aisix_proxy_client_cancelled_requests_total',
    'Requests whose client went away before the response completed.',
  );
  private readonly bodyLimit = new CounterFamily(
    'aisix_proxy_request_body_limit_rejections_total',
    'Requests refused by the body size cap.',
  );
  /** Rate limits, the response cache, Redis. */
  readonly governance = new GovernanceMetrics(MAX_SERIES_CACHE);
  private readonly envId: string;

  constructor(s: Settings) {
    this.envId = s.envId || 'unknown';
    this.classifyClient = createClientClassifier(s.clientTypeRules);
    this.e2e = new HistogramFamily('aisix_request_e2e_latency_seconds', 'End-to-end request latency.', [
      ...s.e2eBuckets,
    ]);
    this.ttft = new HistogramFamily(
      'aisix_request_ttft_seconds',
      'Time to first token of streaming requests.',
      [...s.ttftBuckets],
    );
    const inFlight = this.inFlight;
    const gauge = new GaugeFamily('aisix_proxy_in_flight_requests', 'Requests in flight.', () =>
      [...inFlight].map(([endpoint, n]) => ({ value: n, labels: { endpoint, inbound_protocol: 'http' } })),
    );
    // Registration order = exposition order (the order of the former prom-client metrics).
    const families: Family[] = [
      this.requests,
      this.proxyRequests,
      this.proxyFailed,
      this.e2e,
      this.ttft,
      this.tokens.input,
      this.tokens.output,
      this.tokens.total,
      this.tokens.consumed,
      this.tokensByClient,
      this.auth,
      this.cancelled,
      this.bodyLimit,
      gauge,
      ...this.governance.families(),
    ];
    for (const f of families) this.registry.registerMetric(f as unknown as Metric);
    this.authAllowedCell = this.auth.cell('allowed', () => ({
      method: 'api_key',
      result: 'allowed',
      reason: 'none',
    }));
  }

  started(endpoint: EndpointLabel): void {
    this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 0) + 1);
  }

  ended(endpoint: EndpointLabel): void {
    this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 1) - 1);
  }

  authDenied(reason: AuthDenyReason, method?: AuthMethod): void {
    const m = method ?? (reason === 'missing_credentials' ? 'none' : 'api_key');
    this.auth.cell(`denied\u0001${m}\u0001${reason}`, () => ({
      method: m,
      result: 'denied',
      reason,
    })).value++;
  }

  authAllowed(method: AuthMethod = 'api_key'): void {
    if (method === 'api_key') this.authAllowedCell.value++;
    else
      this.auth.cell(`allowed\u0001${method}`, () => ({ method, result: 'allowed', reason: 'none' })).value++;
  }

  bodyLimitRejected(endpoint: EndpointLabel, drain: string): void {
    this.bodyLimit.cell(`${endpoint}\u0001${drain}`, () => ({
      endpoint,
      inbound_protocol: 'http',
      outcome: drain,
    })).value++;
  }

  /** One call per finished request (from the completion hook). */
  completed(ctx: RequestContext, status: number, seconds: number): void {
    if (ctx.endpoint === '/livez' || ctx.endpoint === '/readyz') return;
    const provider = ctx.provider ?? 'unknown';
    // The configured alias (a wildcard's pattern, not the caller's string) keeps labels bounded.
    const model = ctx.model
      ? modelView(ctx.model).display_name
      : ctx.requestedModel
        ? 'unresolved'
        : 'unknown';
    const upstream = ctx.upstreamModel ?? 'unknown';
    const key = `${ctx.endpoint}\u0001${provider}\u0001${model}\u0001${upstream}\u0001${ctx.stream ? 1 : 0}\u0001${status}`;
    let s = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= MAX_SERIES_CACHE) this.series.clear();
      s = this.newSeries(key, ctx.endpoint, provider, model, upstream, ctx.stream, status);
      this.series.set(key, s);
    }
    s.requests.value++;
    s.proxy.value++;
    if (s.failed) s.failed.value++;
    if (s.cancelled) s.cancelled.value++;
    this.e2e.observe(s.e2e, seconds);
    if (ctx.stream && ctx.ttftSeconds !== undefined && ctx.ttftSeconds > 0) {
      s.ttft ??= this.ttft.cell(s.latKey, s.latLabels);
      this.ttft.observe(s.ttft, ctx.ttftSeconds);
    }
    const u = ctx.usage;
    if (u && u.total_tokens + u.prompt_tokens + u.completion_tokens > 0) {
      s.tokens ??= this.tokenCells(s.endpoint, s.provider, s.model);
      const t = s.tokens;
      t.input.value += u.prompt_tokens;
      t.output.value += u.completion_tokens;
      t.total.value += u.total_tokens;
      t.consumed.value += u.total_tokens;
      const ua = ctx.req.headers['user-agent'];
      const c = this.clientTokenCells(this.classifyClient(ua), s.model);
      c.input.value += u.prompt_tokens;
      c.output.value += u.completion_tokens;
      c.total.value += u.total_tokens;
    }
  }

  private clientTokenCells(client: string, model: string): ClientTokenCells {
    const key = `${client}\u0001${model}`;
    let c = this.clientCells.get(key);
    if (c === undefined) {
      if (this.clientCells.size >= MAX_SERIES_CACHE) this.clientCells.clear();
      const f = this.tokensByClient;
      const cell = (token_type: string) =>
        f.cell(`${key}\u0001${token_type}`, () => ({ client_type: client, model, token_type }));
      c = { input: cell('input'), output: cell('output'), total: cell('total') };
      this.clientCells.set(key, c);
    }
    return c;
  }

  private tokenCells(endpoint: EndpointLabel, provider: string, model: string): TokenCells {
    const key = `${endpoint}\u0001${provider}\u0001${model}`;
    const labels = (): Labels => ({ endpoint, provider, model });
    return {
      input: this.tokens.input.cell(key, labels),
      output: this.tokens.output.cell(key, labels),
      total: this.tokens.total.cell(key, labels),
      consumed: this.tokens.consumed.cell(`${provider}\u0001${model}`, () => ({ provider, model })),
    };
  }

  private newSeries(
    key: string,
    endpoint: EndpointLabel,
    provider: string,
    model: string,
    upstream: string,
    stream: boolean,
    status: number,
  ): RequestSeries {
    const st = String(status);
    const out = outcome(status);
    const streamLabel = stream ? 'true' : 'false';
    const proxyLabels = (): Labels => ({
      endpoint,
      inbound_protocol: 'http',
      provider,
      model,
      upstream_model: upstream,
      stream: streamLabel,
      status: st,
      outcome: out,
    });
    const sc = statusClass(status);
    const latKey = `${endpoint}\u0001${model}\u0001${provider}\u0001${sc}\u0001${streamLabel}`;
    const latLabels = (): Labels => ({
      env_id: this.envId,
      endpoint,
      model,
      provider,
      status_class: sc,
      streaming: streamLabel,
    });
    return {
      requests: this.requests.cell(`${provider}\u0001${model}\u0001${st}`, () => ({
        provider,
        model,
        status: st,
        outcome: out,
      })),
      proxy: this.proxyRequests.cell(key, proxyLabels),
      failed: status >= 400 ? this.proxyFailed.cell(key, proxyLabels) : undefined,
      cancelled: status === 499 ? this.cancelled.cell(endpoint, () => ({ endpoint })) : undefined,
      e2e: this.e2e.cell(latKey, latLabels),
      ttft: undefined,
      tokens: undefined,
      latKey,
      latLabels,
      endpoint,
      provider,
      model,
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Every family with its values as plain data (structured-clone safe: cluster IPC). */
  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
