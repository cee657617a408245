/**
 * Everything a request handler needs that outlives a request: settings, the upstream dispatchers, the
 * adapter registry, metrics, the logger and the response identity. Built once per process (per
 * cluster worker) by `createProxyHandler`.
 */
import type { Limiter } from '@aisix/limits';
import type { AdapterRegistry } from '@aisix/providers';
import type { Logger } from 'pino';
import type { JwtAuthenticator } from './auth/jwt.js';
import type { Settings } from './config.js';
import type { DeferredBatch } from './deferred-batch.js';
import type { SurfaceGuardrails } from './guardrails/surface.js';
import type { ModelHealthTracker } from './health/tracker.js';
import type { ResponseIdentity } from './http/respond.js';
import type { Metrics } from './metrics.js';
import type { RealIpSettings } from './pipeline/access.js';
import type { FinishedRequest } from './pipeline/context.js';
import type { Lifecycle } from './pipeline/lifecycle.js';
import type { TargetStats } from './pipeline/target-stats.js';
import type { RealtimeHub } from './realtime/hub.js';
import type { SnapshotSource } from './snapshot-source.js';
import type { Tracer } from './tracing/tracer.js';
import type { UpstreamDispatchers } from './upstream/dispatchers.js';
import type { UsageBus } from './usage/bus.js';
import type { Exporters } from './usage/exporters.js';

export interface GatewayRuntime {
  readonly settings: Settings;
  readonly snapshots: SnapshotSource;
  /** The upstream dispatcher per provider key (`tls` settings get their own pools). */
  readonly upstreams: UpstreamDispatchers;
  readonly registry: AdapterRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly ident: ResponseIdentity;
  readonly realIp: RealIpSettings;
  /** Outbound `User-Agent`. */
  readonly userAgent: string;
  /** Body read idle deadline (slow-loris guard), ms. */
  readonly bodyIdleMs: number;
  /** The request interceptors and which of them apply to a snapshot (limits, cache...). */
  readonly lifecycle: Lifecycle;
  /** Per-process model health and cooldown (data-plane §8.6), fed by dispatch. */
  readonly health: ModelHealthTracker;
  /** Per-process in-flight counts and latency estimates per target (least_busy, least_latency). */
  readonly targets: TargetStats;
  /** JWT callers: per-snapshot provider index, process-wide JWKS cache (agents-and-jobs §4). */
  readonly jwt: JwtAuthenticator;
  /** Request tracing; undefined when tracing is off (the default): one check per request. */
  readonly tracer?: Tracer | undefined;
  /** Usage events: built and queued per attached sink (exporters) only while one is attached. */
  readonly usage: UsageBus;
  /**
   * Closed requests whose metrics and usage events wait to be recorded together (64 requests or
   * 20 ms; `pipeline/finish.ts`). Flushed before metrics are read and when the gateway closes.
   */
  readonly finished: DeferredBatch<FinishedRequest>;
  /** `observability_exporters` of the store, reconciled per snapshot, attached to `usage`. */
  readonly exporters: Exporters;
  /** Rate limits outside the model pipeline (MCP `tools/call`), over the same counter store. */
  readonly limiter: Limiter;
  /** Guardrails of model-less calls (MCP `tools/call`); undefined without the guardrail interceptor. */
  readonly guardrails: SurfaceGuardrails | undefined;
  /** `/v1/realtime`: the WebSocket acceptor and this process's live sessions. */
  readonly realtime: RealtimeHub;
}
