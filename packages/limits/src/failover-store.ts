/**
 * `FailoverCounterStore`: the Redis backend's fail-open behaviour (data-plane §9.7). Calls go
 * to the primary (Redis); when one fails it is served by the fallback (memory) instead and the
 * store switches to "down": `onFailure` fires once per outage (one log line), `onOpFailure`
 * once per failed call (a metric), and later calls go straight to the fallback without paying
 * a Redis timeout each. A background probe (unref'd timer) switches back once Redis answers.
 *
 * Grants remember where they came from (a WeakSet of fallback-issued grants, so primary grants
 * pass through without a copy): commit/release/refresh always reach the store that issued the
 * grant.
 * Settling a primary grant while the primary is down is still attempted; when it fails, the
 * grant's slot and token reservation are released on the primary once it answers again, before
 * calls go back to it. Otherwise a Redis that was out of reach (not restarted) would keep the
 * slots of requests that ended meanwhile until their TTL, locking a concurrency-limited key
 * out for minutes. The replay is a plain release: the tokens of a failed commit are not added
 * (the commit may have run before its reply was lost; counting them twice would refuse callers
 * for Redis's sake, the fail-open rule says pass).
 *
 * A failed primary acquire is replayed too, as an `abandon` (when the primary has one): a
 * timed-out script can still run on Redis after the caller gave up (a paused server runs it
 * when it resumes), taking a slot and a reservation nobody will settle. The grant id is the
 * caller's, so the primary can undo it by id without the lost reply; for an acquire that never
 * ran the undo is a no-op.
 *
 * The probe is told which bucket's call switched the store down: on a Redis Cluster only the
 * node owning that bucket's hash slot may be down, and a probe answered by any other node would
 * declare recovery while the failed slots still refuse (switching back and forth, one log line
 * per switch).
 */
import type { AcquireInput, CounterStore, Grant, Verdict } from './types.js';

export type FailoverOp = 'acquire' | 'commit' | 'release' | 'refresh';

export interface FailoverOptions {
  readonly primary: CounterStore;
  readonly fallback: CounterStore;
  /** Once per outage: the first failure that switched the store down. */
  readonly onFailure?: (op: FailoverOp, err: unknown) => void;
  /** Every failed primary call (including the first), for a per-op failure metric. */
  readonly onOpFailure?: (op: FailoverOp, err: unknown) => void;
  /** The probe succeeded and calls go to the primary again. */
  readonly onRecover?: () => void;
  /**
   * Resolves when the primary is reachable. `bucket` is the bucket of the call whose failure
   * switched the store down (probe where it failed: the node of its hash slot on a cluster).
   */
  readonly probe: (bucket: string | undefined) => Promise<void>;
  /** Probe period while down (default 1000 ms). */
  readonly probeIntervalMs?: number;
}

/** Work for the primary once it answers: release a settled grant, or undo an acquire. */
type Unsettled = { readonly grant: Grant } | { readonly acquire: AcquireInput };

/** Failed settles kept for the replay; beyond that, their slot TTL and window expiry reclaim them. */
const MAX_UNSETTLED = 10_000;
const REPLAY_BATCH = 64;

export class FailoverCounterStore implements CounterStore {
  private down = false;
  /**
   * Primary grants whose commit/release failed and that hold a slot or a reservation, and
   * primary acquires that failed (they may have run) and would take one.
   */
  private unsettled: Unsettled[] = [];
  /** The bucket of the call that switched the store down: what the probe checks. */
  private failedBucket: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private readonly fromFallback = new WeakSet<Grant>();
  /** Failed primary calls by operation since construction. */
  readonly failures: Record<FailoverOp, number> = { acquire: 0, commit: 0, release: 0, refresh: 0 };
  /** The shorter of the two stores' slot TTLs (both are built from `concurrency_ttl_secs`). */
  readonly slotTtlMs: number | undefined;

