/**
 * The listeners step of `serve`: request tracing, the gateway (proxy + its metrics/status
 * listener), the primary's status listener in a multi-worker gateway, and the admin API with
 * its playground. Everything started here is closed again if a later listener fails to start.
 */
import type { startAdminServer } from '@aisix/admin-api';
import { keepAliveTimeoutMs, parseSocketAddr } from '@aisix/core';
import {
  type StatusListener,
  startGateway,
  startStatusListener,
  type UpstreamTls,
} from '@aisix/gateway-node';
import { configMetricsText, type startConfigSync } from '@aisix/store/local';
import type { Logger } from 'pino';
import type { Backends } from './backends.js';
import { loopbackHttpsPost } from './playground-tls.js';
import { BootError, type OpenedResources } from './resources.js';
import type { ServeDeps, ServeHooks } from './serve-types.js';
import type { LoadedTls } from './tls.js';

export type Sync = ReturnType<typeof startConfigSync>;
export type Gateway = Awaited<ReturnType<typeof startGateway>>;
export type AdminServer = Awaited<ReturnType<typeof startAdminServer>>;
export type Tracing = NonNullable<ReturnType<typeof import('@aisix/gateway-node/tracing').createTracing>>;

export function hostPort(addr: string): { host: string; port: number } {
  const a = parseSocketAddr(addr);
  if (a === null) throw new BootError(`Error: invalid socket address: ${addr}`);
  return { host: a.host, port: a.port };
}

/** Where the in-process proxy can be reached from this process (for the playground). */
function loopbackUrl(addr: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  const { host } = hostPort(addr);
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `${scheme}://[${h}]:${port}` : `${scheme}://${h}:${port}`;
}

/** Headers that belong to the admin connection, not to the forwarded playground request. */
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'te',
]);

/** The admin's `modelHealth` (alias → 0/1/2) and `modelStatus` from this process's proxy. */
function modelHealthDeps(gw: Gateway, sync: Sync) {
  return {
    modelHealth: (name: string) => gw.health.healthByName(sync.snapshot, name),
    modelStatus: () => gw.health.statusRows(loadedSnapshot(sync)),
  };
}

/**
 * The snapshot model status reads, once a configuration was applied; before that the read
 * fails (the admin answers 500 `failed to list models`, control-plane §6.2) instead of `[]`.
 */
function loadedSnapshot(sync: Sync) {
  if (sync.status().state === 'never_loaded') throw new Error('no configuration applied yet');
  return sync.snapshot;
}

/** What this process runs, decided once from the role and its place in a cluster. */
export interface RolePlan {
  readonly withAdmin: boolean;
  readonly withGateway: boolean;
  readonly workers: number;
  /** The config the gateway gets (a worker leaves metrics/status to the primary). */
  readonly gatewayConfig: ServeDeps['config'];
  readonly version: string;
}

export interface Opened {
  readonly resources: OpenedResources;
  readonly backends: Backends | undefined;
  readonly proxyTls: LoadedTls | undefined;
  readonly adminTls: LoadedTls | undefined;
  readonly upstreamTls: UpstreamTls | undefined;
}

export interface Readiness {
  shuttingDown: boolean;
  configApplied: boolean;
}

export interface Listeners {
  gateway: Gateway | undefined;
  tracing: Tracing | undefined;
  admin: AdminServer | undefined;
  status: StatusListener | null;
}

