/**
 * `openEmbeddedStore`: the config store for a single process with nothing else installed.
 * Admin writes and gateway reads share one in-process engine with etcd's semantics: one
 * global revision, per-key mod revisions, load at a revision, watch from a revision with
 * bounded history (older starts report `compacted`, so the watch loop resyncs as with etcd).
 *
 * Files and crash safety live in `disk.ts`, the write queue and watches in `engine.ts`, the
 * in-memory key space in `memory.ts`. The etcd implementation is `../etcd/`; both pass
 * `../contract/`.
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type KindName, kindPrefix as kindKeyPrefix, resourceKey, watchPrefix } from '@aisix/core';
import { auditKey, auditPrefixFor, auditTimeKey } from '../audit-keys.js';
import { decodeDocument, undecodable } from '../decode.js';
import {
  type AuditLog,
  type AuditRecord,
  type ConfigSource,
  type LoadResult,
  MAX_WRITE_BYTES,
  type ResourceStore,
  type StoredDoc,
  StoreError,
  type UniqueConstraint,
  type WatchEnd,
  type WatchEvent,
  type WriteOptions,
  type WriteResult,
  writeTooLarge,
} from '../types.js';
import { Disk, ensureDataDir } from './disk.js';
import { Engine, type Mutation, type WatchScope } from './engine.js';
import { decodeTxn, OP_PUT, OP_TXN } from './frame.js';
import { acquireDirLock } from './lock.js';
import { History, Keyspace, parseObject } from './memory.js';

export interface EmbeddedStoreOptions {
  /** Data directory; created when missing. One process at a time (a LOCK file guards it). */
  readonly dir: string;
  /** Effective key prefix, e.g. `/aisix` (a trailing `/` is trimmed). */
  readonly prefix: string;
  /** Committed events kept for watches that start in the past. Default 10,000. */
  readonly historyLimit?: number;
  /**
   * Compact the log into a new state file once it exceeds this many bytes and the size of the
   * last state file (so rewrites stay proportional to the data). Default 8 MiB.
   */
  readonly logCompactBytes?: number;
  /**
   * Most bytes of one write (keys, document and audit record); larger writes fail `too_large`.
   * Default `MAX_WRITE_BYTES`, the etcd store's bound, so both stores answer alike.
   */
  readonly maxWriteBytes?: number;
}

export interface EmbeddedRecovery {
  /** Revision after replay (monotonic across restarts). */
  readonly revision: number;
  /** Log records replayed on top of the state file. */
  readonly replayedRecords: number;
  /** Bytes of a torn or corrupt log tail that were discarded. */
  readonly truncatedBytes: number;
}

