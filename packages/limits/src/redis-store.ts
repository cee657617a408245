/**
 * `RedisCounterStore`: cluster-wide counters (`ratelimit.backend: redis`). One atomic Lua
 * script per bucket and operation (redis-lua.ts), windows taken from the Redis server clock
 * so all replicas agree on window boundaries. Same semantics and same `BucketState` as the
 * memory store: the scripts return raw counts and the server time, and the state is built by
 * the shared `bucketState`.
 *
 * Keys (data-plane §9.7): `<prefix>rl:{<bucket>}:<dim>:<window_start>` with TTL W + 5 s,
 * reservations `<prefix>rl:{<bucket>}:<dim>_r:<window_start>`, slots in the sorted set
 * `<prefix>rl:{<bucket>}:conc` (members: grant ids, scored by the acquire's or the last
 * refresh's server time), and while a grant with a reservation is
 * unsettled `<prefix>rl:{<bucket>}:res:<grant id>` (the acquire's time, for `abandon`). The
 * prefix is `aisix:` or `aisix:<env_id>:`.
 *
 * Errors (connection down, timeout, script error) reject; the fail-open wrapper
 * (failover-store.ts) turns them into local decisions.
 */
import type { RedisHandle, RedisReply } from '@aisix/redis';
import { ABANDON, ACQUIRE, COMMIT, REFRESH, RELEASE } from './redis-lua.js';
import {
  type AcquireInput,
  type CounterStore,
  type Grant,
  REQUEST_DIMS,
  type RequestDim,
  TOKEN_DIMS,
  type TokenDim,
  type Verdict,
} from './types.js';
import {
  bucketState,
  CONCURRENCY_REFUSAL,
  limitArg,
  REQ_WINDOW_SECS,
  requestRefusal,
  TOK_WINDOW_SECS,
  tokenCount,
  tokenRefusal,
  windowStart,
} from './windows.js';

export interface RedisCounterStoreOptions {
  /** Key prefix, default `aisix:` (the gateway passes `aisix:<env_id>:` when an env id is set). */
  readonly prefix?: string;
  /** Age after which an unsettled, unrefreshed slot is pruned (control-plane §1.8, default 300 s). */
  readonly concurrencyTtlSecs?: number;
}

/** Grant ids per refresh script call. */
const REFRESH_BATCH = 500;

function num(r: RedisReply | undefined): number {
  return typeof r === 'number' ? r : Number(r);
}

export class RedisCounterStore implements CounterStore {
  private readonly prefix: string;
  private readonly ttlArg: string;
  readonly slotTtlMs: number;

  constructor(
    private readonly redis: RedisHandle,
    opts: RedisCounterStoreOptions = {},
  ) {
    this.prefix = `${opts.prefix ?? 'aisix:'}rl:{`;
    this.slotTtlMs = Math.round((opts.concurrencyTtlSecs ?? 300) * 1000);
    this.ttlArg = String(this.slotTtlMs);
  }

  /** `<prefix>rl:{<bucket>}`: every key of the bucket starts with it (one hash slot). */
  keyBase(bucket: string): string {
    return `${this.prefix}${bucket}}`;
  }

  async acquire(input: AcquireInput): Promise<Verdict> {
    const L = input.limits;
    const reserve = tokenCount(input.reserveTokens);
    const reply = await this.redis.script(
      ACQUIRE,
      [this.keyBase(input.key)],
      [
        limitArg(L.rps),
        limitArg(L.rpm),
        limitArg(L.rph),
        limitArg(L.rpd),
        limitArg(L.tpm),
        limitArg(L.tpd),
        limitArg(L.concurrency),
        input.id,
        String(reserve),
        this.ttlArg,
      ],
    );
    if (!Array.isArray(reply)) throw new Error('rate-limit acquire script: unexpected reply');
    const nowMs = num(reply[1]);
    if (num(reply[0]) !== 1) {
      const reason = num(reply[2]);
      const dim = num(reply[3]);
      if (reason === 3) return CONCURRENCY_REFUSAL;
      return reason === 2 ? tokenRefusal(dim - 5, nowMs) : requestRefusal(dim - 1, nowMs);
    }
    const nowS = Math.floor(nowMs / 1000);
    const req = [num(reply[2]), num(reply[3]), num(reply[4]), num(reply[5])];
    const tok = [num(reply[6]), num(reply[7])];
    const requestWindows: { [D in RequestDim]?: number } = {};
    for (let i = 0; i < 4; i++) {
      const d = REQUEST_DIMS[i] as RequestDim;
      if (L[d] !== undefined) requestWindows[d] = windowStart(nowS, REQ_WINDOW_SECS[i] as number);
    }
    const tokenWindows: { [D in TokenDim]?: number } = {};
    for (let j = 0; j < 2; j++) {
      const d = TOKEN_DIMS[j] as TokenDim;
      if (L[d] !== undefined) tokenWindows[d] = windowStart(nowS, TOK_WINDOW_SECS[j] as number);
    }
    const grant: Grant = {
      bucket: input.key,
      id: input.id,
      requestWindows,
      reserved: L.tpm !== undefined || L.tpd !== undefined ? reserve : 0,
      tokenWindows,
      slot: L.concurrency !== undefined,
      state: bucketState(L, req, tok, num(reply[8]), nowMs),
    };
    return { ok: true, grant };
  }

