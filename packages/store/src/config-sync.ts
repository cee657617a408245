/**
 * Keeps one process's config snapshot in step with a ConfigSource: replays the on-disk
 * cache (if configured) so the process is ready while the store is unreachable, then runs
 * the watch loop, turning every resync and event into a new immutable snapshot that is
 * swapped in with one reference assignment. Tracks what `/status/config` and the
 * `aisix_config_*` metrics report (connection, reloads, failures); the rendering lives in
 * `./config-status.ts` (JSON) and `./config-metrics.ts` (Prometheus text).
 *
 * Sources: `etcd` and `embedded` report connection and revisions; `file` (the resources
 * file) omits them, takes its hashes from the source (`revisionHash`: SHA-256 of the file
 * bytes) and reports a wholly rejected reload through `reportSourceRejection`: the snapshot
 * stays, `state` is `out_of_sync` and the errors are `rejected[]` rows until a later
 * revision applies (the rows' bookkeeping: `./source-rejection.ts`).
 * Leaves out: validation and indexing (core's SnapshotBuilder), the retry policy
 * (`./watch-loop.ts`), file format of the cache (`./snapshot-cache.ts`), and HTTP.
 */
import { type ConfigSnapshot, emptySnapshot, rfc3339, SnapshotBuilder } from '@aisix/core';
import {
  type ConfigSyncStatus,
  type ReloadFailureReason,
  type SourceType,
  safeText,
  statusBody,
} from './config-status.js';
import { readSnapshotCache, writeSnapshotCache } from './snapshot-cache.js';
import { afterApply, type HeldRejection, nextRejection, type SourceRejection } from './source-rejection.js';
import type { ConfigSource } from './types.js';
import { startWatchLoop, type WatchLoop, type WatchLoopOptions } from './watch-loop.js';

// The package's public surface of the config sync, whatever module holds each name (the
// Prometheus renderer, which reads a ConfigSync, is exported by the entry points).
export type {
  ConfigSyncStatus,
  ReloadFailureReason,
  SourceType,
  StatusRejectedRow,
} from './config-status.js';
export type { SourceRejection } from './source-rejection.js';

export interface ConfigSyncOptions {
  readonly source: ConfigSource;
  /** Enables the on-disk snapshot cache (replayed at start, rewritten after every apply). */
  readonly cachePath?: string;
  /** Called after every swap, with the new snapshot. Exceptions are swallowed. */
  readonly onSnapshot?: (s: ConfigSnapshot) => void;
  /** Called when writing the cache fails; the sync carries on regardless. */
  readonly onCacheError?: (err: Error) => void;
  /** Clock in epoch ms. */
  readonly now?: () => number;
  readonly watch?: WatchLoopOptions;
  /** How `/status/config` names the source; `file` omits the connection fields. Default `etcd`. */
  readonly sourceType?: SourceType;
  /**
   * The source's own hash of the content at a revision (file mode: SHA-256 of the file bytes
   * of that generation), read when a snapshot of that revision is applied. When it answers,
   * it replaces the entry hashes: `config_hash` is the applied revision's hash, `source_hash`
   * the latest observed one (a rejected reload's bytes included), and `apply_seq` counts
   * changes of `config_hash`.
   */
  readonly revisionHash?: (revision: number) => string | undefined;
  /**
   * Called once per change of reachability (not per retry): `false` with the failure when the
   * source cannot be read (also when it is down at start), `true` when it answers again after
   * that. Exceptions are swallowed.
   */
  readonly onReachability?: (reachable: boolean, error?: string) => void;
}

