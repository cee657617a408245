/**
 * @aisix/gateway-node — the data plane: the OpenAI-compatible proxy on raw node:http with undici
 * upstream pools, plus the metrics/status listener.
 *
 * Public API (stable for the CLI):
 * - `startGateway(opts: GatewayOptions): Promise<Gateway>` binds the proxy (`config.proxy.addr`)
 *   and, when enabled, the metrics/status listener; `Gateway.beginDrain()` is the SIGTERM path,
 *   `Gateway.close()` the immediate stop. A port in use rejects with an error naming the key and
 *   address.
 * - `createProxyHandler(opts)` + `createProxyServer(handler)` for node:cluster workers (one
 *   handler per worker; the status listener stays in the primary).
 * - `SnapshotSource` is the config seam: `current()` once per request, `ready` for readiness.
 *
 * Traps:
 * - Every proxy response must pass through `http/respond.ts` (`Server` + request id headers);
 *   writing to `res` directly loses them.
 * - New model endpoints go through `pipeline/run.ts` (`runModelEndpoint`) and register in the
 *   route table (`routes.ts`); cross-cutting features are interceptors (`pipeline/lifecycle.ts`),
 *   never code in endpoints.
 * - The access log and per-request metrics are emitted only by `pipeline/finish.ts` on response
 *   close; do not log per path.
 */
export type { GatewayConfig } from './config.js';
export { errors, GatewayError } from './errors.js';
export {
  createProxyHandler,
  createProxyServer,
  type ProxyHandler,
  type ProxyHandlerOptions,
  type ServerTls,
} from './handler.js';
export {
  type HealthLevel,
  ModelHealthTracker,
  type ModelStateDump,
  type ModelStatusRow,
  type StatusReason,
} from './health/tracker.js';
export { inertResourceFields } from './inert-resources.js';
export { aggregateMetricsText, departedPart, type Metrics, type MetricsSnapshot } from './metrics.js';
export { ACCESS_LOG_MESSAGE, type ByteDestination, flushAccessLogs } from './pipeline/access-log.js';
export type { RequestContext } from './pipeline/context.js';
export type { Answer, Begin, Interceptor, RequestFacts } from './pipeline/lifecycle.js';
export type { AttemptBody, AttemptFacts, AttemptGate, Outcome, Scope, StreamTap } from './pipeline/scopes.js';
export { type Gateway, type GatewayOptions, startGateway } from './server.js';
export { MutableSnapshotSource, type SnapshotSource } from './snapshot-source.js';
export { type MetricsSource, type StatusListener, startStatusListener } from './status/server.js';
export type { UpstreamTls } from './upstream/dispatchers.js';
export type { UsageBus, UsageSink } from './usage/bus.js';
export { preloadTokenizer } from './usage/estimate.js';
export type { UsageEvent } from './usage/events.js';
