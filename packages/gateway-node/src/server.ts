/**
 * `startGateway`: binds the proxy listener and (when enabled) the metrics/status listener at
 * once — before the first snapshot is loaded; readiness gates traffic — and implements the drain
 * (decision OP-8): readiness/liveness 503 for `shutdown.min_drain_secs`, stop accepting, close
 * idle connections, wait for in-flight requests up to `shutdown.max_drain_secs`, then cut the rest.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAddr } from './config.js';
import {
  createProxyHandler,
  createProxyServer,
  type ProxyHandlerOptions,
  type ServerTls,
} from './handler.js';
import type { ModelHealthTracker } from './health/tracker.js';
import type { Metrics } from './metrics.js';
import { createStatusServer } from './status/server.js';
import type { UsageBus } from './usage/bus.js';

export interface GatewayOptions extends ProxyHandlerOptions {
  /** `/status/config` body, from the config sync. */
  readonly statusJson?: () => object;
  /** `aisix_config_*` Prometheus text, appended to `/metrics`. */
  readonly configMetrics?: () => string;
  /** `proxy.tls` certificate and key (PEM, read by the caller): the proxy listener serves HTTPS. */
  readonly tls?: ServerTls;
}

export interface Gateway {
  readonly proxyPort: number;
  readonly metricsPort: number | null;
  /** This gateway's metrics (a cluster worker hands `snapshot()` to the primary's listener). */
  readonly metrics: Metrics;
  /** This process's model health and cooldown (admin health, `/status/models`). */
  readonly health: ModelHealthTracker;
  /** Usage events of this process: attach a sink (an exporter) to receive them. */
  readonly usage: UsageBus;
  /** SIGTERM behaviour: resolves once drained (listeners closed). */
  beginDrain(): Promise<void>;
  /** Immediate stop: closes listeners and every connection. */
  close(): Promise<void>;
}

function listen(server: Server, key: string, addr: string): Promise<number> {
  const { host, port } = parseAddr(key, addr);
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`${key}: cannot listen on ${addr}: ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const handler = createProxyHandler(opts);
  const s = handler.runtime.settings;
  const proxy = createProxyServer(handler, opts.tls);
  const status = s.metricsEnabled
    ? createStatusServer({
        path: s.metricsPath,
        metrics: handler.metrics,
        snapshots: opts.snapshots,
        ...(opts.statusJson ? { statusJson: opts.statusJson } : {}),
        ...(opts.configMetrics ? { configMetrics: opts.configMetrics } : {}),
        health: handler.runtime.health,
        idleTimeoutMs: s.idleTimeoutMs,
      })
    : undefined;
  let proxyPort: number;
  let metricsPort: number | null = null;
  try {
    proxyPort = await listen(proxy, 'proxy.addr', s.proxyAddr);
    if (status) metricsPort = await listen(status, 'observability.metrics.prometheus.addr', s.metricsAddr);
  } catch (err) {
    proxy.close();
    status?.close();
    await handler.close();
    throw err;
  }
  let drained: Promise<void> | undefined;
  const stopAll = async () => {
    handler.closeSessions(true);
    proxy.closeAllConnections();
    status?.closeAllConnections();
    await Promise.all([closeServer(proxy), status ? closeServer(status) : undefined]);
    await handler.close();
  };
  const drain = async () => {
    handler.setDraining(true);
    await sleep(s.minDrainMs);
    const closed = closeServer(proxy);
    proxy.closeIdleConnections();
    // A realtime session has no natural end to wait for: both sides get 1001 now.
    handler.closeSessions(false);
    const clean = await handler.whenIdle(s.maxDrainMs);
    if (!clean)
      opts.logger.warn(
        { in_flight: handler.inFlight },
        'drain deadline reached; closing remaining connections',
      );
    proxy.closeAllConnections();
    await closed;
    if (status) {
      status.closeAllConnections();
      await closeServer(status);
    }
    await handler.close();
  };
  return {
    proxyPort,
    metricsPort,
    metrics: handler.metrics,
    health: handler.runtime.health,
    usage: handler.runtime.usage,
    beginDrain() {
      drained ??= drain();
      return drained;
    },
    async close() {
      handler.setDraining(true);
      drained ??= stopAll();
      await drained;
    },
  };
}
