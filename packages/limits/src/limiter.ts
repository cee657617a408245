/**
 * `Limiter`: passes a request through its whole bucket list all-or-nothing (data-plane §9.4).
 * The per-bucket acquires run in parallel (in order, without promises, on a synchronous store
 * such as the memory one); when any bucket refuses, every grant that was taken
 * is released with rollback, so a later layer's refusal leaves no trace in earlier layers'
 * counters (decisions.md OP-9), and the refusal of the earliest bucket in list order is
 * reported (the layer order the planner produced: key, model, policies).
 *
 * An `Admission` holds the grants until the response is done: `commit(tokens)` or
 * `release(rollback)` settles each grant exactly once (later calls are no-ops), and
 * `merge(other)` folds a routing attempt's admission into the request's one so the winning
 * target's buckets are committed with the request (§9.4 "per routing attempt").
 *
 * While an admission holds concurrency slots, they are refreshed (`CounterStore.refresh`) so
 * that a stream or a session longer than the slot TTL keeps its slot: only a process that died
 * leaves slots to age out. One `SlotKeeper` per store (shared by every `Limiter` on it) holds
 * the admissions with slots in a Set and runs one unref'd timer, every third of the TTL and
 * only while some slot is held, refreshing every held slot in one batch. Requests without a
 * concurrency limit cost nothing; with one, a Set add and delete.
 *
 * Store errors never reach the request path: an acquire that throws is reported to `onError`
 * and, by default, the bucket is passed (fail open, as the gateway does on a store outage);
 * commit/release errors are reported and swallowed.
 */
import { randomUUID } from 'node:crypto';
import { timerMs } from '@aisix/core';
import type {
  AcquireInput,
  Bucket,
  BucketState,
  CounterStore,
  DimState,
  Grant,
  LimitDim,
  RejectReason,
  Verdict,
} from './types.js';
import { EMPTY_STATE, tokenCount } from './windows.js';

export type LimiterOp = 'acquire' | 'commit' | 'release' | 'refresh';

export interface LimiterOptions {
  /** Grant id source; default a per-process random prefix plus a counter (unique cluster-wide). */
  readonly newId?: () => string;
  /** Store failures (the bucket key names where). */
  readonly onError?: (op: LimiterOp, err: unknown, bucket: string) => void;
  /** Pass a bucket whose store acquire threw (default true); false rethrows after rolling back. */
  readonly failOpen?: boolean;
}

export interface LimitRefusal {
  readonly ok: false;
  /** The earliest bucket in list order that refused. */
  readonly bucket: Bucket;
  readonly reason: RejectReason;
  readonly dim: LimitDim;
  /** The configured limit of the refusing dimension (error messages). */
  readonly limit: number;
  /** Undefined for concurrency. */
  readonly retryAfterSecs: number | undefined;
}

export type LimitResult = { readonly ok: true; readonly admission: Admission } | LimitRefusal;

/**
 * A store that can answer synchronously (the memory store). The limiter then skips the
 * promise machinery per bucket: one request through four buckets costs a few microseconds
 * instead of tens.
 */
export interface SyncCounterStore extends CounterStore {
  acquireSync(input: AcquireInput): Verdict;
  settle(grant: Grant, tokens: number, rollback: boolean): void;
}

function isSync(s: CounterStore): s is SyncCounterStore {
  const x = s as Partial<SyncCounterStore>;
  return typeof x.acquireSync === 'function' && typeof x.settle === 'function';
}

const RESOLVED = Promise.resolve();

function tighter(a: DimState | undefined, b: DimState | undefined): DimState | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.remaining < a.remaining ? b : a;
}

/** Per header family, the state with the fewest remaining of two views (decisions.md OP-10). */
export function tightestState(a: BucketState, b: BucketState): BucketState {
  return {
    requests: tighter(a.requests, b.requests),
    tokens: tighter(a.tokens, b.tokens),
    concurrent: tighter(a.concurrent, b.concurrent),
  };
}

function holdsSlot(grants: readonly Grant[]): boolean {
  for (const g of grants) if (g.slot) return true;
  return false;
}

type OnError = (op: LimiterOp, err: unknown, bucket: string) => void;

/**
 * Refreshes the slots of the unsettled admissions of one store (see the header). The timer
 * stops at the first tick that finds nothing held, so sporadic requests do not start and stop
 * a timer each.
 */
class SlotKeeper {
  private readonly held = new Set<Admission>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Where refresh failures go: the first `onError` of a limiter on this store. */
  onError: OnError | undefined;

  constructor(
    private readonly store: CounterStore,
    private readonly everyMs: number,
  ) {}

