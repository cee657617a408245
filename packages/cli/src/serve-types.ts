/**
 * The types `serve` (serve.ts) is driven by and answers with, apart from it so the listener and
 * signal steps (serve-listeners.ts, serve-signals.ts) can name them without an import cycle.
 */
import type { Config, ConfigSource as SourceKind } from '@aisix/core';
import type { MetricsSnapshot, ModelHealthTracker, ModelStateDump } from '@aisix/gateway-node';
import type { CounterStore } from '@aisix/limits';
import type { Logger } from 'pino';
import type { Role } from './args.js';

export interface Io {
  err(line: string): void;
}

export interface Running {
  readonly logger: Logger;
  /** Resolves with the exit code once a signal-driven shutdown has finished. */
  readonly exited: Promise<number>;
  /** The proxy's metrics as data, when this process runs a proxy (a cluster worker sends it). */
  readonly metricsSnapshot?: () => Promise<MetricsSnapshot>;
  /** The proxy's model health as data (a cluster worker sends it to the primary). */
  readonly healthDump?: () => ModelStateDump[];
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
  /** A worker's pod-shared rate-limit counters (the primary's, over IPC; cluster.ts). */
  readonly sharedCounters?: CounterStore;
}

/**
 * What this process is within a multi-worker gateway. The primary keeps the admin listener
 * and the metrics/status listener (decision 8; its /metrics sums the workers' metrics, see
 * cluster.ts) and forks the workers; each worker runs only the proxy on the shared port.
 */
export type ClusterPart =
  | { readonly type: 'primary'; readonly workers: number }
  | {
      readonly type: 'worker';
      readonly slot: number;
      /**
       * Forked to replace a worker that died while its siblings serve: it takes proxy
       * connections only once its configuration is applied (see `serve`).
       */
      readonly replacement?: boolean;
    };

/** Starts every listener of the role in this process; returns null after printing a boot failure. */
export interface ServeHooks {
  /** Primary only: drain and stop the workers (resolves when they have exited). */
  onDrain?: () => Promise<void>;
  /** Primary only: forward SIGHUP to the workers. */
  onReload?: () => void;
  /** Primary only: the workers' proxy metrics, summed, as Prometheus text. */
  workerMetrics?: () => Promise<string>;
  /** Primary only: the pod's model health, merged from the workers' (status and admin health). */
  workerHealth?: () => Promise<ModelHealthTracker>;
}