export async function startListeners(
  deps: ServeDeps,
  hooks: ServeHooks,
  plan: RolePlan,
  opened: Opened,
  sync: Sync,
  ready: Readiness,
  logger: Logger,
  adminApi: typeof import('@aisix/admin-api') | undefined,
): Promise<Listeners> {
  const { config, role } = deps;
  const part = deps.cluster;
  const out: Listeners = { gateway: undefined, tracing: undefined, admin: undefined, status: null };
  const snapshots = {
    current: () => sync.snapshot,
    get ready() {
      return ready.configApplied;
    },
  };
  try {
    if (plan.withGateway && config.observability.tracing.otlp.enabled) {
      // OTLP tracing (decisions.md OP-13): loaded only when enabled; each proxy process exports its own.
      const { createTracing } = await import('@aisix/gateway-node/tracing');
      out.tracing = createTracing(config.observability, { version: plan.version, logger });
    }
    if (plan.withGateway) {
      const b = opened.backends;
      out.gateway = await startGateway({
        config: plan.gatewayConfig,
        snapshots,
        logger,
        version: plan.version,
        tracer: out.tracing?.tracer,
        statusJson: () => sync.statusJson(),
        configMetrics: () => configMetricsText(sync),
        ...(opened.proxyTls !== undefined ? { tls: opened.proxyTls } : {}),
        upstreamTls: opened.upstreamTls,
        ...(b !== undefined ? { rateLimitStore: b.rateLimitStore, cacheStores: b.cacheStores } : {}),
      });
      b?.attachMetrics(out.gateway.metrics.governance);
    }
    const workerMetrics = hooks.workerMetrics;
    if (part?.type === 'primary' && role !== 'admin' && workerMetrics !== undefined) {
      out.status = await startStatusListener({
        config,
        metrics: { text: workerMetrics },
        snapshots,
        statusJson: () => sync.statusJson(),
        configMetrics: () => configMetricsText(sync),
        ...(hooks.workerHealth !== undefined ? { podHealth: hooks.workerHealth } : {}),
      });
    }
    if (adminApi !== undefined)
      out.admin = await startAdmin(
        deps,
        opened,
        sync,
        ready,
        logger,
        adminApi,
        out.gateway,
        hooks.workerHealth,
      );
  } catch (err) {
    await Promise.allSettled([out.gateway?.close(), out.admin?.close(), out.status?.close()]);
    await out.tracing?.shutdown(2000);
    throw err;
  }
  return out;
}

async function startAdmin(
  deps: ServeDeps,
  opened: Opened,
  sync: Sync,
  ready: Readiness,
  logger: Logger,
  adminApi: typeof import('@aisix/admin-api'),
  gateway: Gateway | undefined,
  workerHealth: ServeHooks['workerHealth'],
): Promise<AdminServer> {
  const { config, role } = deps;
  const part = deps.cluster;
  // The proxy is in this process, or (primary of a multi-worker gateway) in its workers on the
  // configured port.
  const configuredPort = hostPort(config.proxy.addr).port;
  const proxyHttps = config.proxy.tls !== undefined;
  const scheme = proxyHttps ? 'https' : 'http';
  const proxyBase =
    gateway !== undefined
      ? loopbackUrl(config.proxy.addr, gateway.proxyPort, scheme)
      : part?.type === 'primary' && role === 'all' && configuredPort !== 0
        ? loopbackUrl(config.proxy.addr, configuredPort, scheme)
        : undefined;
  const { createAdminApp, startAdminServer } = adminApi;
  const app = createAdminApp({
    store: opened.resources.store,
    adminKeys: config.admin.admin_keys,
    mode: opened.resources.adminMode,
    auditRetention: {
      maxRecords: config.admin.audit.max_records,
      maxAgeDays: config.admin.audit.max_age_days,
    },
    logger,
    health: () => {
      const s = sync.status();
      return { snapshot_revision: s.applied_revision, snapshot_age_seconds: s.snapshot_age_seconds };
    },
    readiness: () => ({ shuttingDown: ready.shuttingDown, configApplied: ready.configApplied }),
    statusJson: () => sync.statusJson(),
    // Runtime model health lives in the proxy: only a process that runs it (`--role all`) has
    // any; an admin-only process reports 0 / the stored models.
    ...(gateway !== undefined ? modelHealthDeps(gateway, sync) : {}),
    // A multi-worker primary (role all): the pod's health, gathered from the workers per read.
    ...(gateway === undefined && role === 'all' && workerHealth !== undefined
      ? {
          podModelHealth: async () => {
            const t = await workerHealth();
            return (name: string) => t.healthByName(sync.snapshot, name);
          },
          modelStatus: async () => (await workerHealth()).statusRows(loadedSnapshot(sync)),
        }
      : {}),
    ...(proxyBase !== undefined
      ? {
          playground: async (req: Request) => {
            const headers = new Headers();
            for (const [k, v] of req.headers) if (!HOP_BY_HOP.has(k)) headers.set(k, v);
            const body = await req.arrayBuffer();
            const url = `${proxyBase}/v1/chat/completions`;
            return proxyHttps
              ? loopbackHttpsPost(url, headers, body)
              : fetch(url, { method: 'POST', headers, body });
          },
        }
      : {}),
  });
  return startAdminServer(app, {
    ...hostPort(config.admin.addr),
    keepAliveTimeoutMs: keepAliveTimeoutMs(config.downstream.idle_timeout_secs),
    ...(opened.adminTls !== undefined ? { tls: opened.adminTls } : {}),
  });
}