  constructor(private readonly opts: FailoverOptions) {
    const a = opts.primary.slotTtlMs;
    const b = opts.fallback.slotTtlMs;
    this.slotTtlMs = a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /** True while calls are served by the fallback. */
  get isDown(): boolean {
    return this.down;
  }

  async acquire(input: AcquireInput): Promise<Verdict> {
    if (!this.down) {
      try {
        return await this.opts.primary.acquire(input);
      } catch (err) {
        const limits = input.limits;
        const holds =
          limits.concurrency !== undefined ||
          (input.reserveTokens > 0 && (limits.tpm !== undefined || limits.tpd !== undefined));
        if (holds && this.opts.primary.abandon !== undefined && this.unsettled.length < MAX_UNSETTLED)
          this.unsettled.push({ acquire: input });
        this.failed('acquire', err, input.key);
      }
    }
    const v = await this.opts.fallback.acquire(input);
    if (v.ok) this.fromFallback.add(v.grant);
    return v;
  }

  commit(grant: Grant, tokens: number): Promise<void> {
    if (this.fromFallback.has(grant)) return this.opts.fallback.commit(grant, tokens);
    return this.onPrimary('commit', grant, () => this.opts.primary.commit(grant, tokens));
  }

  release(grant: Grant, rollback: boolean): Promise<void> {
    if (this.fromFallback.has(grant)) return this.opts.fallback.release(grant, rollback);
    return this.onPrimary('release', grant, () => this.opts.primary.release(grant, rollback));
  }

  /**
   * Each grant is refreshed where it was issued. Primary grants are skipped while the primary
   * is down (a call would only wait for its timeout); the first refresh after the recovery
   * reaches them, unless the outage outlasted their TTL.
   */
  async refresh(grants: readonly Grant[]): Promise<void> {
    const local: Grant[] = [];
    const remote: Grant[] = [];
    for (const g of grants) {
      if (!g.slot) continue;
      if (this.fromFallback.has(g)) local.push(g);
      else if (!this.down) remote.push(g);
    }
    const calls: Promise<void>[] = [];
    if (local.length > 0) calls.push(this.opts.fallback.refresh(local));
    if (remote.length > 0) {
      const first = remote[0] as Grant;
      calls.push(
        this.opts.primary.refresh(remote).catch((err: unknown) => this.failed('refresh', err, first.bucket)),
      );
    }
    await Promise.all(calls);
  }

  private async onPrimary(op: FailoverOp, grant: Grant, call: () => Promise<void>): Promise<void> {
    const wasDown = this.down;
    try {
      await call();
    } catch (err) {
      if ((grant.slot || grant.reserved > 0) && this.unsettled.length < MAX_UNSETTLED)
        this.unsettled.push({ grant });
      // While down the failure is expected and already reported once; stay quiet.
      if (!wasDown) this.failed(op, err, grant.bucket);
    }
  }

  /**
   * Releases the grants whose settle failed and undoes the acquires that failed; throws
   * (keeping the rest) if the primary fails.
   */
  private async replayUnsettled(): Promise<void> {
    const primary = this.opts.primary;
    while (this.unsettled.length > 0 && !this.closed) {
      const batch = this.unsettled.slice(0, REPLAY_BATCH);
      await Promise.all(
        batch.map((u) =>
          'grant' in u
            ? primary.release(u.grant, false)
            : (primary.abandon?.(u.acquire) ?? Promise.resolve()),
        ),
      );
      // Settles that failed meanwhile were appended: drop only the batch just released.
      this.unsettled = this.unsettled.slice(batch.length);
    }
  }

  private failed(op: FailoverOp, err: unknown, bucket: string): void {
    this.failures[op] += 1;
    this.opts.onOpFailure?.(op, err);
    if (this.down || this.closed) return;
    this.down = true;
    this.failedBucket = bucket;
    this.opts.onFailure?.(op, err);
    this.timer = setInterval(() => void this.probeOnce(), this.opts.probeIntervalMs ?? 1000);
    this.timer.unref();
  }

  private async probeOnce(): Promise<void> {
    if (this.probing || !this.down) return;
    this.probing = true;
    try {
      await this.opts.probe(this.failedBucket);
      if (this.closed || !this.down) return;
      await this.replayUnsettled();
      this.down = false;
      if (this.timer !== undefined) clearInterval(this.timer);
      this.timer = undefined;
      this.opts.onRecover?.();
    } catch {
      // Still down: the next tick tries again.
    } finally {
      this.probing = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([this.opts.primary.close(), this.opts.fallback.close()]);
  }
}
