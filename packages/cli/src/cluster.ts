/**
 * Runs `aisix --config` as one process, or as a node:cluster group when `proxy.workers` > 1
 * for a role that serves the proxy. In the group, the primary keeps the admin listener (role
 * `all`) and forks one worker per slot; every worker opens its own config source (its own
 * etcd watch, or its own read of the resources file) and runs the proxy on the shared port.
 * The primary binds the metrics/status listener (decision 8): on every scrape it asks each live
 * worker for its metrics over the cluster IPC channel, sums them (counters, histogram buckets,
 * the in-flight gauge) and appends its own `aisix_config_*` series; `/status/*` answer from the
 * primary's own config sync, except `/status/models` (and the admin's model health), which
 * merge the workers' model health (cooldowns, background checks, failure counts) into the pod's
 * view on each read. A worker that does not answer within `SCRAPE_TIMEOUT_MS` counts with its
 * previous answer, and one that died keeps its last scraped counters and histograms in the sum:
 * the pod's counters never go down while the primary lives. Workers that die are forked again
 * in the same slot, and such a replacement takes proxy connections only once its configuration
 * is applied (etcd may be out of reach then); a worker that fails to boot fails the whole boot.
 *
 * The embedded store cannot be shared: its directory is locked by the one process that opens
 * it, so workers > 1 with the embedded store is refused at boot with a message naming the fix.
 *
 * SIGTERM/SIGINT on the primary: admin readiness goes 503, the signal is forwarded to every
 * worker (each drains like a single process), and the primary exits 0 once all have exited.
 * SIGHUP is forwarded too (resources-file reload in every worker), to a worker still booting
 * only once it is ready: before its handler is installed the signal would kill it.
 *
 * Rate limits on the memory backend are pod-wide, not per worker: the primary holds the
 * counters (`@aisix/limits` `CounterStoreServer` over a memory store) and each worker's
 * limiter asks it over the same IPC channel (`RemoteCounterStore`), so a pod enforces each
 * limit once. A worker that dies has its slots and reservations released by the primary.
 * With the Redis backend these pod-shared counters are what a worker falls back to while
 * Redis is unreachable.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Config, ConfigSource } from '@aisix/core';
import {
  aggregateMetricsText,
  departedPart,
  type MetricsSnapshot,
  ModelHealthTracker,
  type ModelStateDump,
} from '@aisix/gateway-node';
import { CounterStoreServer, ipcChannel, MemoryCounterStore, RemoteCounterStore } from '@aisix/limits';
import type { Role } from './args.js';
import { heapPlan } from './heap.js';
import { type Running, type ServeDeps, serve } from './serve.js';

/** Env var carrying a worker's slot (not `AISIX_*`: those are config keys). */
const SLOT_ENV = 'AISIXCLI_WORKER_SLOT';
/** Set on a worker forked after the boot, in place of one that died. */
const REPLACEMENT_ENV = 'AISIXCLI_WORKER_REPLACEMENT';
const READY_MSG = 'aisix:worker-ready';
const METRICS_REQ = 'aisix:metrics-req';
const METRICS_RES = 'aisix:metrics-res';
const HEALTH_REQ = 'aisix:health-req';
const HEALTH_RES = 'aisix:health-res';
const SCRAPE_TIMEOUT_MS = 2000;

/** A worker that lived at least this long was healthy: its replacement starts after the base delay. */
const HEALTHY_UPTIME_MS = 30_000;
const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 60_000;

/**
 * How long to wait before forking the replacement of a worker that exited after `uptimeMs`, the
 * previous wait for its slot being `lastDelayMs` (0: none yet). A worker that keeps dying soon
 * after its start (a resources file that no longer loads, say) is retried with a doubling delay,
 * up to a minute, instead of every second forever; one that had been serving is replaced at once.
 */
export function restartDelayMs(lastDelayMs: number, uptimeMs: number): number {
  if (uptimeMs >= HEALTHY_UPTIME_MS || lastDelayMs === 0) return RESTART_BASE_MS;
  return Math.min(RESTART_MAX_MS, lastDelayMs * 2);
}

interface MetricsResponse {
  readonly type: typeof METRICS_RES;
  readonly id: number;
  readonly snapshot: MetricsSnapshot;
}

interface HealthResponse {
  readonly type: typeof HEALTH_RES;
  readonly id: number;
  readonly dump: ModelStateDump[];
}

function isMessage<T extends { type: string }>(msg: unknown, type: T['type']): msg is T {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === type;
}

/** `auto` = the CPUs this process may use. */
export function resolveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/**
 * Why this configuration cannot start as configured, checked before anything opens (also by
 * `aisix validate`, so it says what a start would): several workers on the embedded store.
 */
