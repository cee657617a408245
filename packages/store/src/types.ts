/**
 * The config store contract. Two narrow interfaces:
 *  - ResourceStore: what writers (the Admin API) use: get, list by kind, create / replace /
 *    delete with real store revisions, and atomic per-kind name uniqueness.
 *  - ConfigSource: what readers (gateway replicas) use: load everything under the prefix at
 *    one revision, then watch from the next revision.
 * Implementations: etcd (`./etcd/`) and embedded (`./embedded/`). Both pass the same
 * contract suite (`./contract/`).
 */
import type { KindName } from '@aisix/core';

/** A resource document as stored, with its id and the revision of its last write. */
export interface StoredDoc {
  readonly id: string;
  /** Parsed JSON document (without `id`). */
  readonly value: Record<string, unknown>;
  /** Store revision of the last write of this key (etcd `mod_revision`). */
  readonly revision: number;
}

/** Name uniqueness to enforce atomically on create/replace (decision 2). */
export interface UniqueConstraint {
  /** Top-level field of the document, e.g. `display_name`, `key_hash`, `name`. */
  readonly field: string;
  readonly value: string;
  /** Another top-level field that holds the same kind of name in some documents: checked too. */
  readonly alias?: string | undefined;
}

export interface WriteResult {
  readonly id: string;
  /** The real store revision at which the write was committed (decision 1). */
  readonly revision: number;
}

export type StoreErrorCode =
  /** get/replace/delete of an id that does not exist */
  | 'not_found'
  /** another document of the kind already holds the unique value */
  | 'conflict'
  /** create of an id that already exists */
  | 'exists'
  /** backend unreachable, timed out, or failed */
  | 'unavailable'
  /** the store is read-only (resources file mode) */
  | 'read_only'
  /** a compare-and-set write (`ifRevision`) found the key at another revision */
  | 'revision_mismatch'
  /**
   * get of a key that exists but whose value is not a JSON object (a direct writer stored it);
   * `currentRevision` is the key's revision, and the message never quotes the value. The key
   * is not absent: create fails `exists`, replace and delete act on it.
   */
  | 'undecodable'
  /**
   * a write bigger than the store takes in one request (the document, its key and its audit
   * record together: `MAX_WRITE_BYTES`); refused before anything is sent, so nothing is written
   */
  | 'too_large';

/**
 * The most bytes one write may carry (the document, its key, the audit record and its key, plus
 * the request's framing): etcd's default `--max-request-bytes`, 1.5 MiB. etcd refuses a larger
 * request ("etcdserver: request is too large"; above 1.5 MiB + 512 KiB gRPC refuses it first,
 * with RESOURCE_EXHAUSTED), so the etcd store checks its transactions against it before sending
 * (`EtcdStoreOptions.maxRequestBytes` when etcd runs with another value) and the embedded store
 * applies the same bound, so both answer a large write the same way.
 */
export const MAX_WRITE_BYTES = 1_572_864;

/** The `too_large` refusal of a write of `size` bytes against `limit`. */
export function writeTooLarge(size: number, limit: number): StoreError {
  return new StoreError(
    'too_large',
    `the write takes ${size} bytes with its audit record; the store accepts at most ${limit} bytes per write`,
  );
}

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** For `conflict`: the unique value that is taken. */
  readonly conflictValue?: string;
  /** For `revision_mismatch`: the key's revision when the write was refused; for `undecodable`: the key's revision. */
  readonly currentRevision?: number;
  constructor(
    code: StoreErrorCode,
    message: string,
    opts?: { cause?: unknown; conflictValue?: string; currentRevision?: number },
  ) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StoreError';
    this.code = code;
    if (opts?.conflictValue !== undefined) this.conflictValue = opts.conflictValue;
    if (opts?.currentRevision !== undefined) this.currentRevision = opts.currentRevision;
  }
}

/** An audit record committed atomically with a write (same etcd txn / embedded transaction). */
export interface AuditInput {
  /** Epoch ms of the write: orders the record's key (`audit-keys.ts`: beside the root prefix). */
  readonly at: number;
  /** The record as stored (JSON object); its revision is the write's, read back as mod_revision. */
  readonly doc: Record<string, unknown>;
}

/** A stored audit record. */
export interface AuditRecord {
  /** The store revision of the audited write (the record's own mod_revision: one txn). */
  readonly revision: number;
  readonly doc: Record<string, unknown>;
}

export interface AuditQuery {
  /** Inclusive bounds on the record time (epoch ms). */
  readonly sinceMs?: number;
  readonly untilMs?: number;
  /** Paging cursor: only records of revisions below this one. */
  readonly beforeRevision?: number;
  /** Records per page (newest first). */
  readonly limit: number;
  /** Keep only records this returns true for (kind, id, actor filters). */
  readonly match?: (doc: Record<string, unknown>) => boolean;
}

