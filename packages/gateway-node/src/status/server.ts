/**
 * The metrics/status listener (`observability.metrics.prometheus.addr`), unauthenticated and
 * meant to be network-restricted: `GET <path>` (Prometheus text: the proxy's registry plus the
 * config-sync series), `/status/config`, `/status/ready`, `/status/models`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigSnapshot } from '@aisix/core';
import { type GatewayConfig, parseAddr, resolveSettings } from '../config.js';
import { type ModelHealthTracker, type ModelStatusRow, unavailableRow } from '../health/tracker.js';
import { modelKind, modelView } from '../resources.js';
import type { SnapshotSource } from '../snapshot-source.js';

/** Where the scrape's own text comes from: this process's `Metrics`, or a cluster aggregate. */
export interface MetricsSource {
  text(): Promise<string>;
}

export interface StatusServerOptions {
  readonly path: string;
  readonly metrics: MetricsSource;
  readonly snapshots: SnapshotSource;
  /** `/status/config` body (from the config sync). */
  readonly statusJson?: () => object;
  /** Extra Prometheus text appended to the scrape (the `aisix_config_*` series). */
  readonly configMetrics?: () => string;
  /** This process's model health: `/status/models` statuses and `aisix_deployment_*` series. */
  readonly health?: ModelHealthTracker;
  /** The pod's model health gathered per request (a cluster primary asking its workers). */
  readonly podHealth?: () => Promise<ModelHealthTracker>;
  /** Idle keep-alive close (`downstream.idle_timeout_secs`, all listeners); 0 = never. */
  readonly idleTimeoutMs: number;
}

function send(res: ServerResponse, status: number, type: string, body: string, allow?: string): void {
  const headers: Record<string, string | number> = {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  };
  if (allow !== undefined) headers.allow = allow;
  res.writeHead(status, headers);
  res.end(body);
}

const STATUS_PATHS = new Set(['/status/config', '/status/ready', '/status/models']);

/**
 * `/status/models` rows without runtime health (no proxy in this process): virtual kinds are
 * `not_applicable`, direct models `healthy`, a model whose configuration cannot serve
 * `unavailable`. With a proxy, `ModelHealthTracker.statusRows`.
 */
export function modelStatusRows(snapshot: ConfigSnapshot): object[] {
  const rows: ModelStatusRow[] = [];
  for (const m of snapshot.byId('models').values()) {
    const v = modelView(m);
    const kind = modelKind(v);
    const unavailable = unavailableRow(snapshot, m, kind);
    if (unavailable !== undefined) {
      rows.push(unavailable);
      continue;
    }
    rows.push({
      id: m.id,
      display_name: v.display_name,
      kind,
      status: kind === 'direct' ? 'healthy' : 'not_applicable',
    });
  }
  rows.sort((a, b) => (a.display_name < b.display_name ? -1 : a.display_name > b.display_name ? 1 : 0));
  return rows;
}

function fallbackStatus(snapshots: SnapshotSource): object {
  const s = snapshots.current();
  return {
    state: s.status.state,
    applied: { applied_revision: s.status.applied_revision, resource_counts: s.status.resource_counts },
  };
}

async function route(o: StatusServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  // HEAD is GET without the body (RFC 9110 §9.3.2; node writes no body on a HEAD response), as on
  // the proxy's GET routes; any other method on a known path is 405 with the methods it allows.
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (path !== o.path && !STATUS_PATHS.has(path))
      return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed', 'GET, HEAD');
  }
  const tracker = async () => o.health ?? (o.podHealth ? await o.podHealth() : undefined);
  switch (path) {
    case o.path: {
      const [own, t] = await Promise.all([o.metrics.text(), tracker()]);
      const health = t?.metricsText() ?? '';
      const config = o.configMetrics?.() ?? '';
      const extra = health && config ? `${health}\n${config}` : health || config;
      return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', extra ? `${own}\n${extra}` : own);
    }
    case '/status/config':
      return send(
        res,
        200,
        'application/json',
        JSON.stringify(o.statusJson ? o.statusJson() : fallbackStatus(o.snapshots)),
      );
    case '/status/ready':
      return o.snapshots.ready
        ? send(res, 200, 'text/plain; charset=utf-8', 'ok')
        : send(res, 503, 'text/plain; charset=utf-8', 'no configuration available');
    case '/status/models': {
      // Before any configuration is applied there is nothing this process could list
      // (control-plane §6.2: a failed read is 500, no backend detail).
      if (!o.snapshots.ready) {
        return send(res, 500, 'application/json', JSON.stringify({ error_msg: 'failed to list models' }));
      }
      const t = await tracker();
      return send(
        res,
        200,
        'application/json',
        JSON.stringify(t ? t.statusRows(o.snapshots.current()) : modelStatusRows(o.snapshots.current())),
      );
    }
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'not found');
  }
}

export function createStatusServer(o: StatusServerOptions): Server {
  const server = createServer((req, res) => {
    route(o, req, res).catch(() => {
      if (!res.headersSent)
        send(res, 500, 'application/json', JSON.stringify({ error_msg: 'status endpoint failed' }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = o.idleTimeoutMs;
  return server;
}

export interface StatusListener {
  readonly port: number;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

/**
 * Binds the metrics/status listener on its own (`observability.metrics.prometheus`), for a
 * process that serves it without a proxy: the node:cluster primary, whose `metrics` source
 * aggregates the workers. Resolves null when the listener is disabled in `config`.
 */
export async function startStatusListener(
  o: Omit<StatusServerOptions, 'path' | 'idleTimeoutMs'> & { readonly config: GatewayConfig },
): Promise<StatusListener | null> {
  const s = resolveSettings(o.config);
  if (!s.metricsEnabled) return null;
  const { config: _config, ...rest } = o;
  const server = createStatusServer({ ...rest, path: s.metricsPath, idleTimeoutMs: s.idleTimeoutMs });
  const key = 'observability.metrics.prometheus.addr';
  const { host, port } = parseAddr(key, s.metricsAddr);
  const bound = await new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`${key}: cannot listen on ${s.metricsAddr}: ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
