/**
 * The applied half of `/status/config`, derived from a builder state: state machine,
 * counts for every kind, rejected rows, partial-compatibility rows and the two hashes.
 * Hashes and rejected rows are computed on first read and memoised: they cost a pass over
 * every entry, which a hot watch stream should not pay per event (apply_seq uses cheaper
 * change detection instead of comparing hashes).
 * Leaves out: source/connection fields and reload counters (the store's config-sync).
 */
import { KIND_NAMES, type KindName } from '../kinds.js';
import { sha256Lines } from './hash.js';
import { type Blob, blobLine, type State } from './state.js';
import type { ConfigState, PartiallyCompatible, RejectedResource, SnapshotStatus } from './types.js';

/** RFC 3339, UTC, second precision, `Z` suffix. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function servedTotal(state: State): number {
  let n = 0;
  for (const m of state.byId.values()) n += m.size;
  return n;
}

function computeState(state: State, served: number): ConfigState {
  if (!state.loaded) return 'never_loaded';
  const rejected = state.rejected.size;
  if (rejected > 0 && served === 0) return 'out_of_sync';
  if (rejected > 0) return 'degraded';
  if (served === 0) return 'empty';
  return 'synced';
}

function rejectedRows(state: State, now: number): RejectedResource[] {
  const rows: (RejectedResource & { key: string })[] = [];
  for (const [key, ks] of state.rejected) {
    const v = ks.verdict;
    if (v.ok) continue;
    const first = ks.rejectFirstSeen ?? now;
    const row: RejectedResource & { key: string } = {
      key,
      resource_kind: v.resourceKind,
      resource_id: v.resourceId,
      last_error_kind: v.errorKind,
      last_error: v.message,
      first_seen_at: rfc3339(first),
      last_seen_at: rfc3339(ks.rejectLastSeen ?? first),
      ...(ks.pinnedSince === undefined
        ? {}
        : {
            serving_stale_since: rfc3339(ks.pinnedSince),
            serving_stale_age_seconds: Math.max(0, Math.floor((now - ks.pinnedSince) / 1000)),
          }),
    };
    rows.push(row);
  }
  rows.sort(
    (a, b) => cmp(a.resource_kind, b.resource_kind) || cmp(a.resource_id, b.resource_id) || cmp(a.key, b.key),
  );
  return rows.map(({ key: _key, ...row }) => Object.freeze(row));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function partialRows(state: State): PartiallyCompatible[] {
  const rows: PartiallyCompatible[] = [];
  for (const [k, count] of state.unknownFields) {
    const i = k.indexOf('\u0000');
    rows.push(Object.freeze({ resource_kind: k.slice(0, i), field: k.slice(i + 1), count }));
  }
  rows.sort((a, b) => cmp(a.resource_kind, b.resource_kind) || cmp(a.field, b.field));
  return rows;
}

/** Key-sorted blobs; buckets iterate roughly in key order already, so the sort is cheap. */
function sortedBlobs(state: State, served: boolean): Blob[] {
  const out: Blob[] = [];
  const buckets = [...state.keys.keys()].sort();
  for (const name of buckets) {
    for (const ks of state.keys.get(name)?.values() ?? []) {
      const b = served ? ks.served?.blob : ks.obs;
      if (b !== undefined) out.push(b);
    }
  }
  return out.sort((a, b) => cmp(a.key, b.key));
}

export function sourceHash(state: State): string {
  return sha256Lines(sortedBlobs(state, false).map(blobLine));
}

export function configHash(state: State): string {
  return sha256Lines(sortedBlobs(state, true).map(blobLine));
}

export function buildStatus(state: State, now: number): SnapshotStatus {
  const counts = {} as Record<KindName, number>;
  for (const k of KIND_NAMES) counts[k] = state.byId.get(k)?.size ?? 0;
  const served = servedTotal(state);
  const yellow: Record<string, number> = {};
  for (const [k, n] of state.yellow) yellow[k] = n;
  let src: string | undefined;
  let cfg: string | undefined;
  let rejected: readonly RejectedResource[] | undefined;
  return Object.freeze({
    state: computeState(state, served),
    applied_revision: state.revision,
    get config_hash(): string {
      cfg ??= configHash(state);
      return cfg;
    },
    get source_hash(): string {
      src ??= sourceHash(state);
      return src;
    },
    apply_seq: state.applySeq,
    applied_at: state.appliedAt === null ? null : rfc3339(state.appliedAt),
    resource_counts: Object.freeze(counts),
    get rejected(): readonly RejectedResource[] {
      rejected ??= Object.freeze(rejectedRows(state, now));
      return rejected;
    },
    partially_compatible: Object.freeze(partialRows(state)),
    partially_compatible_resources: Object.freeze(yellow),
  });
}
