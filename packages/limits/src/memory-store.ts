/**
 * `MemoryCounterStore`: exact in-process counters (`ratelimit.backend: memory`, and the local
 * fallback while Redis is down). Everything runs synchronously inside one call, so each
 * acquire is trivially atomic per bucket; the promises only satisfy the `CounterStore` shape.
 *
 * Layout: one `Entry` per bucket holding a flat number array (window start + counters per
 * dimension) instead of one object per window, because 1M live buckets must stay cheap.
 * Windows roll lazily on access; idle entries (every window ended, no slot held) are removed by
 * an incremental sweep (an unref'd timer visiting a slice of the map per tick), so distinct
 * bucket keys never accumulate. Leaked concurrency slots (a grant never settled nor refreshed)
 * are reclaimed once older than `concurrencyTtlSecs`, like the Redis store's sorted-set pruning;
 * `refresh` restarts the age of the slots of requests still running.
 */
import {
  type AcquireInput,
  type CounterStore,
  type Grant,
  type LimitDim,
  REQUEST_DIMS,
  type RequestDim,
  TOKEN_DIMS,
  type TokenDim,
  type Verdict,
} from './types.js';
import {
  bucketState,
  CONCURRENCY_REFUSAL,
  REQ_WINDOW_SECS,
  requestRefusal,
  TOK_WINDOW_SECS,
  tokenCount,
  tokenRefusal,
  windowStart,
} from './windows.js';

export interface MemoryCounterStoreOptions {
  /** Clock in ms (tests inject a fake one). Default `Date.now`. */
  readonly now?: () => number;
  /** Age after which an unsettled, unrefreshed concurrency slot is reclaimed (default 300 s; 0: never). */
  readonly concurrencyTtlSecs?: number;
  /** Period of the background sweep in ms (default 1000; 0 disables the timer). */
  readonly sweepIntervalMs?: number;
}

// Flat layout of Entry.v: request dim i at [2i] start, [2i+1] count; token dim j at
// [8+3j] start, [9+3j] committed, [10+3j] reserved. A start of -1 = window never opened.
const TOK_BASE = 8;

class Entry {
  readonly v: number[] = [-1, 0, -1, 0, -1, 0, -1, 0, -1, 0, 0, -1, 0, 0];
  /**
   * Grant id -> acquire or last refresh time (ms); Map order = that time's order (a refresh
   * moves the slot to the end), so the oldest come first.
   */
  slots: Map<string, number> | undefined = undefined;
  /** When the longest window touched so far ends (ms): before that the entry is not idle. */
  expiresMs = 0;
}

const resolved = Promise.resolve();

export class MemoryCounterStore implements CounterStore {
  private readonly map = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly ttlMs: number;
  readonly slotTtlMs: number | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private sweepIter: Iterator<[string, Entry]> | undefined;
  private sliceBudget = 10_000;
  // Scratch arrays for bucketState: one acquire at a time, so they are never shared.
  private readonly reqScratch = [0, 0, 0, 0];
  private readonly tokScratch = [0, 0];

