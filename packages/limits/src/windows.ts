/**
 * Window arithmetic and the header view (`BucketState`) shared by every counter store, so the
 * memory store and the Redis store (whose script only returns raw counts plus the server clock)
 * describe a bucket identically.
 *
 * Windows are fixed and aligned to the Unix epoch in whole seconds (data-plane §9.2):
 * `start = now - (now mod W)`. "Seconds left" is measured from the millisecond clock and
 * rounded up, so it is never 0 while the window is open (Retry-After minimum 1).
 */
import {
  type BucketState,
  type DimState,
  type LimitDim,
  type Limits,
  REQUEST_DIMS,
  type RejectReason,
  TOKEN_DIMS,
} from './types.js';

/** Window lengths by index: request dims 0..3 (rps, rpm, rph, rpd), token dims 0..1 (tpm, tpd). */
export const REQ_WINDOW_SECS: readonly number[] = [1, 60, 3600, 86_400];
export const TOK_WINDOW_SECS: readonly number[] = [60, 86_400];

/** Start (unix seconds) of the window of length `w` seconds containing `nowS`. */
export function windowStart(nowS: number, w: number): number {
  return nowS - (nowS % w);
}

/** Whole seconds (rounded up, at least 1) until the window of length `w` containing `nowMs` ends. */
export function secsLeft(nowMs: number, w: number): number {
  const nowS = Math.floor(nowMs / 1000);
  const endMs = (windowStart(nowS, w) + w) * 1000;
  const left = Math.ceil((endMs - nowMs) / 1000);
  return Math.max(left, 1);
}

/** A refusal as the stores report it, before it becomes a `Verdict`. */
export interface Refusal {
  readonly ok: false;
  readonly reason: RejectReason;
  readonly dim: LimitDim;
  readonly retryAfterSecs: number | undefined;
}

/**
 * Refusals are immutable and carry no per-call data except Retry-After, so the concurrency
 * refusal (which has none) is one shared object: a refused request allocates nothing for it.
 */
export const CONCURRENCY_REFUSAL: Refusal = Object.freeze({
  ok: false,
  reason: 'concurrency',
  dim: 'concurrency',
  retryAfterSecs: undefined,
});

export function requestRefusal(i: number, nowMs: number): Refusal {
  const dim = REQUEST_DIMS[i] as LimitDim;
  return {
    ok: false,
    reason: 'requests',
    dim,
    retryAfterSecs: secsLeft(nowMs, REQ_WINDOW_SECS[i] as number),
  };
}

export function tokenRefusal(j: number, nowMs: number): Refusal {
  const dim = TOKEN_DIMS[j] as LimitDim;
  return { ok: false, reason: 'tokens', dim, retryAfterSecs: secsLeft(nowMs, TOK_WINDOW_SECS[j] as number) };
}

/** Empty state for buckets without configured dimensions (shared, frozen). */
export const EMPTY_STATE: BucketState = Object.freeze({});

/**
 * Among the configured `dims` (windows `windowSecs`), the one with the fewest remaining after
 * `counts`; strict `<` keeps the first (shorter) window on ties, as the type documents.
 */
function tightestDim(
  limits: Limits,
  dims: readonly LimitDim[],
  counts: ArrayLike<number>,
  windowSecs: readonly number[],
  nowMs: number,
): DimState | undefined {
  let best = Number.POSITIVE_INFINITY;
  let bestI = -1;
  for (let i = 0; i < dims.length; i++) {
    const lim = limits[dims[i] as LimitDim];
    if (lim === undefined) continue;
    const rem = lim - (counts[i] as number);
    if (rem < best) {
      best = rem;
      bestI = i;
    }
  }
  if (bestI < 0) return undefined;
  const dim = dims[bestI] as LimitDim;
  return {
    dim,
    limit: limits[dim] as number,
    remaining: Math.max(best, 0),
    resetSecs: secsLeft(nowMs, windowSecs[bestI] as number),
  };
}

/**
 * The header view of one bucket right after an acquire.
 * `req[i]`: request count in the current window of request dim i (this acquire included);
 * `tok[j]`: committed + reserved tokens of token dim j (this reservation included);
 * `inFlight`: slots held after this acquire. Only configured dimensions are looked at.
 */
export function bucketState(
  limits: Limits,
  req: ArrayLike<number>,
  tok: ArrayLike<number>,
  inFlight: number,
  nowMs: number,
): BucketState {
  const requests = tightestDim(limits, REQUEST_DIMS, req, REQ_WINDOW_SECS, nowMs);
  const tokens = tightestDim(limits, TOKEN_DIMS, tok, TOK_WINDOW_SECS, nowMs);
  let concurrent: DimState | undefined;
  const cap = limits.concurrency;
  if (cap !== undefined) {
    const rem = cap - inFlight;
    concurrent = { dim: 'concurrency', limit: cap, remaining: Math.max(rem, 0), resetSecs: 0 };
  }
  if (requests === undefined && tokens === undefined && concurrent === undefined) return EMPTY_STATE;
  return { requests, tokens, concurrent };
}

/** Token amounts as counters take them: whole, non-negative, NaN/Infinity-proof (0). */
export function tokenCount(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.floor(x) : 0;
}

/** Limit value of a dimension as the Lua scripts expect it: -1 = not configured. */
export function limitArg(v: number | undefined): string {
  return v === undefined ? '-1' : String(v);
}
