/**
 * The signal steps of `serve`: SIGTERM/SIGINT drain (readiness 503 at once, the gateway's own
 * drain sequence, the admin listener on the same timeline, workers drained by the primary, then
 * the sync, the backends and the resource source closed), and SIGHUP (a resources-file reload,
 * forwarded to workers by the primary; ignored without a file).
 */
import { timerMs } from '@aisix/core';
import type { Logger } from 'pino';
import { releaseReloadSignals } from './boot-signals.js';
import type { Listeners, Opened, Readiness, Sync } from './serve-listeners.js';
import type { ServeDeps, ServeHooks } from './serve-types.js';

/** A repeat of the first shutdown signal within this window is one delivery, not a second. */
const DUPLICATE_SIGNAL_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/** Installs the SIGTERM/SIGINT handlers; resolves with the exit code once shut down. */
export function onShutdownSignals(
  deps: ServeDeps,
  hooks: ServeHooks,
  l: Listeners,
  opened: Opened,
  sync: Sync,
  ready: Readiness,
  logger: Logger,
): Promise<number> {
  const { config } = deps;
  const part = deps.cluster;
  return new Promise<number>((resolveExit) => {
    const drain = async (signal: string): Promise<void> => {
      const { min_drain_secs, max_drain_secs } = config.shutdown;
      logger.info({ signal, min_drain_secs, max_drain_secs }, 'shutting down: readiness now 503, draining');
      // The gateway runs its own sequence (503 for min_drain_secs, stop accepting, wait for
      // in-flight up to max_drain_secs); the admin listener follows the same timeline.
      const gatewayDrained = l.gateway?.beginDrain();
      const admin = l.admin;
      const adminClosed =
        admin === undefined ? undefined : sleep(timerMs(min_drain_secs * 1000)).then(() => admin.close());
      // The primary's status listener stays up until its workers have drained.
      const workersDrained = hooks.onDrain?.().finally(() => l.status?.close());
      const all = Promise.allSettled([gatewayDrained, adminClosed, workersDrained]);
      // Backstop only: both bound themselves; this keeps a stuck close from hanging the exit.
      if ((await within(all, timerMs((min_drain_secs + max_drain_secs + 5) * 1000))) === 'timeout') {
        logger.warn({ max_drain_secs }, 'drain did not finish in time; exiting');
      }
      // Queued spans go out before the exit (the exporter bounds this itself).
      if (l.tracing !== undefined) await l.tracing.shutdown(5000);
      await within(sync.stop(), 2000);
      if (opened.backends !== undefined) await within(opened.backends.close(), 2000);
      await within(opened.resources.close(), 2000);
      logger.info('shutdown complete');
      resolveExit(0);
    };
    let first: { signal: NodeJS.Signals; at: number } | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      // A worker gets the primary's forwarded signal and, from a terminal, the group's one.
      if (ready.shuttingDown && part?.type === 'worker') return;
      // Ctrl-C under `pnpm start` arrives twice at once: the terminal signals the whole process
      // group and pnpm forwards its copy. The same signal within a second is that echo.
      if (first !== undefined && first.signal === signal && Date.now() - first.at < DUPLICATE_SIGNAL_MS)
        return;
      if (ready.shuttingDown) {
        logger.warn({ signal }, 'second signal during drain: exiting now');
        resolveExit(1);
        return;
      }
      ready.shuttingDown = true;
      first = { signal, at: Date.now() };
      void drain(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * SIGHUP: reload the resources file (and forward to workers); without a file, ignore it. One
 * that came while the process booted (held since `main`) is acted on now, once.
 */
export function onReloadSignal(hooks: ServeHooks, opened: Opened, sync: Sync, logger: Logger): void {
  const file = opened.resources.file;
  // Without a file there is nothing to reload; do not die on a stray SIGHUP.
  const onHup =
    file === undefined
      ? () => logger.info('SIGHUP ignored: only a resources_file source reloads')
      : () => {
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
        };
  process.on('SIGHUP', onHup);
  if (releaseReloadSignals()) onHup();
}
