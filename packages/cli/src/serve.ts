/**
 * The composition root of one `aisix --config` process: config → logger → resource source
 * → config sync → listeners (metrics/status and proxy via the gateway, admin) → signals.
 *
 * Roles: `all` runs admin + gateway here; `admin` only the admin API (with its own config
 * sync for /admin/v1/health and /readyz); `gateway` only the proxy and metrics/status
 * listeners. Listeners bind before the first load completes (etcd may be down); readiness
 * gates traffic. A replacement cluster worker is the exception: its siblings keep the pod
 * ready, so it binds only once its configuration is applied. With `proxy.workers` > 1 the
 * proxy runs in node:cluster workers (cluster.ts) and this process keeps the admin and
 * metrics/status listeners.
 *
 * Shutdown (SIGTERM/SIGINT): /livez and /readyz answer 503 at once, for
 * `shutdown.min_drain_secs`; then every listener stops accepting and in-flight requests get
 * up to `shutdown.max_drain_secs`; then the sync stops and the process exits 0. A second
 * signal during the drain exits 1 at once.
 *
 * `serve` reads as its steps: plan the roles, boot the logger, open the parts (certificates,
 * the resource source, the state backends), start the config sync, start the listeners, log
 * the start, install the signal handlers. The listeners and signals live in their own files.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigSnapshot } from '@aisix/core';
import { inertResourceFields } from '@aisix/gateway-node';
import { startConfigSync } from '@aisix/store/local';
import type { Logger } from 'pino';
import { openBackends } from './backends.js';
import { inertConfigKeys } from './inert-keys.js';
import { createLogger } from './logger.js';
import { BootError, openResources } from './resources.js';
import { type Opened, type Readiness, type RolePlan, type Sync, startListeners } from './serve-listeners.js';
import { onReloadSignal, onShutdownSignals } from './serve-signals.js';
import type { Running, ServeDeps, ServeHooks } from './serve-types.js';
import { loadServerTls, loadUpstreamTls } from './tls.js';
import { aisixVersion } from './version.js';

export type { ClusterPart, Io, Running, ServeDeps, ServeHooks } from './serve-types.js';

function planRoles(deps: ServeDeps): RolePlan {
  const { config, role } = deps;
  const part = deps.cluster;
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
  return {
    withAdmin: role !== 'gateway' && config.admin.enabled && part?.type !== 'worker',
    withGateway: role !== 'admin' && part?.type !== 'primary',
    workers: part?.type === 'primary' ? part.workers : 1,
    gatewayConfig,
    version: aisixVersion(),
  };
}

function bootLogger(deps: ServeDeps): Logger {
  const { config, role } = deps;
  const part = deps.cluster;
  const logger = createLogger(
    config.observability.log_level,
    part?.type === 'worker' ? { role, worker: part.slot } : { role },
    config.observability.log_format,
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
  return logger;
}

/** Certificates first (a bad file fails the boot before anything opens), then the source and backends. */
async function openParts(deps: ServeDeps, plan: RolePlan, logger: Logger): Promise<Opened> {
  const { config } = deps;
  const proxyTls = plan.withGateway ? loadServerTls('proxy.tls', config.proxy.tls) : undefined;
  const adminTls = plan.withAdmin ? loadServerTls('admin.tls', config.admin.tls) : undefined;
  const upstreamTls = plan.withGateway ? loadUpstreamTls(config.upstream.tls) : undefined;
  if (upstreamTls !== undefined && !upstreamTls.verify)
    logger.warn('upstream.tls.verify is false: upstream certificates are not verified');
  const resources = await openResources(config, deps.source, deps.env);
  try {
    const backends = plan.withGateway ? await openBackends(config, logger, deps.sharedCounters) : undefined;
    return { resources, backends, proxyTls, adminTls, upstreamTls };
  } catch (err) {
    await resources.close().catch(() => {});
    throw err;
  }
}

function startSync(deps: ServeDeps, opened: Opened, logger: Logger): Sync {
  const part = deps.cluster;
  // One cache file per worker slot: workers never write the same file.
  const baseCache = deps.config.managed.snapshot_cache_path;
  const cachePath =
    part?.type === 'primary'
      ? undefined
      : part?.type === 'worker' && baseCache
        ? `${baseCache}.w${part.slot}`
        : baseCache;
  const fileRes = opened.resources.file;
  return startConfigSync({
    source: opened.resources.source,
    sourceType: deps.source,
    // File mode: hashes are the file's SHA-256; a reload ends the watch, resync at once.
    ...(fileRes !== undefined
      ? { revisionHash: (g: number) => fileRes.hashOf(g), watch: { resyncDelayMs: 0 } }
      : {}),
    ...(deps.source === 'etcd' && cachePath !== undefined && cachePath !== '' ? { cachePath } : {}),
    onCacheError: (err) => logger.warn({ err: err.message }, 'snapshot cache write failed'),
    // Said once per outage and once when it ends (the watch retries quietly in between).
    ...(deps.source === 'etcd'
      ? {
          onReachability: (reachable: boolean, error?: string) => {
            if (reachable) logger.warn('config store reachable again: watching for changes');
            else logger.warn({ err: error }, 'config store unreachable: serving the last configuration');
          },
        }
      : {}),
    // One process per replica reports: the single process, or the first worker.
    ...(part === undefined || (part.type === 'worker' && part.slot === 1)
      ? { onSnapshot: inertResourceReporter(logger) }
      : {}),
  });
}