  constructor(opts: MemoryCounterStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    // 0 (allowed on this backend, control-plane §1.8): slots are released by this process
    // itself, never reclaimed by age; reclaiming "after 0 s" would drop every slot at once.
    const ttl = opts.concurrencyTtlSecs ?? 300;
    this.ttlMs = ttl > 0 ? ttl * 1000 : Number.POSITIVE_INFINITY;
    this.slotTtlMs = ttl > 0 ? ttl * 1000 : undefined;
    const every = opts.sweepIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweepSlice(), every);
      this.timer.unref();
    }
  }

  /** Number of buckets currently held (tests, metrics). */
  get size(): number {
    return this.map.size;
  }

  acquire(input: AcquireInput): Promise<Verdict> {
    return Promise.resolve(this.acquireSync(input));
  }

  /** The synchronous core of `acquire` (the pod-shared server and benchmarks call it directly). */
  acquireSync(input: AcquireInput): Verdict {
    const nowMs = this.now();
    const nowS = Math.floor(nowMs / 1000);
    const L = input.limits;
    let e = this.map.get(input.key);
    if (e === undefined) {
      e = new Entry();
      this.map.set(input.key, e);
    }
    const v = e.v;

    // 1. Concurrency: prune leaked slots first so an abandoned grant cannot block forever.
    const cap = L.concurrency;
    let inFlight = 0;
    if (cap !== undefined) {
      if (e.slots !== undefined) inFlight = this.reclaim(e.slots, nowMs);
      if (inFlight >= cap) return CONCURRENCY_REFUSAL;
    }

    // 2. Token windows (check only): committed + reserved > limit refuses; 0 allows nothing.
    let endS = 0;
    for (let j = 0; j < 2; j++) {
      const lim = L[TOKEN_DIMS[j] as LimitDim];
      if (lim === undefined) continue;
      const w = TOK_WINDOW_SECS[j] as number;
      const b = TOK_BASE + 3 * j;
      const start = windowStart(nowS, w);
      if (v[b] !== start) {
        v[b] = start;
        v[b + 1] = 0;
        v[b + 2] = 0;
      }
      const used = (v[b + 1] as number) + (v[b + 2] as number);
      if (lim === 0 || used > lim) return tokenRefusal(j, nowMs);
      this.tokScratch[j] = used;
      if (start + w > endS) endS = start + w;
    }

    // 3. Request windows: all checked before any increment, which is the same as incrementing
    // in order and undoing this call's increments on a refusal (nothing else runs between).
    for (let i = 0; i < 4; i++) {
      const lim = L[REQUEST_DIMS[i] as LimitDim];
      if (lim === undefined) continue;
      const w = REQ_WINDOW_SECS[i] as number;
      const start = windowStart(nowS, w);
      if (v[2 * i] !== start) {
        v[2 * i] = start;
        v[2 * i + 1] = 0;
      }
      if ((v[2 * i + 1] as number) + 1 > lim) return requestRefusal(i, nowMs);
      if (start + w > endS) endS = start + w;
    }

    // Admitted: increment, reserve, take the slot, and record what was taken for settlement.
    const requestWindows: { [D in RequestDim]?: number } = {};
    for (let i = 0; i < 4; i++) {
      const d = REQUEST_DIMS[i] as RequestDim;
      if (L[d] === undefined) continue;
      const c = (v[2 * i + 1] as number) + 1;
      v[2 * i + 1] = c;
      this.reqScratch[i] = c;
      requestWindows[d] = v[2 * i] as number;
    }
    const reserve = tokenCount(input.reserveTokens);
    const tokenWindows: { [D in TokenDim]?: number } = {};
    for (let j = 0; j < 2; j++) {
      const d = TOKEN_DIMS[j] as TokenDim;
      if (L[d] === undefined) continue;
      const b = TOK_BASE + 3 * j;
      v[b + 2] = (v[b + 2] as number) + reserve;
      this.tokScratch[j] = (this.tokScratch[j] as number) + reserve;
      tokenWindows[d] = v[b] as number;
    }
    const slot = cap !== undefined;
    if (slot) {
      if (e.slots === undefined) e.slots = new Map();
      e.slots.set(input.id, nowMs);
      inFlight += 1;
    }
    if (endS * 1000 > e.expiresMs) e.expiresMs = endS * 1000;
    const grant: Grant = {
      bucket: input.key,
      id: input.id,
      requestWindows,
      reserved: L.tpm !== undefined || L.tpd !== undefined ? reserve : 0,
      tokenWindows,
      slot,
      state: bucketState(L, this.reqScratch, this.tokScratch, inFlight, nowMs),
    };
    return { ok: true, grant };
  }

  commit(grant: Grant, tokens: number): Promise<void> {
    this.settle(grant, tokenCount(tokens), false);
    return resolved;
  }

  release(grant: Grant, rollback: boolean): Promise<void> {
    this.settle(grant, 0, rollback);
    return resolved;
  }

  /** Commit (tokens > 0 or not) and release share this: drop reservation and slot, then extras. */
  settle(grant: Grant, tokens: number, rollback: boolean): void {
    let e = this.map.get(grant.bucket);
    const tw = grant.tokenWindows;
    const hasTokens = tokens > 0 && (tw.tpm !== undefined || tw.tpd !== undefined);
    if (e === undefined) {
      // Swept while the request ran (every window ended, no slot): only new tokens matter.
      if (!hasTokens) return;
      e = new Entry();
      this.map.set(grant.bucket, e);
    }
    const v = e.v;
    const nowMs = this.now();
    const nowS = Math.floor(nowMs / 1000);
    for (let j = 0; j < 2; j++) {
      const made = tw[TOKEN_DIMS[j] as TokenDim];
      if (made === undefined) continue;
      const b = TOK_BASE + 3 * j;
      // The reservation belongs to the window it was made in; a rolled window took it along.
      if (grant.reserved > 0 && v[b] === made) {
        const r = (v[b + 2] as number) - grant.reserved;
        v[b + 2] = Math.max(r, 0);
      }
      if (tokens > 0) {
        const w = TOK_WINDOW_SECS[j] as number;
        const start = windowStart(nowS, w);
        if (v[b] !== start) {
          v[b] = start;
          v[b + 1] = 0;
          v[b + 2] = 0;
        }
        v[b + 1] = (v[b + 1] as number) + tokens;
        if ((start + w) * 1000 > e.expiresMs) e.expiresMs = (start + w) * 1000;
      }
    }
    if (rollback) {
      const rw = grant.requestWindows;
      for (let i = 0; i < 4; i++) {
        const made = rw[REQUEST_DIMS[i] as RequestDim];
        // Only a still-current window is decremented: a new window never counted this request.
        if (made !== undefined && v[2 * i] === made && (v[2 * i + 1] as number) > 0) {
          v[2 * i + 1] = (v[2 * i + 1] as number) - 1;
        }
      }
    }
    if (grant.slot && e.slots !== undefined) e.slots.delete(grant.id);
  }

  refresh(grants: readonly Grant[]): Promise<void> {
    const nowMs = this.now();
    const oldest = nowMs - this.ttlMs;
    for (const g of grants) {
      if (!g.slot) continue;
      const slots = this.map.get(g.bucket)?.slots;
      const at = slots?.get(g.id);
      if (slots === undefined || at === undefined) continue;
      // Re-inserted, so the Map stays in age order for `reclaim`. A slot already past the TTL
      // counts as reclaimed (as it would be by the next acquire): it is not revived.
      slots.delete(g.id);
      if (at > oldest) slots.set(g.id, nowMs);
    }
    return resolved;
  }

  /** Drops slots older than the TTL (oldest first) and returns how many remain. */
  private reclaim(slots: Map<string, number>, nowMs: number): number {
    const limit = nowMs - this.ttlMs;
    for (const [id, at] of slots) {
      if (at > limit) break;
      slots.delete(id);
    }
    return slots.size;
  }

  private idle(e: Entry, nowMs: number): boolean {
    if (e.expiresMs > nowMs) return false;
    return e.slots === undefined || this.reclaim(e.slots, nowMs) === 0;
  }

  /**
   * One sweep step: visits about a tenth of the map (at least 10k entries) from where the
   * last step stopped, so the whole map is covered every ~10 ticks at a bounded cost per tick
   * (1M entries: ~100k visits, a few ms, per tick).
   */
  sweepSlice(): void {
    const nowMs = this.now();
    if (this.sweepIter === undefined) {
      // Sized at the start of a pass, so a pass takes about ten steps even while it deletes.
      this.sweepIter = this.map.entries();
      this.sliceBudget = Math.max(10_000, Math.ceil(this.map.size / 10));
    }
    let budget = this.sliceBudget;
    while (budget-- > 0) {
      const n = this.sweepIter.next();
      if (n.done === true) {
        this.sweepIter = undefined;
        return;
      }
      const [key, e] = n.value;
      if (this.idle(e, nowMs)) this.map.delete(key);
    }
  }

  /** Full sweep (tests; the timer uses `sweepSlice`). */
  sweep(): void {
    const nowMs = this.now();
    for (const [key, e] of this.map) if (this.idle(e, nowMs)) this.map.delete(key);
  }

  close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.map.clear();
    return resolved;
  }
}