export function startProblem(config: Config, role: Role, source: ConfigSource): string | undefined {
  const workers = role === 'admin' ? 1 : resolveWorkers(config.proxy.workers);
  if (workers > 1 && source === 'embedded')
    return `Error: proxy.workers = ${workers} needs etcd or a resources_file: the embedded store under data_dir is opened by one process only (set proxy.workers: 1)`;
  return undefined;
}

export async function run(deps: ServeDeps): Promise<Running | null> {
  const workers = deps.role === 'admin' ? 1 : resolveWorkers(deps.config.proxy.workers);
  if (workers <= 1) return serve(deps);
  const problem = startProblem(deps.config, deps.role, deps.source);
  if (problem !== undefined) {
    deps.io.err(problem);
    return null;
  }
  if (cluster.isWorker) return runWorker(deps);
  return runPrimary(deps, workers);
}

async function runWorker(deps: ServeDeps): Promise<Running | null> {
  const slot = Number(process.env[SLOT_ENV] ?? '1');
  // The primary's store reclaims slots after this TTL: the worker refreshes those it holds.
  const sharedCounters = new RemoteCounterStore(ipcChannel(process), {
    concurrencyTtlSecs: deps.config.ratelimit.concurrency_ttl_secs,
  });
  const replacement = process.env[REPLACEMENT_ENV] === '1';
  const running = await serve({ ...deps, cluster: { type: 'worker', slot, replacement }, sharedCounters });
  if (running === null) return null;
  const snapshot = running.metricsSnapshot;
  process.on('message', (msg: unknown) => {
    if (!isMessage<{ type: string; id: number }>(msg, METRICS_REQ) || snapshot === undefined) return;
    void snapshot().then(
      (s) => process.send?.({ type: METRICS_RES, id: msg.id, snapshot: s } satisfies MetricsResponse),
      () => {},
    );
  });
  const dump = running.healthDump;
  process.on('message', (msg: unknown) => {
    if (!isMessage<{ type: string; id: number }>(msg, HEALTH_REQ) || dump === undefined) return;
    process.send?.({ type: HEALTH_RES, id: msg.id, dump: dump() } satisfies HealthResponse);
  });
  process.send?.({ type: READY_MSG, slot });
  return running;
}

