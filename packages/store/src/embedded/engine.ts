/**
 * The embedded store's engine: one write queue, group commit, and watch fan-out.
 *
 * Writes are decided one at a time against the in-memory key space (so a uniqueness check and
 * its put can never interleave with another caller's), then each drained batch is appended to
 * the log with one write + one fdatasync, and only then are callers acknowledged and watchers
 * told. Reads see a decided write slightly before its fsync returns; if that fsync fails the
 * engine refuses everything after it (`unavailable`), since memory and disk no longer agree.
 *
 * The public surfaces (ResourceStore, ConfigSource) are thin facades in `store.ts`.
 */
import { StoreError, type WatchEnd, type WatchEvent } from '../types.js';
import type { Disk } from './disk.js';
import { encodeFrame, encodeTxn, OP_DELETE, OP_PUT } from './frame.js';
import type { DirLock } from './lock.js';
import type { History, Keyspace } from './memory.js';

/**
 * Decides one write against the key space (via `kv.put` / `kv.delete`, or `kv.txn` for several
 * keys at one revision) or throws StoreError. An empty array is a write that changed nothing.
 */
export type Mutation = (kv: Keyspace) => WatchEvent | WatchEvent[];

interface PendingWrite {
  readonly mutation: Mutation;
  resolve(revision: number): void;
  reject(err: unknown): void;
}

/** Watches opened through one facade, so closing that facade ends just those. */
export type WatchScope = Set<Watcher>;

export interface Watcher {
  readonly prefix: string;
  readonly onEvents: (events: WatchEvent[]) => void;
  /** Deliver only events at or after this revision. */
  readonly from: number;
  pending: WatchEvent[];
  scheduled: boolean;
  finish(end: WatchEnd): void;
}

export interface EngineOptions {
  readonly historyLimit: number;
  readonly logCompactBytes: number;
}

export class Engine {
  readonly kv: Keyspace;
  readonly history: History;
  private queue: PendingWrite[] = [];
  private draining: Promise<void> | null = null;
  private readonly watchers = new Set<Watcher>();
  private closed = false;
  private failure: Error | null = null;

  constructor(
    private readonly disk: Disk,
    private readonly lock: DirLock,
    private readonly opts: EngineOptions,
    kv: Keyspace,
    history: History,
  ) {
    this.kv = kv;
    this.history = history;
  }

  /** Throws `unavailable` once closed or after a failed fsync. */
  assertUsable(): void {
    if (this.failure) {
      throw new StoreError('unavailable', `embedded store failed: ${this.failure.message}`, {
        cause: this.failure,
      });
    }
    if (this.closed) throw new StoreError('unavailable', 'embedded store is closed');
  }

  /** Queue a write; resolves with its revision once it is durable. */
  submit(mutation: Mutation): Promise<number> {
    try {
      this.assertUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ mutation, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
      // A write queued after drain's last look at the queue but before this callback saw
      // `draining` still set and started nothing: pick it up here, or it would wait forever.
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.commit(batch);
      if (!this.failure && this.disk.logBytes > Math.max(this.opts.logCompactBytes, this.disk.stateBytes)) {
        try {
          await this.disk.writeState(this.kv.revision, this.kv.data);
        } catch (err) {
          this.fail(err);
        }
      }
    }
  }

