/**
 * Prometheus metrics of the proxy (data-plane §12.2), on a registry of their own (one per
 * gateway, so tests and cluster workers do not share the global one).
 *
 * The families are hand-rendered cells (`./metric-families.ts`): each implements `get()` (the
 * shape prom-client's own metrics return), so `Registry.metrics()` renders the usual text and
 * `getMetricsAsJSON()` can be aggregated across cluster workers. The per-request series live in
 * `./request-metrics.ts`, what the gateway governs in `./governance-metrics.ts`; this file holds
 * the process-level ones (in flight, auth decisions, body-limit refusals, usage events).
 */
import { type Metric, Registry } from 'prom-client';
import type { Settings } from './config.js';
import { GovernanceMetrics } from './governance-metrics.js';
import { GuardrailMetrics } from './guardrail-metrics.js';
import {
  type CounterCell,
  CounterFamily,
  type Family,
  GaugeFamily,
  type MetricsSnapshot,
} from './metric-families.js';
import type { AuthDenyReason, AuthMethod } from './pipeline/auth.js';
import type { CompletedFacts, EndpointLabel } from './pipeline/context.js';
import { inboundProtocol, RequestMetrics, statusClass } from './request-metrics.js';
import type { UsageEvent } from './usage/events.js';

export { aggregateMetricsText, departedPart, type MetricsSnapshot } from './metric-families.js';

/** Cap on cached label combinations of the governance gauges. */
const MAX_SERIES_CACHE = 10_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly inFlight = new Map<EndpointLabel, number>();
  private readonly readHooks: (() => void)[] = [];
  private readonly requests: RequestMetrics;
  private readonly usageEmitted = new CounterFamily(
    'aisix_usage_events_emitted_total',
    'Usage events emitted (one per upstream attempt, or one per request that made none).',
  );
  private readonly usageDrops = new CounterFamily(
    'aisix_usage_event_drops_total',
    'Usage events an exporter lost: reason queue_full (its queue had no room) or delivery_failed (its batch was refused, failed after the retries, or was still queued at shutdown).',
  );
  private readonly auth = new CounterFamily('aisix_auth_decisions_total', 'Caller authentication decisions.');
  private readonly authAllowedCell: CounterCell;
  private readonly bodyLimit = new CounterFamily(
    'aisix_proxy_request_body_limit_rejections_total',
    'Requests refused by the body size cap.',
  );
  /** Rate limits, the response cache, Redis. */
  readonly governance = new GovernanceMetrics(MAX_SERIES_CACHE);
  /** Guardrail latency, blocks, bypasses. */
  readonly guardrails: GuardrailMetrics;

  constructor(s: Settings) {
    this.requests = new RequestMetrics(s);
    this.guardrails = new GuardrailMetrics(s.envId || 'unknown');
    const inFlight = this.inFlight;
    const gauge = new GaugeFamily('aisix_proxy_in_flight_requests', 'Requests in flight.', () =>
      [...inFlight].map(([endpoint, n]) => ({
        value: n,
        labels: { endpoint, inbound_protocol: inboundProtocol(endpoint) },
      })),
    );
    // Registration order = exposition order.
    const families: Family[] = [
      ...this.requests.families(),
      this.auth,
      this.bodyLimit,
      gauge,
      this.usageEmitted,
      this.usageDrops,
      ...this.governance.families(),
      ...this.guardrails.families(),
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
      inbound_protocol: inboundProtocol(endpoint),
      outcome: drain,
    })).value++;
  }

  /** One call per finished request (from the completion hook). */
  completed(f: CompletedFacts, status: number, seconds: number): void {
    if (f.endpoint === '/livez' || f.endpoint === '/readyz') return;
    this.requests.completed(f, status, seconds);
  }

  usageEventEmitted(e: UsageEvent): void {
    const sc = statusClass(e.status_code);
    this.usageEmitted.cell(`${e.endpoint}\u0001${sc}\u0001${e.inbound_protocol}`, () => ({
      handler: e.endpoint,
      status_code: sc,
      inbound_protocol: e.inbound_protocol,
    })).value++;
  }

  usageEventDropped(reason: string, _sink?: string, n = 1): void {
    this.usageDrops.cell(reason, () => ({ reason })).value += n;
  }

  /** Runs `hook` before every read (`text`, `snapshot`): records waiting to be counted. */
  beforeRead(hook: () => void): void {
    this.readHooks.push(hook);
  }

  text(): Promise<string> {
    for (const h of this.readHooks) h();
    return this.registry.metrics();
  }

  /** Every family with its values as plain data (structured-clone safe: cluster IPC). */
  snapshot(): Promise<MetricsSnapshot> {
    for (const h of this.readHooks) h();
    return this.registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