/** Logs the stored-but-not-enforced resource fields in use, once per change of that set. */
function inertResourceReporter(logger: Logger): (s: ConfigSnapshot) => void {
  let last = '';
  return (s) => {
    const fields = inertResourceFields(s);
    const key = fields.join(',');
    if (key === last) return;
    last = key;
    if (fields.length > 0)
      logger.warn(
        { fields },
        `resources use fields this build stores but does not enforce yet: ${fields.join(', ')}`,
      );
  };
}

const message = (err: unknown): string =>
  err instanceof BootError ? err.message : `Error: ${err instanceof Error ? err.message : String(err)}`;

/**
 * A replacement worker shares the port with siblings that serve: listening before its first
 * configuration would hand it callers it can only refuse (no keys, no models) while the pod
 * stays ready, for as long as etcd is out of reach. It joins once it can serve them.
 */
async function firstConfig(sync: Sync, ready: Readiness, logger: Logger): Promise<void> {
  if (ready.configApplied) return;
  const applied = await Promise.race([sync.ready().then(() => true), sleep(0).then(() => false)]);
  if (applied) return;
  logger.info('replacement worker waits for its first configuration before taking connections');
  await sync.ready();
}

/** The startup line: what runs here, on which listeners, over which store and backends. */
function logStarted(
  deps: ServeDeps,
  plan: RolePlan,
  listeners: Awaited<ReturnType<typeof startListeners>>,
  opened: Opened,
  logger: Logger,
): void {
  const { config } = deps;
  const part = deps.cluster;
  const { gateway, admin, status } = listeners;
  logger.info(
    {
      service_name: config.observability.service_name,
      version: plan.version,
      roles: [...(plan.withAdmin ? ['admin'] : []), ...(deps.role !== 'admin' ? ['gateway'] : [])],
      listeners: {
        ...(gateway !== undefined ? { proxy: config.proxy.addr } : {}),
        ...(admin !== undefined ? { admin: config.admin.addr } : {}),
        ...((gateway !== undefined && plan.gatewayConfig.observability.metrics.prometheus.enabled) || status
          ? { metrics: config.observability.metrics.prometheus.addr }
          : {}),
      },
      store: opened.resources.describe,
      ...(opened.backends !== undefined ? { backends: opened.backends.describe } : {}),
      // A worker names its slot; the primary's line gives the pod's worker count.
      ...(part?.type === 'worker' ? { worker: part.slot } : { workers: plan.workers }),
    },
    part?.type === 'worker' ? 'gateway worker started' : 'aisix started',
  );
}

export async function serve(deps: ServeDeps, hooks: ServeHooks = {}): Promise<Running | null> {
  const { io } = deps;
  const part = deps.cluster;
  const plan = planRoles(deps);
  const logger = bootLogger(deps);
  // Loaded before any listener starts (as a static import was), only when the admin runs here.
  const adminApi = plan.withAdmin ? await import('@aisix/admin-api') : undefined;

  let opened: Opened;
  try {
    opened = await openParts(deps, plan, logger);
  } catch (err) {
    io.err(message(err));
    return null;
  }

  const sync = startSync(deps, opened, logger);
  const ready: Readiness = { shuttingDown: false, configApplied: false };
  void sync.ready().then(() => {
    ready.configApplied = true;
  });

  if (part?.type === 'worker' && part.replacement === true) await firstConfig(sync, ready, logger);

  let listeners: Awaited<ReturnType<typeof startListeners>>;
  try {
    listeners = await startListeners(deps, hooks, plan, opened, sync, ready, logger, adminApi);
  } catch (err) {
    await sync.stop();
    await opened.backends?.close();
    await opened.resources.close().catch(() => {});
    io.err(`Error: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
  const { gateway } = listeners;

  // Handlers first: whoever reads the startup line may signal at once (a supervisor, a test).
  const exited = onShutdownSignals(deps, hooks, listeners, opened, sync, ready, logger);
  onReloadSignal(hooks, opened, sync, logger);

  logStarted(deps, plan, listeners, opened, logger);

  const gw = gateway;
  return gw === undefined
    ? { logger, exited }
    : { logger, exited, metricsSnapshot: () => gw.metrics.snapshot(), healthDump: () => gw.health.dump() };
}
