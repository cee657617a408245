/**
 * The immutable config snapshot every gateway request reads (one reference, read once per
 * request). Built by the pure builder in this folder from observed store entries.
 */
import type { KindName } from '../kinds.js';
import type { ResourceTypes } from '../resources/index.js';

/** One served resource: the typed document plus where it came from. */
export interface Resource<K extends KindName = KindName> {
  readonly kind: K;
  readonly id: string;
  /** Full store key, e.g. `/aisix/models/<id>`. */
  readonly key: string;
  /** Store revision of the served bytes. */
  readonly revision: number;
  /** Typed document (lenient read: defaults filled; unknown fields kept). */
  readonly value: ResourceTypes[K];
}

export type ConfigState = 'never_loaded' | 'out_of_sync' | 'degraded' | 'empty' | 'synced';

export type RejectKind = 'bad_key' | 'non_json' | 'schema_failed' | 'parse_failed' | 'unknown_kind';

export interface RejectedResource {
  readonly resource_kind: string;
  readonly resource_id: string;
  readonly last_error_kind: RejectKind;
  /** Never contains secret values (schema messages mask instance values). */
  readonly last_error: string;
  readonly first_seen_at: string;
  readonly last_seen_at: string;
  /** Present only when a last-known-good value keeps serving for this key. */
  readonly serving_stale_since?: string;
  readonly serving_stale_age_seconds?: number;
}

export interface PartiallyCompatible {
  readonly resource_kind: string;
  /** Unknown field path, array indices shown as `[]`. */
  readonly field: string;
  readonly count: number;
}

/** What `/status/config` reports about the applied configuration (source fields are added by the holder). */
export interface SnapshotStatus {
  readonly state: ConfigState;
  /** Highest applied store revision (0 before the first apply). */
  readonly applied_revision: number;
  /** SHA-256 over what is served (accepted + pinned last-good bytes). */
  readonly config_hash: string;
  /** SHA-256 over every observed entry. */
  readonly source_hash: string;
  /** Increments whenever config_hash changes. */
  readonly apply_seq: number;
  readonly applied_at: string | null;
  /** Every kind, zero counts included (decision 14). */
  readonly resource_counts: Readonly<Record<KindName, number>>;
  readonly rejected: readonly RejectedResource[];
  readonly partially_compatible: readonly PartiallyCompatible[];
  /**
   * Served resources per kind that loaded with unknown fields (the metrics gauge needs
   * resources, not fields). Optional so hand-made test snapshots need not carry it.
   */
  readonly partially_compatible_resources?: Readonly<Record<string, number>>;
}

export interface ConfigSnapshot {
  /** False only for the initial empty snapshot (readiness gate). */
  readonly loaded: boolean;
  readonly revision: number;
  /** Served resources of a kind by id. */
  byId<K extends KindName>(kind: K): ReadonlyMap<string, Resource<K>>;
  /** Served resource of a kind by its name field (kinds table `nameField`). */
  byName<K extends KindName>(kind: K, name: string): Resource<K> | undefined;
  /** Exact alias lookup (models by `display_name` without `*`). */
  readonly modelsByAlias: ReadonlyMap<string, Resource<'models'>>;
  /** Direct models whose alias has exactly one `*`, most specific (longest literal) first. */
  readonly wildcardModels: readonly Resource<'models'>[];
  /** Caller keys by lowercase hex SHA-256. */
  readonly apiKeysByHash: ReadonlyMap<string, Resource<'api_keys'>>;
  readonly status: SnapshotStatus;
}

/**
 * A raw key/value as observed under the prefix. Structurally identical to the store's
 * `RawEntry`; core cannot import the store, so it spells the shape again.
 */
export interface ObservedEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
}

/** A last-known-good value still serving for a key whose observed value is rejected. */
export interface StaleEntry extends ObservedEntry {
  /** When the key started serving stale (unix seconds). */
  readonly sinceUnixSecs: number;
}
