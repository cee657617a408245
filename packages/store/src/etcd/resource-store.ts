/**
 * The etcd write path (`ResourceStore`) on the `etcd3` client: get, list, create, replace,
 * delete with real revisions (the txn / delete response header revision) and atomic name
 * uniqueness (decision 2).
 *
 * Uniqueness: read the kind's prefix at revision R, check that no other id holds the value,
 * then commit in ONE transaction whose compare is "every key in the kind's range has
 * mod_revision < R+1" (a range compare, `range_end`), plus create-if-absent (create) or
 * key-exists (replace). If anything of the kind changed after R the compare fails and we
 * re-read and re-check. No index keys are written; the key layout stays the reference's.
 * etcd3's high-level builder has no range compare, so the raw `kv.txn` RPC is used (its
 * bundled proto carries `Compare.range_end`).
 *
 * Timeouts: gRPC has no separate connect timeout, so each RPC gets a deadline of
 * requestTimeoutMs, plus dialTimeoutMs while no call has succeeded since the last failure
 * (that call may have to connect first). Every failure surfaces as `StoreError('unavailable')`
 * whose message never contains the password.
 */
import { type KindName, timerMs } from '@aisix/core';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, type IKeyValue, type ITxnRequest, isRecoverableError } from 'etcd3';
import { AUDIT_BATCH, auditKey, auditPrefixFor, auditTimeKey } from '../audit-keys.js';
import { decodeDocument, undecodable } from '../decode.js';
import {
  type AuditLog,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
  type AuditRetention,
  MAX_WRITE_BYTES,
  type ResourceStore,
  type StoredDoc,
  StoreError,
  type UniqueConstraint,
  type WriteOptions,
  type WriteResult,
  writeTooLarge,
} from '../types.js';
import { int, kindPrefix, prefixRangeEnd, resourceKey, utf8 } from './keys.js';

export interface Etcd3StoreOptions {
  endpoints: string[];
  prefix: string;
  /** Audit record prefix (`auditPrefixFor`); default: the sibling of `prefix`. */
  auditPrefix?: string;
  user?: string;
  password?: string;
  tls?: { caCert: string; clientCert?: string; clientKey?: string; serverName?: string };
  dialTimeoutMs: number;
  requestTimeoutMs: number;
  /** etcd's `--max-request-bytes` (default `MAX_WRITE_BYTES`, etcd's own default of 1.5 MiB). */
  maxRequestBytes?: number;
}

/**
 * A gRPC size refusal ("received message larger than max", RESOURCE_EXHAUSTED; or etcd's
 * "request is too large"): a property of one request, not of the host. etcd3 counts every
 * RESOURCE_EXHAUSTED as recoverable, so by default one oversize request is retried 3 times
 * and those failures open the host's circuit breaker, failing every call for 5 s.
 */
export function isSizeError(err: Error): boolean {
  return /larger than max|message too large|request is too large/i.test(err.message);
}

/** etcd3's default fault handling (3 retries; a breaker opening for 5 s after 3 consecutive
 * failures), minus size errors, which neither retry nor count against the host. */
const transient = (err: Error): boolean => isRecoverableError(err) && !isSizeError(err);
const FAULT_HANDLING = {
  host: () =>
    circuitBreaker(handleWhen(transient), { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(3) }),
  global: retry(handleWhen(transient), { maxAttempts: 3 }),
};

/** Bytes of a buffer-ish field of a request (absent = 0). */
function len(b: Buffer | string | undefined): number {
  return b === undefined ? 0 : typeof b === 'string' ? Buffer.byteLength(b) : b.length;
}

/** Protobuf framing per compare/op (tags, varint lengths, revisions), and for the request. */
const OP_OVERHEAD = 64;
const REQUEST_OVERHEAD = 512;

/**
 * An upper estimate of a txn's encoded size, as etcd measures it against `--max-request-bytes`:
 * the keys, range ends and values it carries plus framing.
 */
export function txnRequestBytes(req: ITxnRequest): number {
  let n = REQUEST_OVERHEAD;
  for (const c of req.compare ?? []) n += OP_OVERHEAD + len(c.key) + len(c.range_end) + len(c.value);
  for (const op of [...(req.success ?? []), ...(req.failure ?? [])]) {
    n += OP_OVERHEAD;
    if (op.request_put) n += len(op.request_put.key) + len(op.request_put.value);
    if (op.request_range) n += len(op.request_range.key) + len(op.request_range.range_end);
    if (op.request_delete_range)
      n += len(op.request_delete_range.key) + len(op.request_delete_range.range_end);
  }
  return n;
}

/** Bounded optimistic retries for a unique write under contention. */
const UNIQUE_ATTEMPTS = 20;