async function runPrimary(deps: ServeDeps, workers: number): Promise<Running | null> {
  const slots = new Map<number, Worker>();
  /** Workers that reported ready: their SIGHUP handler is installed. */
  const readyWorkers = new WeakSet<Worker>();
  /** Workers still booting when a SIGHUP came: they get it once ready (see `reload`). */
  const reloadOnReady = new WeakSet<Worker>();
  let stopping = false;
  let booted = false;
  let failBoot: ((code: number) => void) | undefined;
  let running: Running | null = null;
  const slotTtl = deps.config.ratelimit.concurrency_ttl_secs;
  const counters = new MemoryCounterStore({ concurrencyTtlSecs: slotTtl });
  // Grant records live as long as their slots: a worker's release must still find its grant.
  const counterServer = new CounterStoreServer(counters, { grantTtlSecs: slotTtl });

  // Launch-only heap flags (heap.ts) for every worker, unless the operator chose their own.
  const { launch } = heapPlan(process.execArgv, process.env.NODE_OPTIONS);
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...launch] });
  /** Per slot: the last restart delay (see `restartDelayMs`). */
  const restartDelays = new Map<number, number>();
  const fork = (slot: number): Worker => {
    const forkedAt = performance.now();
    const w = cluster.fork({ [SLOT_ENV]: String(slot), [REPLACEMENT_ENV]: booted ? '1' : '' });
    slots.set(slot, w);
    const owner = `worker-${w.id}`;
    counterServer.serve(ipcChannel(w), owner);
    w.on('exit', (code, signal) => {
      // What the worker held (in-flight slots, reservations) is freed at once, not after the TTL.
      void counterServer.releaseOwner(owner);
      // Its counters as last scraped stay in the pod's sum, which therefore never goes down.
      const last = lastMetrics.get(w);
      if (last !== undefined) {
        lastMetrics.delete(w);
        departed = departedPart([departed, last]);
      }
      if (slots.get(slot) === w) slots.delete(slot);
      if (stopping) return;
      if (!booted) {
        // A worker that failed by itself printed its own error; one killed by a signal could not.
        if (signal !== null)
          deps.io.err(`Error: gateway worker ${slot} was killed by ${signal} while starting`);
        failBoot?.(1);
        return;
      }
      const delay = restartDelayMs(restartDelays.get(slot) ?? 0, performance.now() - forkedAt);
      restartDelays.set(slot, delay);
      running?.logger.error(
        { worker: slot, code, signal, restart_in_ms: delay },
        'gateway worker exited; starting a new one',
      );
      setTimeout(() => {
        if (!stopping) fork(slot);
      }, delay).unref();
    });
    return w;
  };

  // The pod's counters must not go down while the primary (what Prometheus scrapes) lives, or
  // every rate() over them sees a reset and counts the surviving workers' totals again. So each
  // live worker counts with its latest answer (also when it misses a scrape), and a worker that
  // exited with its last answer, counters and histograms only (`departedPart`).
  const lastMetrics = new Map<Worker, MetricsSnapshot>();
  let departed: MetricsSnapshot = [];

  // One scrape = one request id; answers are matched by id, late ones are dropped.
  let scrapeId = 0;
  const pending = new Map<number, (w: Worker, answer: unknown) => void>();
  cluster.on('message', (w, msg: unknown) => {
    if (isMessage<{ type: string }>(msg, READY_MSG)) {
      readyWorkers.add(w);
      if (reloadOnReady.has(w)) {
        reloadOnReady.delete(w);
        w.process.kill('SIGHUP');
      }
    } else if (isMessage<MetricsResponse>(msg, METRICS_RES)) pending.get(msg.id)?.(w, msg.snapshot);
    else if (isMessage<HealthResponse>(msg, HEALTH_RES)) pending.get(msg.id)?.(w, msg.dump);
  });
  /** Asks every live worker; resolves with the answers that came within `SCRAPE_TIMEOUT_MS`. */
  const askWorkers = <T>(type: typeof METRICS_REQ | typeof HEALTH_REQ): Promise<Map<Worker, T>> => {
    const id = ++scrapeId;
    // Only ready workers answer (a booting one has no handler yet: asking it costs the timeout).
    const live = [...slots.values()].filter((w) => w.isConnected() && readyWorkers.has(w));
    return new Promise<Map<Worker, T>>((resolve) => {
      const got = new Map<Worker, T>();
      const done = () => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(got);
      };
      const timer = setTimeout(done, SCRAPE_TIMEOUT_MS);
      pending.set(id, (w, answer) => {
        got.set(w, answer as T);
        if (got.size === live.length) done();
      });
      if (live.length === 0) return done();
      // A worker that exits mid-scrape just does not answer; the send callback swallows the error.
      for (const w of live) w.send({ type, id }, undefined, () => {});
    });
  };
  const workerMetrics = async (): Promise<string> => {
    const answers = await askWorkers<MetricsSnapshot>(METRICS_REQ);
    // A worker that exited since it answered was already moved to `departed` (its exit handler
    // runs before isDead() turns true), with the answer before: keeping that one is monotone.
    for (const [w, snapshot] of answers) if (!w.isDead()) lastMetrics.set(w, snapshot);
    return aggregateMetricsText([...lastMetrics.values(), departed]);
  };
  // The pod's model health: what a client reads on /status/models and /admin/v1/health.
  const workerHealth = (): Promise<ModelHealthTracker> =>
    askWorkers<ModelStateDump[]>(HEALTH_REQ).then((dumps) => ModelHealthTracker.merged([...dumps.values()]));

  const stopWorkers = async (signal: NodeJS.Signals): Promise<void> => {
    stopping = true;
    const exits = [...slots.values()].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill(signal);
        }),
    );
    await Promise.all(exits);
  };

  running = await serve(
    { ...deps, cluster: { type: 'primary', workers } },
    {
      onDrain: () => stopWorkers('SIGTERM'),
      onReload: () => {
        // A worker still booting has no SIGHUP handler yet and the signal's default action
        // would kill it (during the first boot, the whole gateway): it gets the signal once
        // ready instead, so a file it read before the change is read again.
        for (const w of slots.values()) {
          if (readyWorkers.has(w)) w.process.kill('SIGHUP');
          else reloadOnReady.add(w);
        }
      },
      workerMetrics,
      workerHealth,
    },
  );
  if (running === null) return null;

  const bootResult = await new Promise<number>((resolve) => {
    failBoot = resolve;
    let ready = 0;
    cluster.on('message', (_w, msg: unknown) => {
      if (typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === READY_MSG) {
        ready++;
        if (ready === workers) resolve(0);
      }
    });
    for (let slot = 1; slot <= workers; slot++) fork(slot);
  });
  if (bootResult !== 0) {
    // A worker printed its own boot error; take the rest of the group down with it.
    await stopWorkers('SIGKILL');
    running.logger.flush();
    return null;
  }
  booted = true;
  running.logger.info({ workers }, 'all gateway workers started');
  return running;
}
