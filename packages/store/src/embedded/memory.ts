/**
 * The embedded store's in-memory side: the key space with etcd-like revisions, the name
 * indexes used for atomic uniqueness, and the bounded watch history.
 *
 * Nothing here does I/O or knows about files; `engine.ts` decides when a change is durable.
 * Revisions follow etcd: one global counter, +1 per put, delete or transaction, each key keeps
 * the revision of its last write (`mod_revision`). Every revision is one group of events (one,
 * or several for a transaction), so the history is a contiguous run of revisions and a start
 * revision maps to an array index directly.
 */
import { decodeDocument } from '../decode.js';
import type { WatchEvent } from '../types.js';
import type { TxnOp } from './frame.js';

export interface Entry {
  readonly value: Uint8Array;
  readonly revision: number;
}

/** The value as a JSON object, or null for anything else (bad UTF-8, bad JSON, array...). */
export function parseObject(value: Uint8Array): Record<string, unknown> | null {
  const d = decodeDocument(value);
  return d.ok ? d.value : null;
}

/** Which keys of one kind hold which value of one top-level string field. */
class NameIndex {
  readonly byValue = new Map<string, Set<string>>();
  readonly byKey = new Map<string, string>();
  constructor(readonly field: string) {}

  set(key: string, value: Uint8Array | null): void {
    const old = this.byKey.get(key);
    if (old !== undefined) {
      this.byKey.delete(key);
      const holders = this.byValue.get(old);
      holders?.delete(key);
      if (holders?.size === 0) this.byValue.delete(old);
    }
    if (value === null) return;
    const name = parseObject(value)?.[this.field];
    if (typeof name !== 'string') return;
    this.byKey.set(key, name);
    let holders = this.byValue.get(name);
    if (!holders) {
      holders = new Set();
      this.byValue.set(name, holders);
    }
    holders.add(key);
  }
}

export class Keyspace {
  readonly data = new Map<string, Entry>();
  /** Revision of the last write (0 = none yet). */
  revision = 0;
  /** kind prefix (`<prefix>/<kind>/`) -> field -> index; built on first use. */
  private readonly indexes = new Map<string, Map<string, NameIndex>>();

  /** Set a key as it was at `revision` (replay); advances the counter when needed. */
  restore(key: string, value: Uint8Array | null, revision: number): void {
    if (value === null) this.data.delete(key);
    else this.data.set(key, { value, revision });
    this.reindex(key, value);
    if (revision > this.revision) this.revision = revision;
  }

  put(key: string, value: Uint8Array): number {
    const revision = ++this.revision;
    this.data.set(key, { value, revision });
    this.reindex(key, value);
    return revision;
  }

  /** Returns the revision of the delete, or null when the key did not exist. */
  delete(key: string): number | null {
    if (!this.data.has(key)) return null;
    const revision = ++this.revision;
    this.data.delete(key);
    this.reindex(key, null);
    return revision;
  }

  /**
   * Apply puts and deletes at ONE new revision, like an etcd transaction. Deletes of absent
   * keys are skipped; when nothing changes no revision is used and the result is empty.
   */
  txn(ops: readonly TxnOp[]): WatchEvent[] {
    const revision = this.revision + 1;
    const events: WatchEvent[] = [];
    for (const { key, value } of ops) {
      if (value === null) {
        if (!this.data.delete(key)) continue;
        events.push({ type: 'delete', key, revision });
      } else {
        this.data.set(key, { value, revision });
        events.push({ type: 'put', key, value, revision });
      }
      this.reindex(key, value);
    }
    if (events.length > 0) this.revision = revision;
    return events;
  }

  /** Entries whose key starts with `prefix`, ascending by key. */
  range(prefix: string): Array<[string, Entry]> {
    const out: Array<[string, Entry]> = [];
    for (const e of this.data) if (e[0].startsWith(prefix)) out.push(e);
    // Code-unit order equals etcd's byte order except between astral and U+E000-U+FFFF
    // characters, which do not occur in generated ids.
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Keys under `kindPrefix` whose document has `field === value`. */
  holders(kindPrefix: string, field: string, value: string): ReadonlySet<string> {
    let byField = this.indexes.get(kindPrefix);
    if (!byField) {
      byField = new Map();
      this.indexes.set(kindPrefix, byField);
    }
    let index = byField.get(field);
    if (!index) {
      index = new NameIndex(field);
      for (const [key, entry] of this.data) if (key.startsWith(kindPrefix)) index.set(key, entry.value);
      byField.set(field, index);
    }
    return index.byValue.get(value) ?? new Set();
  }

  private reindex(key: string, value: Uint8Array | null): void {
    for (const [kindPrefix, byField] of this.indexes) {
      if (!key.startsWith(kindPrefix)) continue;
      for (const index of byField.values()) index.set(key, value);
    }
  }
}

/** The last `limit` committed revisions' events, for watches that start in the past. */
export class History {
  /** One group of events per revision (a transaction's events share one). */
  private groups: WatchEvent[][] = [];
  /** Index in `groups` of the first retained revision (trimmed lazily to keep appends O(1)). */
  private offset = 0;
  /** Revision of the first retained group; `lastRevision + 1` when nothing is retained. */
  private start: number;

  constructor(
    private readonly limit: number,
    lastRevision: number,
  ) {
    this.start = lastRevision + 1;
  }

  /** First revision a watch can start from; older starts are compacted. */
  get firstRevision(): number {
    return this.start;
  }

  /** The events of the next revision (all carry that revision). */
  append(events: readonly WatchEvent[]): void {
    const revision = events[0]?.revision;
    const expected = this.start + this.groups.length - this.offset;
    if (revision !== expected || events.some((e) => e.revision !== revision)) {
      throw new Error(`history gap: got revision ${String(revision)}, expected ${expected}`);
    }
    this.groups.push([...events]);
    if (this.groups.length - this.offset > this.limit) this.compact(revision - this.limit + 1);
  }

  /** Forget events before `revision` (like etcd compaction). */
  compact(revision: number): void {
    const end = this.start + this.groups.length - this.offset;
    const target = Math.min(revision, end);
    if (target <= this.start) return;
    this.offset += target - this.start;
    this.start = target;
    if (this.offset > this.limit || this.offset === this.groups.length) {
      this.groups = this.groups.slice(this.offset);
      this.offset = 0;
    }
  }

  /** Events from `from` (inclusive), or null when `from` is older than what is retained. */
  since(from: number): WatchEvent[] | null {
    if (from < this.start) return null;
    return this.groups.slice(this.offset + (from - this.start)).flat();
  }
}
