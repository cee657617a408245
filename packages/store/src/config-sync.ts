/**
 * Keeps one process's config snapshot in step with a ConfigSource: replays the on-disk
 * cache (if configured) so the process is ready while the store is unreachable, then runs
 * the watch loop, turning every resync and event into a new immutable snapshot that is
 * swapped in with one reference assignment. Tracks what `/status/config` and the
 * `aisix_config_*` metrics report (connection, reloads, failures) and renders both.
 *
 * Sources: `etcd` and `embedded` report connection and revisions; `file` (the resources
 * file) omits them, takes its hashes from the source (`revisionHash`: SHA-256 of the file
 * bytes) and reports a wholly rejected reload through `reportSourceRejection`: the snapshot
 * stays, `state` is `out_of_sync` and the errors are `rejected[]` rows until a later
 * revision applies.
 * Leaves out: validation and indexing (core's SnapshotBuilder), the retry policy
 * (`./watch-loop.ts`), file format of the cache (`./snapshot-cache.ts`), and HTTP.
 */
import {
  type ConfigSnapshot,
  type ConfigState,
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
  readonly sourceType?: SourceType;
  /**
   * The source's own hash of the content at a revision (file mode: SHA-256 of the file bytes
   * of that generation), read when a snapshot of that revision is applied. When it answers,
   * it replaces the entry hashes: `config_hash` is the applied revision's hash, `source_hash`
   * the latest observed one (a rejected reload's bytes included), and `apply_seq` counts
   * changes of `config_hash`.
   */
  readonly revisionHash?: (revision: number) => string | undefined;
}

export type SourceType = 'etcd' | 'embedded' | 'file';

export type ReloadFailureReason = 'fetch' | 'parse' | 'validate';

/** A whole-source rejection (file mode: a SIGHUP reload that failed), see `reportSourceRejection`. */
export interface SourceRejection {
  /** `fetch` = the content could not be read; `parse` / `validate` = it was read and refused. */
  readonly reason: ReloadFailureReason;
  /** The whole report (`last_failure.last_error`, shortened). */
  readonly message: string;
  /** One `rejected[]` row per error; `resource_kind`/`resource_id` empty for source-wide errors. */
  readonly errors: readonly {
    readonly resource_kind: string;
    readonly resource_id: string;
    readonly message: string;
  }[];
  /** The source revision still in force; the rejection holds until a later revision applies. */
  readonly revision: number;
  /** Hash of the rejected content (shown as `source_hash`); absent when nothing could be read. */
  readonly sourceHash?: string;
}

/** A `rejected[]` row: a stored entry refused on read, or an error of a rejected source reload. */
export type StatusRejectedRow = Omit<RejectedResource, 'last_error_kind'> & {
  readonly last_error_kind: RejectedResource['last_error_kind'] | ReloadFailureReason;
};

export interface ConfigSyncStatus {
  /** The `/status/config` state: the snapshot's, or `out_of_sync` while a source rejection holds. */
  readonly state: ConfigState;
  readonly source: {
    readonly type: SourceType;
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
  /** Rows of the source rejection in force (sorted by kind, id); empty when none. */
  readonly source_rejected: readonly StatusRejectedRow[];
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

/** Keeps URL credentials (`//user:pass@`) and oversized text out of status and logs. */
function safeText(text: string, max = 300): string {
  const msg = text.replace(/\/\/[^/@\s]*@/g, '//***@');
  return msg.length > max ? `${msg.slice(0, max)}…` : msg;
}

function safeError(err: Error): string {
  return safeText(err.message);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const rowOrder = (a: StatusRejectedRow, b: StatusRejectedRow): number =>
  cmp(a.resource_kind, b.resource_kind) ||
  cmp(a.resource_id, b.resource_id) ||
  cmp(a.last_error, b.last_error);

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
  let rejection: { revision: number; rows: readonly StatusRejectedRow[]; hash: string | undefined } | null =
    null;

  /** A newer revision applies: the source rejection no longer describes what is in force. */
  const clearRejection = (revision: number): void => {
    if (rejection !== null && revision > rejection.revision) rejection = null;
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
        },
        onConnected(c) {
          connected = c;
        },
      },
      opts.watch,
    );
  })();

  const reportSourceRejection = (r: SourceRejection): void => {
    const at = now();
    const ts = rfc3339(at);
    failures[r.reason]++;
    lastReload = { successful: false, at };
    lastFailure = { at, kind: r.reason, message: safeText(r.message) };
    if (r.sourceHash !== undefined) observedAt = at;
    // A row that was already there in the rejection before keeps its first_seen_at.
    const rowKey = (kind: string, id: string, msg: string): string => `${kind}\u0000${id}\u0000${msg}`;
    const firstSeen = new Map(
      (rejection?.rows ?? []).map((row) => [
        rowKey(row.resource_kind, row.resource_id, row.last_error),
        row.first_seen_at,
      ]),
    );
    const rows = r.errors.map((e): StatusRejectedRow => {
      const msg = safeText(e.message, 1000);
      return Object.freeze({
        resource_kind: e.resource_kind,
        resource_id: e.resource_id,
        last_error_kind: r.reason,
        last_error: msg,
        first_seen_at: firstSeen.get(rowKey(e.resource_kind, e.resource_id, msg)) ?? ts,
        last_seen_at: ts,
      });
    });
    rows.sort(rowOrder);
    rejection = {
      revision: r.revision,
      rows: Object.freeze(rows),
      hash: r.sourceHash ?? rejection?.hash,
    };
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

/** The `/status/config` body: fields present only when they exist, stale ages as of now. */
function statusBody(
  st: ConfigSyncStatus,
  snap: ConfigSnapshot,
  sourceType: SourceType,
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
  const body: Record<string, unknown> = { state: st.state, source };
  if (st.applied !== null) {
    const { applied_revision, ...rest } = st.applied;
    body.applied = file ? rest : { applied_revision, ...rest };
  }
  if (st.last_reload !== null) body.last_reload = st.last_reload;
  body.last_failure = st.last_failure;
  body.rejected = allRejected(st, snap).map((r) => withAge(r, nowMs));
  body.partially_compatible = snap.status.partially_compatible;
  return body;
}

/** Rows of a source rejection plus the snapshot's refused entries, sorted by kind then id. */
function allRejected(st: ConfigSyncStatus, snap: ConfigSnapshot): readonly StatusRejectedRow[] {
  const own = snap.status.rejected;
  if (st.source_rejected.length === 0) return own;
  return [...st.source_rejected, ...own].sort(rowOrder);
}

function withAge(r: StatusRejectedRow, nowMs: number): StatusRejectedRow {
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
  // Revisions and connection exist for the stores (etcd, embedded), not for the file.
  const store = st.source.type !== 'file';
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`);
  };
  const perKind = (count: (kind: string) => number, extra: Iterable<string>): [string, number][] => {
    const kinds = new Set<string>([...KIND_NAMES, ...extra]);
    return [...kinds].sort().map((k) => [`{kind="${esc(k)}"}`, count(k)]);
  };
  const rejected = allRejected(st, snap);
  const tally = (rows: readonly StatusRejectedRow[]): Map<string, number> => {
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
  if (store) {
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
