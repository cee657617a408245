/**
 * What `/status/config` reports: the status shape of a config sync (`ConfigSyncStatus`), the
 * `rejected[]` row type shared with source rejections, and the rendering of the JSON body.
 * Leaves out: the state that feeds it (`./config-sync.ts`), the `aisix_config_*` series
 * (`./config-metrics.ts`), and HTTP.
 */
import type { ConfigSnapshot, ConfigState, RejectedResource, SnapshotStatus } from '@aisix/core';

export type SourceType = 'etcd' | 'embedded' | 'file';

export type ReloadFailureReason = 'fetch' | 'parse' | 'validate';

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

/** Keeps URL credentials (`//user:pass@`) and oversized text out of status and logs. */
export function safeText(text: string, max = 300): string {
  const msg = text.replace(/\/\/[^/@\s]*@/g, '//***@');
  return msg.length > max ? `${msg.slice(0, max)}…` : msg;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const rowOrder = (a: StatusRejectedRow, b: StatusRejectedRow): number =>
  cmp(a.resource_kind, b.resource_kind) ||
  cmp(a.resource_id, b.resource_id) ||
  cmp(a.last_error, b.last_error);

/** The `/status/config` body: fields present only when they exist, stale ages as of now. */
export function statusBody(
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
export function allRejected(st: ConfigSyncStatus, snap: ConfigSnapshot): readonly StatusRejectedRow[] {
  const own = snap.status.rejected;
  if (st.source_rejected.length === 0) return own;
  return [...st.source_rejected, ...own].sort(rowOrder);
}

function withAge(r: StatusRejectedRow, nowMs: number): StatusRejectedRow {
  if (r.serving_stale_since === undefined) return r;
  const age = Math.max(0, Math.floor((nowMs - Date.parse(r.serving_stale_since)) / 1000));
  return { ...r, serving_stale_age_seconds: age };
}