export interface EmbeddedStore {
  readonly store: ResourceStore;
  readonly source: ConfigSource;
  /** What open found on disk. */
  readonly recovery: EmbeddedRecovery;
  /**
   * Put any bytes at a key under the prefix, like a direct etcd writer (`etcdctl put`) can:
   * no JSON or uniqueness checks. Resolves with the revision once durable.
   */
  putRaw(key: string, value: Uint8Array): Promise<number>;
  /** Forget watch history before `revision`, like etcd compaction. */
  compact(revision: number): void;
  /** Finish queued writes, end watches with `closed`, release the data dir. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  if (typeof opts.dir !== 'string' || opts.dir === '') {
    throw new TypeError('openEmbeddedStore: `dir` must be a non-empty path (e.g. ./.aisix-data)');
  }
  const historyLimit = opts.historyLimit ?? 10_000;
  const logCompactBytes = opts.logCompactBytes ?? 8 * 1024 * 1024;
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1) {
    throw new TypeError('openEmbeddedStore: `historyLimit` must be a positive integer');
  }
  const maxWriteBytes = opts.maxWriteBytes ?? MAX_WRITE_BYTES;
  if (!Number.isSafeInteger(maxWriteBytes) || maxWriteBytes < 1) {
    throw new TypeError('openEmbeddedStore: `maxWriteBytes` must be a positive integer');
  }
  if (!Number.isFinite(logCompactBytes) || logCompactBytes < 0) {
    throw new TypeError('openEmbeddedStore: `logCompactBytes` must be a non-negative number');
  }
  const prefix = opts.prefix.replace(/\/+$/, '');
  await ensureDataDir(resolve(opts.dir));
  // The real path keys the in-process lock registry, so a symlinked spelling is the same dir.
  const dir = await realpath(resolve(opts.dir));
  const lock = await acquireDirLock(dir);
  let engine: Engine;
  let recovery: EmbeddedRecovery;
  try {
    const { disk, recovered } = await Disk.open(dir);
    const kv = new Keyspace();
    for (const e of recovered.stateEntries) kv.restore(e.key, e.value, e.revision);
    if (recovered.stateRevision > kv.revision) kv.revision = recovered.stateRevision;
    const history = new History(historyLimit, kv.revision);
    let replayed = 0;
    for (const f of recovered.logFrames) {
      if (f.revision <= kv.revision) continue;
      if (f.revision !== kv.revision + 1) {
        await disk.close();
        throw new Error(
          `embedded store log in ${dir} skips from revision ${kv.revision} to ${f.revision}; ` +
            'restore the data dir from a backup',
        );
      }
      const ops =
        f.op === OP_TXN ? decodeTxn(f.value) : [{ key: f.key, value: f.op === OP_PUT ? f.value : null }];
      const group: WatchEvent[] = [];
      for (const { key, value } of ops) {
        kv.restore(key, value, f.revision);
        group.push(
          value === null
            ? { type: 'delete', key, revision: f.revision }
            : { type: 'put', key, value, revision: f.revision },
        );
      }
      history.append(group);
      replayed++;
    }
    recovery = { revision: kv.revision, replayedRecords: replayed, truncatedBytes: recovered.truncatedBytes };
    engine = new Engine(disk, lock, { historyLimit, logCompactBytes }, kv, history);
  } catch (err) {
    await lock.release();
    throw err;
  }

  return {
    store: resourceStore(engine, prefix, maxWriteBytes),
    source: configSource(engine, prefix),
    recovery,
    putRaw(key, value) {
      if (!key.startsWith(watchPrefix(prefix))) {
        return Promise.reject(new TypeError(`putRaw: key ${key} is not under ${prefix}/`));
      }
      const copy = new Uint8Array(value);
      return engine.submit((kv) => ({ type: 'put', key, value: copy, revision: kv.put(key, copy) }));
    },
    compact(revision) {
      engine.compact(revision);
    },
    close: () => engine.close(),
  };
}

/** Framing counted per key and per write, as the etcd store estimates its requests. */
const OP_OVERHEAD = 64;
const REQUEST_OVERHEAD = 512;

function resourceStore(engine: Engine, prefix: string, maxWriteBytes: number): ResourceStore {
  let closed = false;
  /** The etcd store's bound, applied here too (`MAX_WRITE_BYTES`): a large write fails alike. */
  const checkSize = (key: string, bytes: Uint8Array, opts?: WriteOptions): void => {
    let size = REQUEST_OVERHEAD + OP_OVERHEAD + Buffer.byteLength(key) + bytes.byteLength;
    if (opts?.audit !== undefined) {
      size += OP_OVERHEAD + Buffer.byteLength(auditKey(auditPrefixFor(prefix), opts.audit.at));
      size += Buffer.byteLength(JSON.stringify(opts.audit.doc));
    }
    if (size > maxWriteBytes) throw writeTooLarge(size, maxWriteBytes);
  };
  const check = (): void => {
    if (closed) throw new StoreError('unavailable', 'store is closed');
    engine.assertUsable();
  };
  const kindPrefix = (kind: KindName): string => kindKeyPrefix(prefix, kind);
  /** Another key of the kind already holding the unique value fails the write. */
  const checkUnique = (kv: Keyspace, kind: KindName, key: string, unique?: UniqueConstraint): void => {
    if (!unique) return;
    const fields = unique.alias === undefined ? [unique.field] : [unique.field, unique.alias];
    for (const field of fields)
      for (const holder of kv.holders(kindPrefix(kind), field, unique.value)) {
        if (holder !== key) {
          throw new StoreError('conflict', `${kind} ${unique.field} '${unique.value}' is already taken`, {
            conflictValue: unique.value,
          });
        }
      }
  };
  /** The key must exist (and, for a compare-and-set write, still be at `ifRevision`). */
  const checkCurrent = (kv: Keyspace, kind: KindName, id: string, key: string, opts?: WriteOptions): void => {
    const current = kv.data.get(key);
    if (!current) throw new StoreError('not_found', `${kind} '${id}' not found`);
    if (opts?.ifRevision !== undefined && current.revision !== opts.ifRevision) {
      throw new StoreError(
        'revision_mismatch',
        `${kind} '${id}' is at revision ${current.revision}, not ${opts.ifRevision}`,
        { currentRevision: current.revision },
      );
    }
  };
  /**
   * The event of a single-key write, or, with an audit record, a transaction of both at one
   * revision (one log frame: neither is ever durable without the other).
   */
  const commit = (
    kv: Keyspace,
    key: string,
    value: Uint8Array | null,
    opts?: WriteOptions,
  ): WatchEvent | WatchEvent[] => {
    if (opts?.audit !== undefined) {
      const record = encoder.encode(JSON.stringify(opts.audit.doc));
      return kv.txn([
        { key, value },
        { key: auditKey(auditPrefixFor(prefix), opts.audit.at), value: record },
      ]);
    }
    if (value !== null) return { type: 'put', key, value, revision: kv.put(key, value) };
    const revision = kv.delete(key);
    if (revision === null) throw new Error(`embedded store: delete of absent key ${key}`);
    return { type: 'delete', key, revision };
  };
  const write = async (id: string, mutation: Mutation): Promise<WriteResult> => {
    check();
    return { id, revision: await engine.submit(mutation) };
  };

  return {
    async get(kind, id) {
      check();
      const e = engine.kv.data.get(resourceKey(prefix, kind, id));
      if (!e) return null;
      const d = decodeDocument(e.value);
      if (!d.ok) throw undecodable(kind, id, d.reason, e.revision);
      return { id, value: d.value, revision: e.revision };
    },
    async list(kind, onSkip) {
      check();
      const kp = kindPrefix(kind);
      const out: StoredDoc[] = [];
      for (const [key, e] of engine.kv.range(kp)) {
        const id = key.slice(kp.length);
        const d = decodeDocument(e.value);
        if (d.ok) out.push({ id, value: d.value, revision: e.revision });
        else onSkip?.(id, d.reason);
      }
      return out;
    },
    async create(kind, id, value, unique, opts) {
      const key = resourceKey(prefix, kind, id);
      const bytes = encoder.encode(JSON.stringify(value));
      checkSize(key, bytes, opts);
      return write(id, (kv) => {
        if (kv.data.has(key)) throw new StoreError('exists', `${kind} '${id}' already exists`);
        checkUnique(kv, kind, key, unique);
        return commit(kv, key, bytes, opts);
      });
    },
    async replace(kind, id, value, unique, opts) {
      const key = resourceKey(prefix, kind, id);
      const bytes = encoder.encode(JSON.stringify(value));
      checkSize(key, bytes, opts);
      return write(id, (kv) => {
        checkCurrent(kv, kind, id, key, opts);
        checkUnique(kv, kind, key, unique);
        return commit(kv, key, bytes, opts);
      });
    },
    async delete(kind, id, opts) {
      const key = resourceKey(prefix, kind, id);
      return write(id, (kv) => {
        checkCurrent(kv, kind, id, key, opts);
        return commit(kv, key, null, opts);
      });
    },
    audit: auditLog(engine, prefix, check),
    async close() {
      closed = true;
    },
  };
}

function auditLog(engine: Engine, prefix: string, check: () => void): AuditLog {
  // One process owns this key space: the records sit beside its prefix (`audit-keys.ts`).
  const under = auditPrefixFor(prefix);
  return {
    async query(q) {
      check();
      const from = q.sinceMs === undefined ? under : auditTimeKey(under, q.sinceMs);
      const to = q.untilMs === undefined ? undefined : auditTimeKey(under, q.untilMs + 1);
      const all: AuditRecord[] = [];
      for (const [key, e] of engine.kv.range(under)) {
        if (key < from || (to !== undefined && key >= to)) continue;
        if (q.beforeRevision !== undefined && e.revision >= q.beforeRevision) continue;
        const doc = parseObject(e.value);
        if (doc === null || (q.match !== undefined && !q.match(doc))) continue;
        all.push({ revision: e.revision, doc });
      }
      all.sort((a, b) => b.revision - a.revision);
      const records = all.slice(0, q.limit);
      const last = records[records.length - 1];
      return { records, next: all.length > q.limit && last !== undefined ? last.revision : null };
    },
    async prune(r, nowMs) {
      check();
      const cutoff = auditTimeKey(under, nowMs - r.maxAgeMs);
      let deleted = 0;
      // One transaction: the oldest keys (keys sort by time) that are too old or over the cap.
      await engine.submit((kv) => {
        const keys = kv.range(under).map(([key]) => key);
        const aged = keys.filter((k) => k < cutoff).length;
        const drop = Math.max(aged, keys.length - r.maxRecords);
        const events = kv.txn(keys.slice(0, drop).map((key) => ({ key, value: null })));
        deleted = events.length;
        return events;
      });
      return deleted;
    },
  };
}

function configSource(engine: Engine, prefix: string): ConfigSource {
  let closed = false;
  const scope: WatchScope = new Set();
  const under = watchPrefix(prefix);
  return {
    prefix,
    async load(signal) {
      signal?.throwIfAborted();
      if (closed) throw new StoreError('unavailable', 'config source is closed');
      engine.assertUsable();
      const entries = engine.kv
        .range(under)
        .map(([key, e]) => ({ key, value: e.value, revision: e.revision }));
      return { revision: engine.kv.revision, entries } satisfies LoadResult;
    },
    watch(fromRevision, onEvents: (events: WatchEvent[]) => void, signal): Promise<WatchEnd> {
      if (closed) return Promise.resolve({ reason: 'closed' });
      return engine.watch(scope, under, fromRevision, onEvents, signal);
    },
    async close() {
      closed = true;
      engine.endWatches(scope, { reason: 'closed' });
    },
  };
}
