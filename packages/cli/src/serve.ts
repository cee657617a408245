/**
 * The composition root of one `aisix --config` process: config → logger → resource source
 * → config sync → listeners (metrics/status and proxy via the gateway, admin) → signals.
 *
 * Roles: `all` runs admin + gateway here; `admin` only the admin API (with its own config
 * sync for /admin/v1/health and /readyz); `gateway` only the proxy and metrics/status
 * listeners. Listeners bind before the first load completes (etcd may be down); readiness
 * gates traffic. With `proxy.workers` > 1 the proxy runs in node:cluster workers
 * (cluster.ts) and this process keeps the admin and metrics/status listeners.
 *
 * Shutdown (SIGTERM/SIGINT): /livez and /readyz answer 503 at once, for
 * `shutdown.min_drain_secs`; then every listener stops accepting and in-flight requests get
 * up to `shutdown.max_drain_secs`; then the sync stops and the process exits 0. A second
 * signal during the drain exits 1 at once.
 */
// The admin API (and the store writer side it pulls in) is imported only when the admin role runs.
import type { startAdminServer } from '@aisix/admin-api';
import type { Config, ConfigSource as SourceKind } from '@aisix/core';
import { parseSocketAddr } from '@aisix/core';
import {
  type MetricsSnapshot,
  type StatusListener,
  startGateway,
  startStatusListener,
} from '@aisix/gateway-node';
import { configMetricsText, startConfigSync } from '@aisix/store/local';
import type { Logger } from 'pino';
import type { Role } from './args.js';
import { inertConfigKeys } from './inert-keys.js';
import { createLogger } from './logger.js';
import { loopbackHttpsPost } from './playground-tls.js';
import { BootError, type OpenedResources, openResources } from './resources.js';
import { type LoadedTls, loadServerTls } from './tls.js';
import { aisixVersion } from './version.js';

export interface Io {
  err(line: string): void;
}

type Sync = ReturnType<typeof startConfigSync>;
type Gateway = Awaited<ReturnType<typeof startGateway>>;
type AdminServer = Awaited<ReturnType<typeof startAdminServer>>;
type Tracing = NonNullable<ReturnType<typeof import('@aisix/gateway-node/tracing').createTracing>>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function hostPort(addr: string): { host: string; port: number } {
  const a = parseSocketAddr(addr);
  if (a === null) throw new BootError(`Error: invalid socket address: ${addr}`);
  return { host: a.host, port: a.port };
}

/** Resolves after `ms`, or with the promise, whichever is first; never rejects. */
async function within(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => 'done' as const,
        () => 'done' as const,
      ),
      t,
    ]);
  } finally {
    clearTimeout(timer);
  }
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

export interface Running {
  readonly logger: Logger;
  /** Resolves with the exit code once a signal-driven shutdown has finished. */
  readonly exited: Promise<number>;
  /** The proxy's metrics as data, when this process runs a proxy (a cluster worker sends it). */
  readonly metricsSnapshot?: () => Promise<MetricsSnapshot>;
}

export interface ServeDeps {
  readonly config: Config;
  readonly source: SourceKind;
  readonly role: Role;
  readonly env: NodeJS.ProcessEnv;
  readonly warnings: readonly string[];
  readonly io: Io;
  /** Set in node:cluster processes (cluster.ts); absent = one process does everything. */
  readonly cluster?: ClusterPart;
}

/**
 * What this process is within a multi-worker gateway. The primary keeps the admin listener
 * and the metrics/status listener (decision 8; its /metrics sums the workers' metrics, see
 * cluster.ts) and forks the workers; each worker runs only the proxy on the shared port.
 */
export type ClusterPart =
  | { readonly type: 'primary'; readonly workers: number }
  | { readonly type: 'worker'; readonly slot: number };

/** Starts every listener of the role in this process; returns null after printing a boot failure. */
export interface ServeHooks {
  /** Primary only: drain and stop the workers (resolves when they have exited). */
  onDrain?: () => Promise<void>;
  /** Primary only: forward SIGHUP to the workers. */
  onReload?: () => void;
  /** Primary only: the workers' proxy metrics, summed, as Prometheus text. */
  workerMetrics?: () => Promise<string>;
}

/** The admin's `modelHealth` (alias → 0/1/2) and `modelStatus` from this process's proxy. */
function modelHealthDeps(gw: Gateway, sync: Sync) {
  return {
    modelHealth: (name: string) => gw.health.healthByName(sync.snapshot, name),
    modelStatus: () => gw.health.statusRows(sync.snapshot),
  };
}