export interface ConfigSync {
  /** The current snapshot. Read it once per request: it is replaced, never changed. */
  readonly snapshot: ConfigSnapshot;
  /** Resolves at the first apply (live load or cache replay); never rejects. */
  ready(): Promise<void>;
  status(): ConfigSyncStatus;
  /** The `/status/config` body. */
  statusJson(): Record<string, unknown>;
  /**
   * Records that the source's latest content was wholly rejected. Counts a reload failure
   * of `rejection.reason`; the current snapshot keeps serving; `state` is `out_of_sync` with
   * the errors in `rejected[]` until a revision above `rejection.revision` is applied.
   */
  reportSourceRejection(rejection: SourceRejection): void;
  /** Stops the watch loop and waits for a pending cache write. The last snapshot stays readable. */
  stop(): Promise<void>;
}

function safeError(err: Error): string {
  return safeText(err.message);
}

export function startConfigSync(opts: ConfigSyncOptions): ConfigSync {
  const now = opts.now ?? Date.now;
  const sourceType = opts.sourceType ?? 'etcd';
  const builder = new SnapshotBuilder({ prefix: opts.source.prefix, now });
  let current: ConfigSnapshot = emptySnapshot();
  let resolveReady!: () => void;
  const readyP = new Promise<void>((r) => {
    resolveReady = r;
  });
  let connected = false;
  let observedRevision = 0;
  let observedAt: number | null = null;
  let lastAppliedAt: number | null = null;
  let reloads = 0;
  const failures: Record<ReloadFailureReason, number> = { fetch: 0, parse: 0, validate: 0 };
  let lastReload: { successful: boolean; at: number } | null = null;
  let lastSuccess: number | null = null;
  let lastFailure: { at: number; kind: string; message: string } | null = null;
  let stopped = false;
  let loop: WatchLoop | undefined;
  // Source hashes (revisionHash): the applied revision's, and a rejected reload's bytes.
  let appliedHash: string | undefined;
  let hashSeq = 0;
  let rejection: HeldRejection | null = null;
  /** The reachability last reported through `onReachability` (undefined: nothing yet). */
  let reported: boolean | undefined;
  const reachability = (reachable: boolean, error?: string): void => {
    if (reported === reachable) return;
    const first = reported === undefined;
    reported = reachable;
    // Reachable at start is the normal case: only an outage and its end are news.
    if (first && reachable) return;
    try {
      opts.onReachability?.(reachable, error);
    } catch {
      // A listener bug must not stop the sync.
    }
  };

  /** A newer revision applies: the source rejection no longer describes what is in force. */
  const clearRejection = (revision: number): void => {
    rejection = afterApply(rejection, revision);
  };

  const publish = (s: ConfigSnapshot, persist: boolean): void => {
    current = s;
    lastAppliedAt = now();
    if (opts.revisionHash !== undefined && s.loaded) {
      const h = opts.revisionHash(s.revision);
      if (h !== undefined && h !== appliedHash) {
        appliedHash = h;
        hashSeq++;
      }
    }
    if (s.loaded) resolveReady();
    if (persist) cache.schedule();
    try {
      opts.onSnapshot?.(s);
    } catch {
      // A listener bug must not stop config from applying.
    }
  };

  const cache = cacheWriter(opts, builder);

  const started = (async () => {
    if (opts.cachePath !== undefined) {
      const cached = await readSnapshotCache(opts.cachePath);
      if (cached !== null && !stopped)
        publish(builder.resync(cached.entries, cached.revision, cached.stale), false);
    }
    if (stopped) return;
    loop = startWatchLoop(
      opts.source,
      {
        onResync(result) {
          connected = true;
          reachability(true);
          observedRevision = result.revision;
          observedAt = now();
          reloads++;
          clearRejection(result.revision);
          // A re-load of the revision a later rejection was reported against: still failed.
          if (rejection === null) {
            lastReload = { successful: true, at: observedAt };
            lastSuccess = observedAt;
          }
          publish(builder.resync(result.entries, result.revision), true);
        },
        onEvents(events) {
          for (const e of events) {
            observedRevision = Math.max(observedRevision, e.revision);
            observedAt = now();
            clearRejection(e.revision);
            publish(e.type === 'put' ? builder.put(e) : builder.delete(e.key, e.revision), true);
          }
        },
        onFailure(error) {
          const at = now();
          connected = false;
          failures.fetch++;
          lastReload = { successful: false, at };
          lastFailure = { at, kind: 'fetch', message: safeError(error) };
          reachability(false, lastFailure.message);
        },
        onConnected(c) {
          connected = c;
          reachability(c, c ? undefined : 'connection lost');
        },
      },
      opts.watch,
    );
  })();

  const reportSourceRejection = (r: SourceRejection): void => {
    const at = now();
    failures[r.reason]++;
    lastReload = { successful: false, at };
    lastFailure = { at, kind: r.reason, message: safeText(r.message) };
    if (r.sourceHash !== undefined) observedAt = at;
    rejection = nextRejection(rejection, r, rfc3339(at));
  };

  const status = (): ConfigSyncStatus => {
    const s = current.status;
    const t = now();
    const rej = rejection;
    const ownHashes = opts.revisionHash !== undefined && appliedHash !== undefined;
    // Hashes stay lazy (getters): health checks poll status() and must not pay a full pass.
    return {
      state: !current.loaded ? 'never_loaded' : rej !== null ? 'out_of_sync' : s.state,
      source: {
        type: sourceType,
        connected,
        observed_revision: observedRevision,
        get source_hash() {
          return rej?.hash ?? (ownHashes ? (appliedHash as string) : s.source_hash);
        },
        observed_at: observedAt === null ? null : rfc3339(observedAt),
      },
      applied: current.loaded
        ? {
            applied_revision: s.applied_revision,
            get config_hash() {
              return ownHashes ? (appliedHash as string) : s.config_hash;
            },
            apply_seq: ownHashes ? hashSeq : s.apply_seq,
            applied_at: s.applied_at ?? rfc3339(lastAppliedAt ?? t),
            resource_counts: s.resource_counts,
          }
        : null,
      last_reload:
        lastReload === null ? null : { successful: lastReload.successful, at: rfc3339(lastReload.at) },
      last_failure:
        lastFailure === null
          ? null
          : {
              at: rfc3339(lastFailure.at),
              last_error_kind: lastFailure.kind,
              last_error: lastFailure.message,
            },
      reloads_total: reloads,
      reload_failures_total: { ...failures },
      last_reload_success_timestamp: lastSuccess === null ? null : Math.floor(lastSuccess / 1000),
      applied_revision: current.loaded ? s.applied_revision : 0,
      snapshot_age_seconds:
        current.loaded && lastAppliedAt !== null ? Math.max(0, Math.floor((t - lastAppliedAt) / 1000)) : null,
      source_rejected: rej?.rows ?? [],
    };
  };

  return {
    get snapshot() {
      return current;
    },
    ready: () => readyP,
    status,
    statusJson: () => statusBody(status(), current, sourceType, now()),
    reportSourceRejection,
    async stop() {
      stopped = true;
      await started;
      await loop?.stop();
      await cache.flush();
    },
  };
}

/** Serialised, coalescing cache writes: at most one in flight, and the last state always lands. */
function cacheWriter(
  opts: ConfigSyncOptions,
  builder: SnapshotBuilder,
): { schedule(): void; flush(): Promise<void> } {
  const path = opts.cachePath;
  let dirty = false;
  let running: Promise<void> | null = null;
  const run = async (p: string): Promise<void> => {
    while (dirty) {
      dirty = false;
      const { entries, stale } = builder.observed();
      try {
        await writeSnapshotCache(p, { revision: builder.current.revision, entries, stale });
      } catch (err) {
        opts.onCacheError?.(err instanceof Error ? err : new Error(String(err)));
      }
    }
    running = null;
  };
  return {
    schedule() {
      if (path === undefined) return;
      dirty = true;
      running ??= run(path);
    },
    async flush() {
      await running;
    },
  };
}