  add(a: Admission): void {
    this.held.add(a);
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  delete(a: Admission): void {
    this.held.delete(a);
  }

  private tick(): void {
    if (this.held.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    // A refresh still waiting for its answer covers these slots too.
    if (this.busy) return;
    const grants: Grant[] = [];
    for (const a of this.held) for (const g of a.grants) if (g.slot) grants.push(g);
    if (grants.length === 0) return;
    this.busy = true;
    this.store
      .refresh(grants)
      .catch((err: unknown) => this.onError?.('refresh', err, (grants[0] as Grant).bucket))
      .finally(() => {
        this.busy = false;
      });
  }
}

/** One keeper per store, whatever the number of limiters on it. */
const keepers = new WeakMap<CounterStore, SlotKeeper>();

function keeperOf(store: CounterStore, onError: OnError | undefined): SlotKeeper | undefined {
  const ttl = store.slotTtlMs;
  if (ttl === undefined || !(ttl > 0) || typeof store.refresh !== 'function') return undefined;
  let k = keepers.get(store);
  if (k === undefined) {
    // Capped to what a timer can wait (a longer delay would fire every millisecond instead).
    k = new SlotKeeper(store, timerMs(Math.max(1, Math.floor(ttl / 3))));
    keepers.set(store, k);
  }
  k.onError ??= onError;
  return k;
}

/** What a request holds from the limiter between admission and the end of its response. */
export class Admission {
  private settled = false;
  private view: BucketState | undefined;
  /** Registered with the slot keeper (some grant holds a slot). */
  private kept = false;

  /** @internal constructed by `Limiter` */
  constructor(
    private readonly limiter: Limiter,
    private readonly held: Grant[],
  ) {
    this.keep();
  }

  private keep(): void {
    const k = this.limiter.keeper;
    if (k === undefined || this.kept || !holdsSlot(this.held)) return;
    this.kept = true;
    k.add(this);
  }

  private unkeep(): void {
    if (!this.kept) return;
    this.kept = false;
    this.limiter.keeper?.delete(this);
  }

  get grants(): readonly Grant[] {
    return this.held;
  }

  /** True once committed, released or merged into another admission. */
  get done(): boolean {
    return this.settled;
  }

  /**
   * The tightest view across the grants, per header family (decisions.md OP-10): the state
   * with the fewest remaining for requests, tokens and concurrency separately.
   */
  get headers(): BucketState {
    if (this.view !== undefined) return this.view;
    if (this.held.length === 1) {
      this.view = (this.held[0] as Grant).state;
      return this.view;
    }
    let requests: DimState | undefined;
    let tokens: DimState | undefined;
    let concurrent: DimState | undefined;
    for (const g of this.held) {
      requests = tighter(requests, g.state.requests);
      tokens = tighter(tokens, g.state.tokens);
      concurrent = tighter(concurrent, g.state.concurrent);
    }
    this.view =
      requests === undefined && tokens === undefined && concurrent === undefined
        ? EMPTY_STATE
        : { requests, tokens, concurrent };
    return this.view;
  }

  /** After a response: `tokens` go to every bucket's token windows; slots are freed. */
  commit(tokens: number): Promise<void> {
    if (this.settled) return RESOLVED;
    this.settled = true;
    this.unkeep();
    return this.limiter.settleAll(this.held, tokens, false, true);
  }

  /** Without a response: frees slots and reservations; `rollback` also undoes request counts. */
  release(rollback: boolean): Promise<void> {
    if (this.settled) return RESOLVED;
    this.settled = true;
    this.unkeep();
    return this.limiter.settleAll(this.held, 0, rollback, false);
  }

  /**
   * Takes over `other`'s grants (a routing attempt that won): they are settled together with
   * this admission's and `other` becomes a no-op. When this admission is already settled,
   * `other` is released instead, so its slots cannot leak.
   */
  merge(other: Admission): void {
    if (other === this || other.settled) return;
    if (this.settled) {
      void other.release(false);
      return;
    }
    other.settled = true;
    other.unkeep();
    for (const g of other.held) this.held.push(g);
    this.view = undefined;
    this.keep();
  }
}

let idPrefix: string | undefined;
let idSeq = 0;

/** Process-unique prefix + counter: unique across replicas (sorted-set members) and cheap. */
function defaultId(): string {
  if (idPrefix === undefined) idPrefix = `${randomUUID()}:`;
  idSeq += 1;
  return idPrefix + idSeq.toString(36);
}

function refusalOf(b: Bucket, v: Extract<Verdict, { ok: false }>): LimitRefusal {
  return {
    ok: false,
    bucket: b,
    reason: v.reason,
    dim: v.dim,
    limit: b.limits[v.dim as LimitDim] ?? 0,
    retryAfterSecs: v.retryAfterSecs,
  };
}

export class Limiter {
  private readonly newId: () => string;
  private readonly onError: OnError | undefined;
  private readonly failOpen: boolean;
  private readonly sync: SyncCounterStore | undefined;
  /** @internal refreshes held slots; undefined when the store never reclaims slots by age. */
  readonly keeper: SlotKeeper | undefined;

  constructor(
    readonly store: CounterStore,
    opts: LimiterOptions = {},
  ) {
    this.newId = opts.newId ?? defaultId;
    this.onError = opts.onError;
    this.failOpen = opts.failOpen ?? true;
    this.sync = isSync(store) ? store : undefined;
    this.keeper = keeperOf(store, opts.onError);
  }

  /** Acquires every bucket or none. `reserveTokens` is held against each bucket's tpm/tpd. */
  acquire(buckets: readonly Bucket[], reserveTokens = 0): Promise<LimitResult> {
    try {
      const now = this.acquireNow(buckets, reserveTokens);
      return now !== undefined ? Promise.resolve(now) : this.acquireAsync(buckets, reserveTokens);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `acquire` answered at once when the store is synchronous (the memory store), without a
   * promise; undefined when the store needs a round trip (then call `acquire`).
   */
  acquireNow(buckets: readonly Bucket[], reserveTokens = 0): LimitResult | undefined {
    if (this.sync === undefined) return undefined;
    return this.acquireSync(this.sync, buckets, reserveTokens);
  }

  /** In order, stopping at the first refusal (which is then the earliest); undo what was taken. */
  private acquireSync(
    store: SyncCounterStore,
    buckets: readonly Bucket[],
    reserveTokens: number,
  ): LimitResult {
    const grants: Grant[] = [];
    for (const b of buckets) {
      const v = store.acquireSync({ key: b.key, limits: b.limits, id: this.newId(), reserveTokens });
      if (v.ok) {
        grants.push(v.grant);
        continue;
      }
      for (const g of grants) store.settle(g, 0, true);
      return refusalOf(b, v);
    }
    return { ok: true, admission: new Admission(this, grants) };
  }

  private async acquireAsync(buckets: readonly Bucket[], reserveTokens: number): Promise<LimitResult> {
    const n = buckets.length;
    if (n === 0) return { ok: true, admission: new Admission(this, []) };
    if (n === 1) return this.acquireOne(buckets[0] as Bucket, reserveTokens);
    const pending = new Array<Promise<Grant | LimitRefusal | undefined>>(n);
    for (let i = 0; i < n; i++) pending[i] = this.take(buckets[i] as Bucket, reserveTokens);
    const results = await Promise.allSettled(pending);
    const grants: Grant[] = [];
    let refusal: LimitRefusal | undefined;
    let failure: unknown;
    let failed = false;
    for (const r of results) {
      if (r.status === 'rejected') {
        if (!failed) failure = r.reason;
        failed = true;
      } else if (r.value === undefined) {
        // Failed open: the bucket passes without a grant.
      } else if ('ok' in r.value) {
        if (refusal === undefined) refusal = r.value;
      } else grants.push(r.value);
    }
    if (refusal !== undefined || failed) {
      // OP-9: nothing of this request stays counted anywhere.
      await this.settleAll(grants, 0, true, false);
      if (refusal !== undefined) return refusal;
      throw failure;
    }
    return { ok: true, admission: new Admission(this, grants) };
  }

  /** Merges a routing attempt's admission into the request's (same as `into.merge(from)`). */
  extend(into: Admission, from: Admission): void {
    into.merge(from);
  }

  private async acquireOne(b: Bucket, reserveTokens: number): Promise<LimitResult> {
    const r = await this.take(b, reserveTokens);
    if (r === undefined) return { ok: true, admission: new Admission(this, []) };
    if ('ok' in r) return r;
    return { ok: true, admission: new Admission(this, [r]) };
  }

  /** One bucket: its grant, its refusal, or undefined when the store failed and we fail open. */
  private async take(b: Bucket, reserveTokens: number): Promise<Grant | LimitRefusal | undefined> {
    try {
      const v = await this.store.acquire({
        key: b.key,
        limits: b.limits,
        id: this.newId(),
        reserveTokens,
      });
      if (v.ok) return v.grant;
      return refusalOf(b, v);
    } catch (err) {
      this.onError?.('acquire', err, b.key);
      if (this.failOpen) return undefined;
      throw err;
    }
  }

  /** @internal settles grants (commit when `isCommit`), reporting and swallowing store errors. */
  settleAll(grants: readonly Grant[], tokens: number, rollback: boolean, isCommit: boolean): Promise<void> {
    if (grants.length === 0) return RESOLVED;
    const sync = this.sync;
    if (sync !== undefined) {
      for (const g of grants) sync.settle(g, isCommit ? tokenCount(tokens) : 0, rollback);
      return RESOLVED;
    }
    return this.settleAsync(grants, tokens, rollback, isCommit);
  }

  private async settleAsync(
    grants: readonly Grant[],
    tokens: number,
    rollback: boolean,
    isCommit: boolean,
  ): Promise<void> {
    const op: LimiterOp = isCommit ? 'commit' : 'release';
    const one = async (g: Grant): Promise<void> => {
      try {
        if (isCommit) await this.store.commit(g, tokens);
        else await this.store.release(g, rollback);
      } catch (err) {
        this.onError?.(op, err, g.bucket);
      }
    };
    if (grants.length === 1) return one(grants[0] as Grant);
    await Promise.all(grants.map(one));
  }
}
