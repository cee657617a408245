/**
 * Keeps one process's config snapshot in step with a ConfigSource: replays the on-disk
 * cache (if configured) so the process is ready while the store is unreachable, then runs
 * the watch loop, turning every resync and event into a new immutable snapshot that is
 * swapped in with one reference assignment. Tracks what `/status/config` and the
 * `aisix_config_*` metrics report (connection, reloads, failures) and renders both.
 * Leaves out: validation and indexing (core's SnapshotBuilder), the retry policy
 * (`./watch-loop.ts`), file format of the cache (`./snapshot-cache.ts`), and HTTP.
 */
import {
  type ConfigSnapshot,
  emptySnapshot,
  KIND_NAMES,
  type RejectedResource,
  rfc3339,
  SnapshotBuilder,
  type SnapshotStatus,
} from '@aisix/core';
import { readSnapshotCache, writeSnapshotCache } from './snapshot-cache.js';
import type { ConfigSource } from './types.js';
import { startWatchLoop, type WatchLoop, type WatchLoopOptions } from './watch-loop.js';

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
  readonly sourceType?: 'etcd' | 'file';
}

export type ReloadFailureReason = 'fetch' | 'parse' | 'validate';

export interface ConfigSyncStatus {
  readonly source: {
    readonly type: 'etcd' | 'file';
    readonly connected: boolean;
    /** Latest revision seen from the source (load or event); 0 before any. */
    readonly observed_revision: number;
    readonly source_hash: string;
    readonly observed_at: string | null;
  };
  /** Null until something was applied (live load or cache replay). */
  readonly applied: {
    readonly applied_revision: number;
    readonly config_hash: string;
    readonly apply_seq: number;
    readonly applied_at: string;
    readonly resource_counts: SnapshotStatus['resource_counts'];
  } | null;
  readonly last_reload: { readonly successful: boolean; readonly at: string } | null;
  /** Sticky until restart. `fetch` = the source was unreachable or the watch failed. */
  readonly last_failure: {
    readonly at: string;
    readonly last_error_kind: string;
    readonly last_error: string;
  } | null;
  /** Full rebuilds from a live load (single events and cache replays do not count). */
  readonly reloads_total: number;
  readonly reload_failures_total: Readonly<Record<ReloadFailureReason, number>>;
  /** Unix seconds of the last successful live reload; null before one. */
  readonly last_reload_success_timestamp: number | null;
  /** Highest applied revision, 0 before the first apply (admin health `snapshot_revision`). */
  readonly applied_revision: number;
  /** Seconds since the last applied resync or event; null before the first apply. */
  readonly snapshot_age_seconds: number | null;
}

export interface ConfigSync {
  /** The current snapshot. Read it once per request: it is replaced, never changed. */
  readonly snapshot: ConfigSnapshot;
  /** Resolves at the first apply (live load or cache replay); never rejects. */
  ready(): Promise<void>;
  status(): ConfigSyncStatus;
  /** The `/status/config` body. */
  statusJson(): Record<string, unknown>;
  /** Stops the watch loop and waits for a pending cache write. The last snapshot stays readable. */
  stop(): Promise<void>;
}