  async commit(grant: Grant, tokens: number): Promise<void> {
    const tw = grant.tokenWindows;
    // Nothing to do in Redis for a grant without token windows and without a slot.
    if (!grant.slot && tw.tpm === undefined && tw.tpd === undefined) return;
    await this.redis.script(
      COMMIT,
      [this.keyBase(grant.bucket)],
      [
        String(tokenCount(tokens)),
        String(grant.reserved),
        limitArg(tw.tpm),
        limitArg(tw.tpd),
        grant.id,
        grant.slot ? '1' : '0',
      ],
    );
  }

  async release(grant: Grant, rollback: boolean): Promise<void> {
    const tw = grant.tokenWindows;
    const rw = grant.requestWindows;
    const hasRequests =
      rw.rps !== undefined || rw.rpm !== undefined || rw.rph !== undefined || rw.rpd !== undefined;
    if (!grant.slot && grant.reserved === 0 && !(rollback && hasRequests)) return;
    await this.redis.script(
      RELEASE,
      [this.keyBase(grant.bucket)],
      [
        rollback ? '1' : '0',
        limitArg(rw.rps),
        limitArg(rw.rpm),
        limitArg(rw.rph),
        limitArg(rw.rpd),
        String(grant.reserved),
        limitArg(tw.tpm),
        limitArg(tw.tpd),
        grant.id,
        grant.slot ? '1' : '0',
      ],
    );
  }

  /**
   * Undoes an acquire whose reply never came (see CounterStore.abandon): the grant id is the
   * caller's, so the slot member and the reservation marker are known without the reply.
   */
  async abandon(input: AcquireInput): Promise<void> {
    const L = input.limits;
    const tokens = L.tpm !== undefined || L.tpd !== undefined;
    const reserve = tokens ? tokenCount(input.reserveTokens) : 0;
    if (L.concurrency === undefined && reserve === 0) return;
    await this.redis.script(
      ABANDON,
      [this.keyBase(input.key)],
      [
        input.id,
        String(reserve),
        L.tpm !== undefined ? '1' : '0',
        L.tpd !== undefined ? '1' : '0',
        L.concurrency !== undefined ? '1' : '0',
      ],
    );
  }

  /**
   * One script per bucket (its keys share one hash slot; a cluster spreads buckets over nodes),
   * with every grant id of that bucket, at most `REFRESH_BATCH` per call.
   */
  async refresh(grants: readonly Grant[]): Promise<void> {
    const byBucket = new Map<string, string[]>();
    for (const g of grants) {
      if (!g.slot) continue;
      const ids = byBucket.get(g.bucket);
      if (ids === undefined) byBucket.set(g.bucket, [g.id]);
      else ids.push(g.id);
    }
    const calls: Promise<RedisReply>[] = [];
    for (const [bucket, ids] of byBucket) {
      const keys = [this.keyBase(bucket)];
      for (let i = 0; i < ids.length; i += REFRESH_BATCH)
        calls.push(this.redis.script(REFRESH, keys, [this.ttlArg, ...ids.slice(i, i + REFRESH_BATCH)]));
    }
    await Promise.all(calls);
  }

  /**
   * Resolves when the node serving `bucket`'s keys answers a keyed read (any node for no
   * bucket). On a cluster a plain PING reaches whatever node is up; this one reaches the
   * master of the bucket's hash slot, and a node that refuses keyed commands (CLUSTERDOWN
   * while the cluster re-forms) fails it too.
   */
  async probe(bucket?: string): Promise<void> {
    if (bucket === undefined) return this.redis.ping();
    const base = this.keyBase(bucket);
    await this.redis.command(base, ['EXISTS', `${base}:conc`]);
  }

  /** The handle belongs to the caller (it may be shared with the cache): nothing to close here. */
  async close(): Promise<void> {}
}