  private async commit(batch: PendingWrite[]): Promise<void> {
    const frames: Buffer[] = [];
    const groups: WatchEvent[][] = [];
    const settle: Array<() => void> = [];
    for (const w of batch) {
      if (this.failure) {
        settle.push(() => w.reject(this.usableError()));
        continue;
      }
      try {
        const out = w.mutation(this.kv);
        const group = Array.isArray(out) ? out : [out];
        const ev = group[0];
        if (ev === undefined) {
          const revision = this.kv.revision;
          settle.push(() => w.resolve(revision));
          continue;
        }
        groups.push(group);
        if (group.length > 1) {
          frames.push(
            encodeTxn(
              ev.revision,
              group.map((e) => ({ key: e.key, value: e.type === 'put' ? e.value : null })),
            ),
          );
        } else {
          frames.push(
            ev.type === 'put'
              ? encodeFrame(OP_PUT, ev.revision, ev.key, ev.value)
              : encodeFrame(OP_DELETE, ev.revision, ev.key),
          );
        }
        settle.push(() => w.resolve(ev.revision));
      } catch (err) {
        settle.push(() => w.reject(err));
      }
    }
    if (frames.length > 0) {
      try {
        await this.disk.append(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames));
      } catch (err) {
        this.fail(err);
        for (const w of batch) w.reject(this.usableError());
        return;
      }
      for (const g of groups) this.history.append(g);
      this.publish(groups.flat());
    }
    for (const s of settle) s();
  }

  private usableError(): StoreError {
    try {
      this.assertUsable();
    } catch (err) {
      return err as StoreError;
    }
    return new StoreError('unavailable', 'embedded store failed');
  }

  private fail(err: unknown): void {
    this.failure ??= new Error(`disk write failed: ${(err as Error).message ?? String(err)}`, { cause: err });
    for (const w of this.queue.splice(0)) w.reject(this.usableError());
    this.endWatches(this.watchers, { reason: 'error', error: this.failure });
  }

  /** Drop watch history before `revision`, like etcd compaction. */
  compact(revision: number): void {
    this.history.compact(revision);
  }

  watch(
    scope: WatchScope,
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    signal: AbortSignal,
  ): Promise<WatchEnd> {
    if (this.failure) return Promise.resolve({ reason: 'error', error: this.failure });
    if (this.closed) return Promise.resolve({ reason: 'closed' });
    if (signal.aborted) return Promise.resolve({ reason: 'aborted' });
    // etcd reads a start revision of 0 as "from now"; callers here always pass load() + 1.
    const from = Math.max(1, fromRevision);
    const past = this.history.since(from);
    if (past === null) {
      return Promise.resolve({ reason: 'compacted', compactRevision: this.history.firstRevision });
    }
    return new Promise<WatchEnd>((resolve) => {
      const onAbort = (): void => watcher.finish({ reason: 'aborted' });
      const watcher: Watcher = {
        prefix,
        onEvents,
        from,
        pending: [],
        scheduled: false,
        finish: (end) => {
          if (!this.watchers.delete(watcher)) return;
          scope.delete(watcher);
          signal.removeEventListener('abort', onAbort);
          watcher.pending = [];
          resolve(end);
        },
      };
      this.watchers.add(watcher);
      scope.add(watcher);
      signal.addEventListener('abort', onAbort, { once: true });
      this.enqueue(watcher, past);
    });
  }

  /** End the given watches (a facade closing, or the engine). */
  endWatches(watchers: Iterable<Watcher>, end: WatchEnd): void {
    for (const w of [...watchers]) {
      this.flush(w);
      w.finish(end);
    }
  }

  private publish(events: WatchEvent[]): void {
    for (const w of this.watchers) this.enqueue(w, events);
  }

  /**
   * Buffer events for a watcher and deliver them in a microtask: callbacks never run inside a
   * caller's `watch()` or write, and replayed history and live events stay in one ordered stream.
   */
  private enqueue(w: Watcher, events: WatchEvent[]): void {
    for (const ev of events) if (ev.revision >= w.from && ev.key.startsWith(w.prefix)) w.pending.push(ev);
    if (w.pending.length === 0 || w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      this.flush(w);
    });
  }

  private flush(w: Watcher): void {
    if (w.pending.length === 0 || !this.watchers.has(w)) return;
    const batch = w.pending;
    w.pending = [];
    try {
      w.onEvents(batch);
    } catch (err) {
      w.finish({ reason: 'error', error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  /** Finish queued writes, end every watch with `closed`, release the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining) await this.draining;
    this.endWatches(this.watchers, { reason: 'closed' });
    try {
      await this.disk.close();
    } finally {
      await this.lock.release();
    }
  }
}
