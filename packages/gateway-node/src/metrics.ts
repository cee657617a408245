/**
 * Prometheus metrics of the proxy (data-plane §12.2, core subset), on a registry of their own
 * (one per gateway, so tests and cluster workers do not share the global one).
 *
 * Hot-path cost is kept to a few label lookups per request: the in-flight gauge is a plain
 * counter read at scrape time, and labels are bounded (route templates, configured model and
 * provider names, `unresolved` for unknown models). Labels with unbounded or per-caller values
 * (api key, user) from the reference's wide series are left out for now.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Settings } from './config.js';
import type { AuthDenyReason } from './pipeline/auth.js';
import type { EndpointLabel, RequestContext } from './pipeline/context.js';
import { modelView } from './resources.js';

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

export class Metrics {
  readonly registry = new Registry();
  private readonly inFlight = new Map<EndpointLabel, number>();
  private readonly requests: Counter;
  private readonly proxyRequests: Counter;
  private readonly proxyFailed: Counter;
  private readonly e2e: Histogram;
  private readonly ttft: Histogram;
  private readonly tokens: { input: Counter; output: Counter; total: Counter; consumed: Counter };
  private readonly auth: Counter;
  private readonly cancelled: Counter;
  private readonly bodyLimit: Counter;
  private readonly envId: string;

  constructor(s: Settings) {
    const registers = [this.registry];
    this.envId = s.envId || 'unknown';
    this.requests = new Counter({
      name: 'aisix_requests_total',
      help: 'Proxy requests by provider, model, status and outcome.',
      labelNames: ['provider', 'model', 'status', 'outcome'],
      registers,
    });
    const proxyLabels = [
      'endpoint',
      'inbound_protocol',
      'provider',
      'model',
      'upstream_model',
      'stream',
      'status',
      'outcome',
    ];
    this.proxyRequests = new Counter({
      name: 'aisix_proxy_requests_total',
      help: 'Proxy requests.',
      labelNames: proxyLabels,
      registers,
    });
    this.proxyFailed = new Counter({
      name: 'aisix_proxy_failed_requests_total',
      help: 'Failed proxy requests.',
      labelNames: proxyLabels,
      registers,
    });
    const latencyLabels = ['env_id', 'endpoint', 'model', 'provider', 'status_class', 'streaming'];
    this.e2e = new Histogram({
      name: 'aisix_request_e2e_latency_seconds',
      help: 'End-to-end request latency.',
      labelNames: latencyLabels,
      buckets: [...s.e2eBuckets],
      registers,
    });
    this.ttft = new Histogram({
      name: 'aisix_request_ttft_seconds',
      help: 'Time to first token of streaming requests.',
      labelNames: latencyLabels,
      buckets: [...s.ttftBuckets],
      registers,
    });
    const tokenLabels = ['endpoint', 'provider', 'model'];
    this.tokens = {
      input: new Counter({
        name: 'aisix_llm_input_tokens_total',
        help: 'Prompt tokens.',
        labelNames: tokenLabels,
        registers,
      }),
      output: new Counter({
        name: 'aisix_llm_output_tokens_total',
        help: 'Completion tokens.',
        labelNames: tokenLabels,
        registers,
      }),
      total: new Counter({
        name: 'aisix_llm_total_tokens_total',
        help: 'Total tokens.',
        labelNames: tokenLabels,
        registers,
      }),
      consumed: new Counter({
        name: 'aisix_tokens_consumed_total',
        help: 'Tokens consumed.',
        labelNames: ['provider', 'model'],
        registers,
      }),
    };
    this.auth = new Counter({
      name: 'aisix_auth_decisions_total',
      help: 'Caller authentication decisions.',
      labelNames: ['method', 'result', 'reason'],
      registers,
    });
    this.cancelled = new Counter({
      name: 'aisix_proxy_client_cancelled_requests_total',
      help: 'Requests whose client went away before the response completed.',
      labelNames: ['endpoint'],
      registers,
    });
    this.bodyLimit = new Counter({
      name: 'aisix_proxy_request_body_limit_rejections_total',
      help: 'Requests refused by the body size cap.',
      labelNames: ['endpoint', 'inbound_protocol', 'outcome'],
      registers,
    });
    const inFlight = this.inFlight;
    new Gauge({
      name: 'aisix_proxy_in_flight_requests',
      help: 'Requests in flight.',
      labelNames: ['endpoint', 'inbound_protocol'],
      registers,
      collect() {
        this.reset();
        for (const [endpoint, n] of inFlight) this.set({ endpoint, inbound_protocol: 'http' }, n);
      },
    });
  }

  started(endpoint: EndpointLabel): void {
    this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 0) + 1);
  }

  ended(endpoint: EndpointLabel): void {
    this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 1) - 1);
  }

  authDenied(reason: AuthDenyReason): void {
    this.auth.inc({
      method: reason === 'missing_credentials' ? 'none' : 'api_key',
      result: 'denied',
      reason,
    });
  }

  authAllowed(): void {
    this.auth.inc({ method: 'api_key', result: 'allowed', reason: 'none' });
  }

  bodyLimitRejected(endpoint: EndpointLabel, drain: string): void {
    this.bodyLimit.inc({ endpoint, inbound_protocol: 'http', outcome: drain });
  }

  /** One call per finished request (from the completion hook). */
  completed(ctx: RequestContext, status: number, seconds: number): void {
    if (ctx.endpoint === '/livez' || ctx.endpoint === '/readyz') return;
    if (status === 499) this.cancelled.inc({ endpoint: ctx.endpoint });
    const provider = ctx.provider ?? 'unknown';
    // The configured alias (a wildcard's pattern, not the caller's string) keeps labels bounded.
    const model = ctx.model
      ? modelView(ctx.model).display_name
      : ctx.requestedModel
        ? 'unresolved'
        : 'unknown';
    const st = String(status);
    const out = outcome(status);
    this.requests.inc({ provider, model, status: st, outcome: out });
    const labels = {
      endpoint: ctx.endpoint,
      inbound_protocol: 'http',
      provider,
      model,
      upstream_model: ctx.upstreamModel ?? 'unknown',
      stream: ctx.stream ? 'true' : 'false',
      status: st,
      outcome: out,
    };
    this.proxyRequests.inc(labels);
    if (status >= 400) this.proxyFailed.inc(labels);
    const lat = {
      env_id: this.envId,
      endpoint: ctx.endpoint,
      model,
      provider,
      status_class: statusClass(status),
      streaming: ctx.stream ? 'true' : 'false',
    };
    this.e2e.observe(lat, seconds);
    if (ctx.stream && ctx.ttftSeconds !== undefined && ctx.ttftSeconds > 0)
      this.ttft.observe(lat, ctx.ttftSeconds);
    const u = ctx.usage;
    if (u && u.total_tokens + u.prompt_tokens + u.completion_tokens > 0) {
      const tl = { endpoint: ctx.endpoint, provider, model };
      this.tokens.input.inc(tl, u.prompt_tokens);
      this.tokens.output.inc(tl, u.completion_tokens);
      this.tokens.total.inc(tl, u.total_tokens);
      this.tokens.consumed.inc({ provider, model }, u.total_tokens);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
