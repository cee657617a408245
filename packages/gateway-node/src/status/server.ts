/**
 * The metrics/status listener (`observability.metrics.prometheus.addr`), unauthenticated and
 * meant to be network-restricted: `GET <path>` (Prometheus text: the proxy's registry plus the
 * config-sync series), `/status/config`, `/status/ready`, `/status/models`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ConfigSnapshot } from '@aisix/core';
import type { Metrics } from '../metrics.js';
import { modelKind, modelView } from '../resources.js';
import type { SnapshotSource } from '../snapshot-source.js';

export interface StatusServerOptions {
  readonly path: string;
  readonly metrics: Metrics;
  readonly snapshots: SnapshotSource;
  /** `/status/config` body (from the config sync). */
  readonly statusJson?: () => object;
  /** Extra Prometheus text appended to the scrape (the `aisix_config_*` series). */
  readonly configMetrics?: () => string;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** `/status/models` rows; virtual kinds are `not_applicable`. Runtime health is not tracked yet. */
export function modelStatusRows(snapshot: ConfigSnapshot): object[] {
  const rows: { id: string; display_name: string; kind: string; status: string }[] = [];
  for (const m of snapshot.byId('models').values()) {
    const v = modelView(m);
    const kind = modelKind(v);
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
  if (req.method !== 'GET') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed');
  switch (path) {
    case o.path: {
      const own = await o.metrics.text();
      const extra = o.configMetrics?.() ?? '';
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
    case '/status/models':
      return send(res, 200, 'application/json', JSON.stringify(modelStatusRows(o.snapshots.current())));
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'not found');
  }
}

export function createStatusServer(o: StatusServerOptions): Server {
  return createServer((req, res) => {
    route(o, req, res).catch(() => {
      if (!res.headersSent)
        send(res, 500, 'application/json', JSON.stringify({ error_msg: 'status endpoint failed' }));
      else res.destroy();
    });
  });
}