export async function serve(deps: ServeDeps, hooks: ServeHooks = {}): Promise<Running | null> {
  const { config, role, io } = deps;
  const part = deps.cluster;
  const logger = createLogger(
    config.observability.log_level,
    part?.type === 'worker' ? { role, worker: part.slot } : { role },
  );
  if (part?.type !== 'worker') {
    for (const w of deps.warnings) logger.warn(w);
    const inert = inertConfigKeys(config);
    if (inert.length > 0)
      logger.warn(
        { keys: inert },
        `config keys set but not applied by this build (no effect yet): ${inert.join(', ')}`,
      );
  }
  const withAdmin = role !== 'gateway' && config.admin.enabled && part?.type !== 'worker';
  const withGateway = role !== 'admin' && part?.type !== 'primary';
  // Loaded before any listener starts (as a static import was), only when the admin runs here.
  const adminApi = withAdmin ? await import('@aisix/admin-api') : undefined;
  const version = aisixVersion();
  const workers = part?.type === 'primary' ? part.workers : 1;
  // In a cluster the primary serves metrics/status for the replica; workers only the proxy.
  const gatewayConfig =
    part?.type === 'worker'
      ? {
          ...config,
          observability: {
            ...config.observability,
            metrics: {
              ...config.observability.metrics,
              prometheus: { ...config.observability.metrics.prometheus, enabled: false },
            },
          },
        }
      : config;

  // Listener certificates are read before anything opens: a bad file fails the boot (exit 1).
  let proxyTls: LoadedTls | undefined;
  let adminTls: LoadedTls | undefined;
  let resources: OpenedResources;
  try {
    if (withGateway) proxyTls = loadServerTls('proxy.tls', config.proxy.tls);
    if (withAdmin) adminTls = loadServerTls('admin.tls', config.admin.tls);
    resources = await openResources(config, deps.source, deps.env);
  } catch (err) {
    io.err(
      err instanceof BootError ? err.message : `Error: ${err instanceof Error ? err.message : String(err)}`,
    );
    return null;
  }

  // One cache file per worker slot: workers never write the same file.
  const baseCache = config.managed.snapshot_cache_path;
  const cachePath =
    part?.type === 'primary'
      ? undefined
      : part?.type === 'worker' && baseCache
        ? `${baseCache}.w${part.slot}`
        : baseCache;
  const fileRes = resources.file;
  const sync: Sync = startConfigSync({
    source: resources.source,
    sourceType: deps.source,
    // File mode: hashes are the file's SHA-256; a reload ends the watch, resync at once.
    ...(fileRes !== undefined
      ? { revisionHash: (g: number) => fileRes.hashOf(g), watch: { resyncDelayMs: 0 } }
      : {}),
    ...(deps.source === 'etcd' && cachePath !== undefined && cachePath !== '' ? { cachePath } : {}),
    onCacheError: (err) => logger.warn({ err: err.message }, 'snapshot cache write failed'),
  });
  let shuttingDown = false;
  let configApplied = false;
  void sync.ready().then(() => {
    configApplied = true;
  });
  const readiness = () => ({ shuttingDown, configApplied });

  let gateway: Gateway | undefined;
  // OTLP tracing (decisions.md OP-13): loaded only when enabled; each proxy process exports its own.
  let tracing: Tracing | undefined;
  let admin: AdminServer | undefined;
  let status: StatusListener | null = null;
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled([gateway?.close(), admin?.close(), status?.close()]);
    await tracing?.shutdown(2000);
    await sync.stop();
    await resources.close().catch(() => {});
  };

  try {
    if (withGateway && config.observability.tracing.otlp.enabled) {
      const { createTracing } = await import('@aisix/gateway-node/tracing');
      tracing = createTracing(config.observability, { version, logger });
    }
    if (withGateway) {
      gateway = await startGateway({
        config: gatewayConfig,
        snapshots: {
          current: () => sync.snapshot,
          get ready() {
            return configApplied;
          },
        },
        logger,
        version,
        tracer: tracing?.tracer,
        statusJson: () => sync.statusJson(),
        configMetrics: () => configMetricsText(sync),
        ...(proxyTls !== undefined ? { tls: proxyTls } : {}),
      });
    }
    const workerMetrics = hooks.workerMetrics;
    if (part?.type === 'primary' && role !== 'admin' && workerMetrics !== undefined) {
      status = await startStatusListener({
        config,
        metrics: { text: workerMetrics },
        snapshots: {
          current: () => sync.snapshot,
          get ready() {
            return configApplied;
          },
        },
        statusJson: () => sync.statusJson(),
        configMetrics: () => configMetricsText(sync),
      });
    }
    if (adminApi !== undefined) {
      // The proxy is in this process, or (primary of a multi-worker gateway) in its workers
      // on the configured port.
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
        store: resources.store,
        adminKeys: config.admin.admin_keys,
        mode: resources.adminMode,
        logger,
        health: () => {
          const s = sync.status();
          return { snapshot_revision: s.applied_revision, snapshot_age_seconds: s.snapshot_age_seconds };
        },
        readiness,
        // Runtime model health lives in the proxy: only a process that runs it (`--role all`)
        // has any; an admin-only process reports 0 / the stored models.
        ...(gateway !== undefined ? modelHealthDeps(gateway, sync) : {}),
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
      admin = await startAdminServer(app, {
        ...hostPort(config.admin.addr),
        ...(adminTls !== undefined ? { tls: adminTls } : {}),
      });
    }
  } catch (err) {
    await closeAll();
    io.err(`Error: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }

  logger.info(
    {
      service_name: config.observability.service_name,
      version,
      roles: [...(withAdmin ? ['admin'] : []), ...(role !== 'admin' ? ['gateway'] : [])],
      listeners: {
        ...(gateway !== undefined ? { proxy: config.proxy.addr } : {}),
        ...(admin !== undefined ? { admin: config.admin.addr } : {}),
        ...((gateway !== undefined && gatewayConfig.observability.metrics.prometheus.enabled) || status
          ? { metrics: config.observability.metrics.prometheus.addr }
          : {}),
      },
      store: resources.describe,
      workers,
    },
    part?.type === 'worker' ? 'gateway worker started' : 'aisix started',
  );

  const exited = new Promise<number>((resolveExit) => {
    const drain = async (signal: string): Promise<void> => {
      const { min_drain_secs, max_drain_secs } = config.shutdown;
      logger.info({ signal, min_drain_secs, max_drain_secs }, 'shutting down: readiness now 503, draining');
      // The gateway runs its own sequence (503 for min_drain_secs, stop accepting, wait for
      // in-flight up to max_drain_secs); the admin listener follows the same timeline.
      const gatewayDrained = gateway?.beginDrain();
      const adminClosed =
        admin === undefined ? undefined : sleep(min_drain_secs * 1000).then(() => admin?.close());
      // The primary's status listener stays up until its workers have drained.
      const workersDrained = hooks.onDrain?.().finally(() => status?.close());
      const all = Promise.allSettled([gatewayDrained, adminClosed, workersDrained]);
      // Backstop only: both bound themselves; this keeps a stuck close from hanging the exit.
      if ((await within(all, (min_drain_secs + max_drain_secs + 5) * 1000)) === 'timeout') {
        logger.warn({ max_drain_secs }, 'drain did not finish in time; exiting');
      }
      // Queued spans go out before the exit (the exporter bounds this itself).
      if (tracing !== undefined) await tracing.shutdown(5000);
      await within(sync.stop(), 2000);
      await within(resources.close(), 2000);
      logger.info('shutdown complete');
      resolveExit(0);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      // A worker gets the primary's forwarded signal and, from a terminal, the group's one.
      if (shuttingDown && part?.type === 'worker') return;
      if (shuttingDown) {
        logger.warn({ signal }, 'second signal during drain: exiting now');
        resolveExit(1);
        return;
      }
      shuttingDown = true;
      void drain(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  const file = resources.file;
  if (file !== undefined) {
    process.on('SIGHUP', () => {
      hooks.onReload?.();
      void file.reload().then((r) => {
        if (r.ok)
          logger.info(
            { path: file.path, resources: r.count, generation: r.generation },
            'resources file reloaded',
          );
        else {
          sync.reportSourceRejection(r.rejection);
          logger.warn(
            { path: file.path, report: r.report },
            'resources file reload rejected; keeping the previous resources',
          );
        }
      });
    });
  } else {
    // Without a file there is nothing to reload; do not die on a stray SIGHUP.
    process.on('SIGHUP', () => logger.info('SIGHUP ignored: only a resources_file source reloads'));
  }

  const gw = gateway;
  return gw === undefined
    ? { logger, exited }
    : { logger, exited, metricsSnapshot: () => gw.metrics.snapshot() };
}