/** Keeps URL credentials (`//user:pass@`) and oversized text out of status and logs. */
function safeError(err: Error): string {
  const msg = err.message.replace(/\/\/[^/@\s]*@/g, '//***@');
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
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

  const publish = (s: ConfigSnapshot, persist: boolean): void => {
    current = s;
    lastAppliedAt = now();
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
          observedRevision = result.revision;
          observedAt = now();
          reloads++;
          lastReload = { successful: true, at: observedAt };
          lastSuccess = observedAt;
          publish(builder.resync(result.entries, result.revision), true);
        },
        onEvents(events) {
          for (const e of events) {
            observedRevision = Math.max(observedRevision, e.revision);
            observedAt = now();
            publish(e.type === 'put' ? builder.put(e) : builder.delete(e.key, e.revision), true);
          }
        },
        onFailure(error) {
          const at = now();
          connected = false;
          failures.fetch++;
          lastReload = { successful: false, at };
          lastFailure = { at, kind: 'fetch', message: safeError(error) };
        },
        onConnected(c) {
          connected = c;
        },
      },
      opts.watch,
    );
  })();

  const status = (): ConfigSyncStatus => {
    const s = current.status;
    const t = now();
    // Hashes stay lazy (getters): health checks poll status() and must not pay a full pass.
    return {
      source: {
        type: sourceType,
        connected,
        observed_revision: observedRevision,
        get source_hash() {
          return s.source_hash;
        },
        observed_at: observedAt === null ? null : rfc3339(observedAt),
      },
      applied: current.loaded
        ? {
            applied_revision: s.applied_revision,
            get config_hash() {
              return s.config_hash;
            },
            apply_seq: s.apply_seq,
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
    };
  };

  return {
    get snapshot() {
      return current;
    },
    ready: () => readyP,
    status,
    statusJson: () => statusBody(status(), current, sourceType, now()),
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

/** The `/status/config` body: fields present only when they exist, stale ages as of now. */
function statusBody(
  st: ConfigSyncStatus,
  snap: ConfigSnapshot,
  sourceType: 'etcd' | 'file',
  nowMs: number,
): Record<string, unknown> {
  const file = sourceType === 'file';
  const source: Record<string, unknown> = { type: st.source.type };
  if (!file) {
    source.connected = st.source.connected;
    source.observed_revision = st.source.observed_revision;
  }
  source.source_hash = st.source.source_hash;
  if (st.source.observed_at !== null) source.observed_at = st.source.observed_at;
  const body: Record<string, unknown> = { state: snap.status.state, source };
  if (st.applied !== null) {
    const { applied_revision, ...rest } = st.applied;
    body.applied = file ? rest : { applied_revision, ...rest };
  }
  if (st.last_reload !== null) body.last_reload = st.last_reload;
  body.last_failure = st.last_failure;
  body.rejected = snap.status.rejected.map((r) => withAge(r, nowMs));
  body.partially_compatible = snap.status.partially_compatible;
  return body;
}

function withAge(r: RejectedResource, nowMs: number): RejectedResource {
  if (r.serving_stale_since === undefined) return r;
  const age = Math.max(0, Math.floor((nowMs - Date.parse(r.serving_stale_since)) / 1000));
  return { ...r, serving_stale_age_seconds: age };
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The `aisix_config_*` series in Prometheus text format (append to `/metrics`). Per-kind
 * gauges list every kind (zeros included) plus any unknown kind segment seen in rejections;
 * rejected keys that do not parse far enough to name a kind are labelled `kind=""`.
 */
export function configMetricsText(sync: ConfigSync): string {
  const st = sync.status();
  const snap = sync.snapshot;
  const etcd = st.source.type === 'etcd';
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`);
  };
  const perKind = (count: (kind: string) => number, extra: Iterable<string>): [string, number][] => {
    const kinds = new Set<string>([...KIND_NAMES, ...extra]);
    return [...kinds].sort().map((k) => [`{kind="${esc(k)}"}`, count(k)]);
  };
  const rejected = snap.status.rejected;
  const tally = (rows: readonly RejectedResource[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const r of rows) m.set(r.resource_kind, (m.get(r.resource_kind) ?? 0) + 1);
    return m;
  };
  const rej = tally(rejected);
  const stale = tally(rejected.filter((r) => r.serving_stale_since !== undefined));
  const yellow = snap.status.partially_compatible_resources ?? {};

  metric('aisix_config_last_reload_successful', 'gauge', 'Whether the last config reload succeeded.', [
    ['', st.last_reload?.successful === true ? 1 : 0],
  ]);
  metric(
    'aisix_config_last_reload_success_timestamp_seconds',
    'gauge',
    'Unix time of the last successful reload.',
    [['', st.last_reload_success_timestamp ?? 0]],
  );
  metric('aisix_config_reloads_total', 'counter', 'Full config rebuilds from the source.', [
    ['', st.reloads_total],
  ]);
  metric(
    'aisix_config_reload_failures_total',
    'counter',
    'Failed config reloads by reason.',
    (['fetch', 'parse', 'validate'] as const).map((r) => [`{reason="${r}"}`, st.reload_failures_total[r]]),
  );
  metric(
    'aisix_config_rejected_resources',
    'gauge',
    'Stored resources rejected on read.',
    perKind((k) => rej.get(k) ?? 0, rej.keys()),
  );
  metric(
    'aisix_config_partially_compatible_resources',
    'gauge',
    'Served resources with unknown fields ignored.',
    perKind((k) => yellow[k] ?? 0, Object.keys(yellow)),
  );
  metric(
    'aisix_config_stale_served_resources',
    'gauge',
    'Rejected resources still serving their last good value.',
    perKind((k) => stale.get(k) ?? 0, stale.keys()),
  );
  if (etcd) {
    metric('aisix_config_observed_revision', 'gauge', 'Latest store revision observed.', [
      ['', st.source.observed_revision],
    ]);
    metric('aisix_config_applied_revision', 'gauge', 'Store revision of the applied snapshot.', [
      ['', st.applied_revision],
    ]);
    metric('aisix_config_source_connected', 'gauge', 'Whether the config source is reachable.', [
      ['', st.source.connected ? 1 : 0],
    ]);
  }
  const hash = st.applied?.config_hash ?? snap.status.config_hash;
  metric('aisix_config_hash_info', 'gauge', 'Hash of the served configuration.', [[`{hash="${hash}"}`, 1]]);
  return `${out.join('\n')}\n`;
}