export class Etcd3ResourceStore implements ResourceStore {
  readonly #client: Etcd3;
  readonly #prefix: string;
  /** Where audit records go (`audit-keys.ts`). */
  readonly #audit: string;
  readonly #opts: Etcd3StoreOptions;
  #healthy = false;
  readonly audit: AuditLog = {
    query: (q) => this.#queryAudit(q),
    prune: (r, now) => this.#pruneAudit(r, now),
  };

  constructor(opts: Etcd3StoreOptions) {
    this.#opts = opts;
    this.#prefix = opts.prefix;
    this.#audit = opts.auditPrefix ?? auditPrefixFor(opts.prefix);
    const { tls } = opts;
    this.#client = new Etcd3({
      hosts: opts.endpoints,
      faultHandling: FAULT_HANDLING,
      ...(opts.user !== undefined ? { auth: { username: opts.user, password: opts.password ?? '' } } : {}),
      ...(tls
        ? {
            credentials: {
              rootCertificate: Buffer.from(tls.caCert),
              ...(tls.clientKey ? { privateKey: Buffer.from(tls.clientKey) } : {}),
              ...(tls.clientCert ? { certChain: Buffer.from(tls.clientCert) } : {}),
            },
          }
        : {}),
      grpcOptions: {
        // A range answers whole values, each up to etcd's --max-request-bytes: a kind's list (and
        // the uniqueness read of every write of that kind) or an audit batch passes gRPC's 4 MiB
        // default receive limit with three large documents or a few thousand small ones, and
        // would then fail as a 500 for good. etcd itself sends up to 2 GiB.
        'grpc.max_receive_message_length': -1,
        ...(tls?.serverName
          ? {
              'grpc.ssl_target_name_override': tls.serverName,
              'grpc.default_authority': tls.serverName,
            }
          : {}),
      },
    });
  }

  async get(kind: KindName, id: string): Promise<StoredDoc | null> {
    const res = await this.#rpc('get', (o) => this.#client.kv.range({ key: utf8(this.#key(kind, id)) }, o));
    const kv = res.kvs[0];
    if (!kv) return null;
    const d = decodeDocument(kv.value);
    if (!d.ok) throw undecodable(kind, id, d.reason, int(kv.mod_revision));
    return { id, value: d.value, revision: int(kv.mod_revision) };
  }

  async list(kind: KindName, onSkip?: (id: string, reason: string) => void): Promise<StoredDoc[]> {
    return (await this.#readKind(kind, onSkip)).docs;
  }

  async create(
    kind: KindName,
    id: string,
    value: Record<string, unknown>,
    unique?: UniqueConstraint,
    opts?: WriteOptions,
  ): Promise<WriteResult> {
    const key = utf8(this.#key(kind, id));
    const absent = { key, target: 'Create', result: 'Equal', create_revision: 0 } as const;
    if (!unique) {
      const res = await this.#txn('create', {
        compare: [absent],
        success: [put(key, value), ...this.#auditOps(opts)],
      });
      if (!res.succeeded) throw new StoreError('exists', `${kind}/${id} already exists`);
      return { id, revision: int(res.header.revision) };
    }
    return this.#uniqueWrite('create', kind, id, value, unique, absent, opts);
  }

  async replace(
    kind: KindName,
    id: string,
    value: Record<string, unknown>,
    unique?: UniqueConstraint,
    opts?: WriteOptions,
  ): Promise<WriteResult> {
    const key = utf8(this.#key(kind, id));
    const present = { key, target: 'Version', result: 'Greater', version: 0 } as const;
    if (!unique) {
      const res = await this.#txn('replace', {
        compare: [present, ...this.#casCompare(key, opts)],
        success: [put(key, value), ...this.#auditOps(opts)],
        failure: [{ request_range: { key } }],
      });
      if (!res.succeeded) throw this.#refused(kind, id, res.responses[0]?.response_range?.kvs[0], opts);
      return { id, revision: int(res.header.revision) };
    }
    return this.#uniqueWrite('replace', kind, id, value, unique, present, opts);
  }

  async delete(kind: KindName, id: string, opts?: WriteOptions): Promise<WriteResult> {
    const key = utf8(this.#key(kind, id));
    if (opts?.ifRevision !== undefined || opts?.audit !== undefined) {
      const present = { key, target: 'Version', result: 'Greater', version: 0 } as const;
      const res = await this.#txn('delete', {
        compare: [present, ...this.#casCompare(key, opts)],
        success: [{ request_delete_range: { key } }, ...this.#auditOps(opts)],
        failure: [{ request_range: { key } }],
      });
      if (!res.succeeded) throw this.#refused(kind, id, res.responses[0]?.response_range?.kvs[0], opts);
      return { id, revision: int(res.header.revision) };
    }
    const res = await this.#rpc('delete', (o) => this.#client.kv.deleteRange({ key }, o));
    if (int(res.deleted) === 0) throw new StoreError('not_found', `${kind}/${id} not found`);
    return { id, revision: int(res.header.revision) };
  }

  /** The audit record's put, joining the write's transaction. */
  #auditOps(opts: WriteOptions | undefined): NonNullable<ITxnRequest['success']> {
    if (opts?.audit === undefined) return [];
    return [put(utf8(auditKey(this.#audit, opts.audit.at)), opts.audit.doc)];
  }

  /** The key range of the records between `sinceMs` and `untilMs` (inclusive). */
  #auditRange(sinceMs?: number, untilMs?: number): { key: Buffer; range_end: Buffer } {
    const ap = utf8(this.#audit);
    return {
      key: sinceMs === undefined ? ap : utf8(auditTimeKey(this.#audit, sinceMs)),
      range_end:
        untilMs === undefined
          ? Buffer.from(prefixRangeEnd(ap))
          : utf8(auditTimeKey(this.#audit, untilMs + 1)),
    };
  }

  /**
   * Newest first by revision: etcd sorts by mod_revision and caps it at the cursor, in batches,
   * until `limit` records pass the filter or the range is exhausted.
   */
  async #queryAudit(q: AuditQuery): Promise<AuditPage> {
    const range = this.#auditRange(q.sinceMs, q.untilMs);
    const records: AuditRecord[] = [];
    let below = q.beforeRevision;
    for (;;) {
      const res = await this.#rpc('audit query', (o) =>
        this.#client.kv.range(
          {
            ...range,
            sort_order: 'Descend',
            sort_target: 'Mod',
            limit: AUDIT_BATCH,
            ...(below !== undefined ? { max_mod_revision: below - 1 } : {}),
          },
          o,
        ),
      );
      for (const kv of res.kvs) {
        const revision = int(kv.mod_revision);
        below = revision;
        const doc = decodeDocument(kv.value);
        if (!doc.ok || (q.match !== undefined && !q.match(doc.value))) continue;
        records.push({ revision, doc: doc.value });
        if (records.length === q.limit) return { records, next: revision };
      }
      if (res.kvs.length < AUDIT_BATCH || below === undefined || below <= 1) return { records, next: null };
    }
  }

  /** Age first (one range delete below the cutoff key), then count (the oldest keys beyond the cap). */
  async #pruneAudit(r: AuditRetention, nowMs: number): Promise<number> {
    const ap = utf8(this.#audit);
    const aged = await this.#rpc('audit prune', (o) =>
      this.#client.kv.deleteRange(
        { key: ap, range_end: utf8(auditTimeKey(this.#audit, nowMs - r.maxAgeMs)) },
        o,
      ),
    );
    let deleted = int(aged.deleted);
    const all = { key: ap, range_end: Buffer.from(prefixRangeEnd(ap)) };
    const counted = await this.#rpc('audit prune', (o) =>
      this.#client.kv.range({ ...all, count_only: true }, o),
    );
    const excess = int(counted.count) - r.maxRecords;
    if (excess <= 0) return deleted;
    const oldest = await this.#rpc('audit prune', (o) =>
      this.#client.kv.range(
        { ...all, keys_only: true, sort_order: 'Ascend', sort_target: 'Key', limit: excess },
        o,
      ),
    );
    const last = oldest.kvs[oldest.kvs.length - 1];
    if (last === undefined) return deleted;
    const res = await this.#rpc('audit prune', (o) =>
      this.#client.kv.deleteRange({ key: ap, range_end: Buffer.concat([last.key, Buffer.from([0])]) }, o),
    );
    deleted += int(res.deleted);
    return deleted;
  }

  /** The compare of a compare-and-set write: the key's mod_revision is still the one read. */
  #casCompare(key: Buffer, opts: WriteOptions | undefined): NonNullable<ITxnRequest['compare']> {
    if (opts?.ifRevision === undefined) return [];
    return [{ key, target: 'Mod', result: 'Equal', mod_revision: opts.ifRevision }];
  }

  /** Why a guarded write's txn failed, from the key as it is now (absent = not_found). */
  #refused(
    kind: KindName,
    id: string,
    kv: IKeyValue | undefined,
    opts: WriteOptions | undefined,
  ): StoreError {
    if (kv === undefined) return new StoreError('not_found', `${kind}/${id} not found`);
    return mismatch(kind, id, int(kv.mod_revision), opts?.ifRevision);
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  async #uniqueWrite(
    op: 'create' | 'replace',
    kind: KindName,
    id: string,
    value: Record<string, unknown>,
    unique: UniqueConstraint,
    keyCompare: NonNullable<ITxnRequest['compare']>[number],
    opts?: WriteOptions,
  ): Promise<WriteResult> {
    const key = utf8(this.#key(kind, id));
    const kp = utf8(kindPrefix(this.#prefix, kind));
    for (let attempt = 1; attempt <= UNIQUE_ATTEMPTS; attempt++) {
      const { revision, docs, revs } = await this.#readKind(kind);
      const current = revs.get(id);
      if (op === 'create' && current !== undefined) {
        throw new StoreError('exists', `${kind}/${id} already exists`);
      }
      if (op === 'replace' && current === undefined)
        throw new StoreError('not_found', `${kind}/${id} not found`);
      if (opts?.ifRevision !== undefined && current !== opts.ifRevision) {
        throw mismatch(kind, id, current ?? 0, opts.ifRevision);
      }
      const holder = docs.find(
        (d) =>
          d.id !== id &&
          (d.value[unique.field] === unique.value ||
            (unique.alias !== undefined && d.value[unique.alias] === unique.value)),
      );
      if (holder) {
        throw new StoreError('conflict', `${kind} with ${unique.field} "${unique.value}" already exists`, {
          conflictValue: unique.value,
        });
      }
      const res = await this.#txn(op, {
        compare: [
          // Nothing of this kind was written after our read at `revision`.
          {
            key: kp,
            range_end: Buffer.from(prefixRangeEnd(kp)),
            target: 'Mod',
            result: 'Less',
            mod_revision: revision + 1,
          },
          keyCompare,
          ...this.#casCompare(key, opts),
        ],
        success: [put(key, value), ...this.#auditOps(opts)],
      });
      if (res.succeeded) return { id, revision: int(res.header.revision) };
      // Lost a race: back off a little (jittered, so contenders spread out) and re-check.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 5 * attempt)));
    }
    throw new StoreError('unavailable', `${op} ${kind}/${id}: too much write contention, try again`);
  }

  async #readKind(
    kind: KindName,
    onSkip?: (id: string, reason: string) => void,
  ): Promise<{ revision: number; docs: StoredDoc[]; revs: Map<string, number> }> {
    const kp = utf8(kindPrefix(this.#prefix, kind));
    const res = await this.#rpc('list', (o) =>
      this.#client.kv.range({ key: kp, range_end: Buffer.from(prefixRangeEnd(kp)) }, o),
    );
    const docs: StoredDoc[] = [];
    // Every id of the kind with its mod_revision, documents that do not parse included.
    const revs = new Map<string, number>();
    for (const kv of res.kvs) {
      const id = kv.key.subarray(kp.length).toString('utf8');
      revs.set(id, int(kv.mod_revision));
      const d = decodeDocument(kv.value);
      if (d.ok) docs.push({ id, value: d.value, revision: int(kv.mod_revision) });
      else onSkip?.(id, d.reason);
    }
    docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { revision: int(res.header.revision), docs, revs };
  }

  /**
   * Every write goes through here: one bigger than etcd takes is refused before it is sent
   * (`too_large`), so it never reaches etcd, never costs a retry and never trips the breaker.
   */
  #txn(op: string, req: ITxnRequest) {
    const limit = this.#opts.maxRequestBytes ?? MAX_WRITE_BYTES;
    const size = txnRequestBytes(req);
    if (size > limit) return Promise.reject(writeTooLarge(size, limit));
    return this.#rpc(op, (o) => this.#client.kv.txn(req, o));
  }

  #key(kind: KindName, id: string): string {
    return resourceKey(this.#prefix, kind, id);
  }

  async #rpc<T>(op: string, call: (opts: { deadline: number }) => Promise<T>): Promise<T> {
    const budget = timerMs(this.#opts.requestTimeoutMs + (this.#healthy ? 0 : this.#opts.dialTimeoutMs));
    try {
      const out = await call({ deadline: Date.now() + budget });
      this.#healthy = true;
      return out;
    } catch (err) {
      this.#healthy = false;
      throw new StoreError('unavailable', `etcd ${op} failed: ${this.#safe(err)}`, { cause: err });
    }
  }

  /** The gRPC message, with the password scrubbed should any layer ever echo it. */
  #safe(err: unknown): string {
    let msg = err instanceof Error ? err.message : String(err);
    const pw = this.#opts.password;
    if (pw) msg = msg.split(pw).join('***');
    return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
  }
}

function mismatch(kind: KindName, id: string, current: number, expected: number | undefined): StoreError {
  return new StoreError(
    'revision_mismatch',
    `${kind}/${id} is at revision ${current}, not ${String(expected)}`,
    { currentRevision: current },
  );
}

function put(key: Buffer, value: Record<string, unknown>) {
  return { request_put: { key, value: Buffer.from(JSON.stringify(value), 'utf8') } };
}