export interface AuditPage {
  /** Newest first (descending revision). */
  readonly records: AuditRecord[];
  /** `beforeRevision` of the next page; null when this page reached the end. */
  readonly next: number | null;
}

export interface AuditRetention {
  /** Keep at most this many records (the oldest go first). */
  readonly maxRecords: number;
  /** Delete records older than this. */
  readonly maxAgeMs: number;
}

/** The audit log of a writable store, kept beside (never under) the watched `<prefix>/`. */
export interface AuditLog {
  query(q: AuditQuery): Promise<AuditPage>;
  /** Apply retention; resolves with the number of records deleted. */
  prune(retention: AuditRetention, nowMs: number): Promise<number>;
}

/** Options of a write. */
export interface WriteOptions {
  /**
   * Compare-and-set: commit only while the key's revision (etcd `mod_revision`) is still this
   * one, atomically with the write; otherwise fail `revision_mismatch` (or `not_found` when the
   * key is gone). Writers that read, merge and write pass the revision they read.
   */
  readonly ifRevision?: number;
  /** Commit this audit record in the same transaction as the write (never one without the other). */
  readonly audit?: AuditInput;
}

export interface ResourceStore {
  /**
   * The document at the id; null when the key does not exist. Fails `undecodable` when the key
   * exists but its value is not a JSON object.
   */
  get(kind: KindName, id: string): Promise<StoredDoc | null>;
  /**
   * All documents of the kind, ascending by id. Values that are not JSON objects are skipped,
   * each reported to `onSkip` with its id and why (a reason that never quotes the value).
   */
  list(kind: KindName, onSkip?: (id: string, reason: string) => void): Promise<StoredDoc[]>;
  /** Create a new key. Fails `exists` if the id is taken, `conflict` if `unique` is taken. */
  create(
    kind: KindName,
    id: string,
    value: Record<string, unknown>,
    unique?: UniqueConstraint,
    opts?: Pick<WriteOptions, 'audit'>,
  ): Promise<WriteResult>;
  /**
   * Replace an existing key. Fails `not_found`, `conflict` if another id holds `unique`, or
   * `revision_mismatch` when `opts.ifRevision` no longer matches.
   */
  replace(
    kind: KindName,
    id: string,
    value: Record<string, unknown>,
    unique?: UniqueConstraint,
    opts?: WriteOptions,
  ): Promise<WriteResult>;
  /** Delete a key. Fails `not_found` when nothing was deleted, `revision_mismatch` as replace. */
  delete(kind: KindName, id: string, opts?: WriteOptions): Promise<WriteResult>;
  /** The audit log, on stores that keep one (etcd, embedded; not a resources file). */
  readonly audit?: AuditLog;
  close(): Promise<void>;
}

/** A raw key/value as observed under the prefix; the value may be any bytes (bad documents too). */
export interface RawEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** etcd `mod_revision` of the key. */
  readonly revision: number;
}

export type WatchEvent =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array; readonly revision: number }
  | { readonly type: 'delete'; readonly key: string; readonly revision: number };

export interface LoadResult {
  /** Store revision the range was served at (etcd response header revision). */
  readonly revision: number;
  /** Every key under `<prefix>/`, ascending by key. */
  readonly entries: RawEntry[];
}

/** Why a watch stream ended. `compacted` and `closed` are graceful; `error` is a failure. */
export type WatchEnd =
  | { readonly reason: 'compacted'; readonly compactRevision: number }
  | { readonly reason: 'closed' }
  | { readonly reason: 'aborted' }
  | { readonly reason: 'error'; readonly error: Error };

export interface ConfigSource {
  /** The effective key prefix, e.g. `/aisix` (no trailing slash). */
  readonly prefix: string;
  /** Range everything under `<prefix>/`. */
  load(signal?: AbortSignal): Promise<LoadResult>;
  /**
   * Watch `<prefix>/` from `fromRevision` (inclusive). Calls `onEvents` with each batch in
   * revision order; resolves when the stream ends, fails, is compacted, or `signal` aborts.
   * Implementations never resume on their own: the caller re-loads (see watch-loop.ts).
   */
  watch(
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    signal: AbortSignal,
  ): Promise<WatchEnd>;
  /**
   * Optional cheap reachability check (reads no data). The watch loop probes with it while it
   * backs off after a failure, so a replica catches up as soon as the source is back instead of
   * at the next (up to 60 s) backoff tick.
   */
  ping?(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
