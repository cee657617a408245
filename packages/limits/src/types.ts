/**
 * The rate-limit vocabulary shared by the planner, the counter stores and the gateway: a
 * bucket (one counter set with its limits), a grant (what one acquire took from one bucket),
 * the verdict of an acquire, and the counter-store interface every backend implements (in
 * process, Redis, and the pod-shared store behind node:cluster workers).
 *
 * Semantics (data-plane §9, decisions 12 and OP-9/OP-10):
 * - Fixed windows aligned to the Unix epoch: `window_start = now - (now mod W)`, W = 1 s (rps),
 *   60 s (rpm, tpm), 3600 s (rph), 86400 s (rpd, tpd). Redis uses the server clock.
 * - Acquire, atomic per bucket, in this order: concurrency (in flight >= cap -> reject, no
 *   Retry-After); token windows (committed + reserved > limit -> reject); request windows
 *   rps -> rpm -> rph -> rpd (count + 1 > limit -> reject, undoing this call's increments);
 *   then take a concurrency slot and reserve the token estimate. A limit of 0 allows nothing.
 * - Commit (after the response): tokens are added to the current tpm/tpd windows, the
 *   reservation is dropped, the slot freed. While the response runs its slot is refreshed, so
 *   only a slot whose holder died (never settled, no longer refreshed) ages out after the TTL. Release (no response): slot and reservation only,
 *   plus the request counts when the acquire is rolled back (a later layer rejected).
 * - Retry-After = whole seconds left in the offending window, minimum 1.
 */

export const LIMIT_DIMS = ['rps', 'rpm', 'rph', 'rpd', 'tpm', 'tpd', 'concurrency'] as const;
export type LimitDim = (typeof LIMIT_DIMS)[number];
export const REQUEST_DIMS = ['rps', 'rpm', 'rph', 'rpd'] as const;
export type RequestDim = (typeof REQUEST_DIMS)[number];
export const TOKEN_DIMS = ['tpm', 'tpd'] as const;
export type TokenDim = (typeof TOKEN_DIMS)[number];

/** Window length in seconds of each windowed dimension. */
export const WINDOW_SECS: Readonly<Record<RequestDim | TokenDim, number>> = {
  rps: 1,
  rpm: 60,
  rph: 3600,
  rpd: 86_400,
  tpm: 60,
  tpd: 86_400,
};

/** A RateLimit object (core's `RateLimit`): an absent dimension is unlimited. */
export type Limits = { readonly [D in LimitDim]?: number | undefined };

/** Which layer of the request gate a bucket belongs to (metric label `layer`). */
export type Layer = 'api_key' | 'model' | 'mcp' | 'policy';

export interface PolicyRef {
  readonly id: string;
  readonly name: string;
}

/** One counter set a request must pass. */
export interface Bucket {
  /** Counter identity: `<api_key_id>`, `model:<name>`, `policy:...` (data-plane §9.4-9.5). */
  readonly key: string;
  readonly limits: Limits;
  readonly layer: Layer;
  /** Set for policy buckets (429 `error.policy`, metric label `policy_id`). */
  readonly policy?: PolicyRef | undefined;
}

/** What one acquire took from one bucket; handed back to `commit` / `release`. */
export interface Grant {
  readonly bucket: string;
  /** Unique per acquire (the concurrency slot's member id). */
  readonly id: string;
  /** Request windows incremented, by dimension: their window starts (unix s), for rollback. */
  readonly requestWindows: { readonly [D in RequestDim]?: number };
  /** Tokens reserved against tpm/tpd, and the window starts they were reserved in. */
  readonly reserved: number;
  readonly tokenWindows: { readonly [D in TokenDim]?: number };
  /** Whether a concurrency slot was taken. */
  readonly slot: boolean;
  /** The bucket's state right after this acquire (response headers). */
  readonly state: BucketState;
  /** Opaque to callers: which backing store issued the grant (fail-open wrappers). */
  readonly origin?: string;
}

/** One dimension's view after an acquire: what `x-ratelimit-*` headers are made from. */
export interface DimState {
  readonly dim: LimitDim;
  readonly limit: number;
  /** Never negative. */
  readonly remaining: number;
  /** Seconds until the window resets (0 for concurrency). */
  readonly resetSecs: number;
}

export interface BucketState {
  /** The request dimension with the fewest remaining (ties: the shorter window). */
  readonly requests?: DimState | undefined;
  /** The token dimension with the fewest remaining. */
  readonly tokens?: DimState | undefined;
  readonly concurrent?: DimState | undefined;
}

export type RejectReason = 'requests' | 'tokens' | 'concurrency';

export type Verdict =
  | { readonly ok: true; readonly grant: Grant }
  | {
      readonly ok: false;
      readonly reason: RejectReason;
      /** The dimension that refused. */
      readonly dim: LimitDim;
      /** Undefined for concurrency (no Retry-After). */
      readonly retryAfterSecs: number | undefined;
    };

export interface AcquireInput {
  readonly key: string;
  readonly limits: Limits;
  /** Unique id of this acquire (a UUID); becomes `Grant.id`. */
  readonly id: string;
  /** Token estimate held against tpm/tpd until commit (0 when unknown). */
  readonly reserveTokens: number;
}

/**
 * A backend of counters. Every method is atomic per bucket. Implementations: memory (this
 * process), Redis (cluster-wide, server clock), the pod-shared store (node:cluster workers ask
 * the primary), and the fail-open wrapper (Redis, falling back to memory while Redis is down).
 */
export interface CounterStore {
  acquire(input: AcquireInput): Promise<Verdict>;
  /** After a response: add `tokens` to the current tpm/tpd windows, drop the reservation, free the slot. */
  commit(grant: Grant, tokens: number): Promise<void>;
  /** Without a response: free the slot and the reservation; `rollback` also undoes the request counts. */
  release(grant: Grant, rollback: boolean): Promise<void>;
  /**
   * Undoes an acquire whose outcome is unknown (it timed out or lost its connection after it
   * was sent, so it may have run): frees the slot and the token reservation it took under
   * `input.id`, if it took any. Idempotent, a no-op for an acquire that never ran. Optional:
   * only stores whose acquire can outlive the caller's wait (Redis) implement it.
   */
  abandon?(input: AcquireInput): Promise<void>;
  /**
   * Marks the concurrency slots of these grants as still held: their requests are running, so
   * the slots are not leaked ones. A slot's age, against which `slotTtlMs` is measured, starts
   * again from now (Redis: the server clock). Grants without a slot, settled grants and slots
   * already reclaimed are ignored: a reclaimed slot is not taken back (its place may have been
   * given to another request meanwhile). One call may cover many buckets.
   */
  refresh(grants: readonly Grant[]): Promise<void>;
  /**
   * Age (ms) after which a slot that was neither settled nor refreshed is reclaimed
   * (`concurrency_ttl_secs`); undefined when slots are never reclaimed by age. Whoever holds
   * slots refreshes them well within this (the `Limiter` does, every third of it).
   */
  readonly slotTtlMs: number | undefined;
  close(): Promise<void>;
}
