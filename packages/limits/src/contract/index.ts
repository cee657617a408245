/**
 * `@aisix/limits/contract`: the behaviour every `CounterStore` must show (data-plane §9.2-9.3,
 * decisions 12 and OP-9), as a node:test suite run against each implementation: memory, Redis
 * (single server and cluster), the pod-shared remote store and the fail-open wrapper.
 *
 * Time: a store built on a movable clock (memory, or remote over memory) hands it over as
 * `clock`; stores on a real clock (Redis uses the server's) are tested with 1-second windows
 * that the suite simply waits out, and before a window-sensitive test the suite makes sure the
 * current window has enough time left (`roomIn`), so no test straddles a boundary. The two
 * cases that need a minute to pass (minute windows) exist only for stores with a movable clock:
 * a Redis store runs the same window arithmetic (one script, the window length a parameter)
 * through the 1-second cases instead. Every test uses fresh bucket keys, so one store (one
 * Redis) serves the whole suite.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CounterStore, Grant, Limits, Verdict } from '../types.js';
import { LIMIT_DIMS } from '../types.js';
import { secsLeft } from '../windows.js';

export interface ContractClock {
  now(): number;
  advance(ms: number): void;
}

export interface ContractSubject {
  readonly store: CounterStore;
  /** Present when the store's clock can be moved; absent = real clock (waits instead). */
  readonly clock?: ContractClock | undefined;
  /** The slot TTL the store was built with (keep it 1-2 s for real-clock stores). */
  readonly concurrencyTtlSecs: number;
  close(): Promise<void>;
}

/** A movable clock starting `offsetMs` into a minute (a fixed instant, so runs are repeatable). */
export function fakeClock(offsetMs = 10_000): ContractClock & { t: number } {
  const c = {
    t: Date.UTC(2030, 0, 1, 0, 0, 0) + offsetMs,
    now: () => c.t,
    advance: (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

type Ok = Extract<Verdict, { ok: true }>;
type No = Extract<Verdict, { ok: false }>;

export interface ContractOptions {
  /** The factory's subject has a movable `clock` (memory-backed stores): adds the minute-window cases. */
  readonly movableClock?: boolean;
}

export function counterStoreContract(
  name: string,
  factory: () => Promise<ContractSubject>,
  opts: ContractOptions = {},
): void {
  describe(`CounterStore contract: ${name}`, () => {
    let s: ContractSubject;
    before(async () => {
      s = await factory();
    });
    after(async () => {
      await s.close();
    });

    const now = () => s.clock?.now() ?? Date.now();
    const fresh = () => `contract:${randomUUID()}`;
    const acquire = (key: string, limits: Limits, reserveTokens = 0) =>
      s.store.acquire({ key, limits, id: randomUUID(), reserveTokens });
    const ok = async (key: string, limits: Limits, reserve = 0): Promise<Grant> => {
      const v = await acquire(key, limits, reserve);
      assert.equal(v.ok, true, `expected an admission, got ${JSON.stringify(v)}`);
      return (v as Ok).grant;
    };
    const no = async (key: string, limits: Limits, reserve = 0): Promise<No> => {
      const v = await acquire(key, limits, reserve);
      assert.equal(v.ok, false, 'expected a refusal');
      return v as No;
    };
    /** Makes sure at least `needMs` are left in the current window of `w` seconds. */
    const roomIn = async (w: number, needMs: number) => {
      const t = now();
      const left = (Math.floor(t / 1000 / w) * w + w) * 1000 - t;
      if (left >= needMs) return;
      if (s.clock !== undefined) s.clock.advance(left + 10);
      else await sleep(left + 30);
    };
    /** Moves past the end of the current window of `w` seconds. */
    const nextWindow = async (w: number) => {
      const t = now();
      const left = (Math.floor(t / 1000 / w) * w + w) * 1000 - t;
      if (s.clock !== undefined) s.clock.advance(left + 10);
      else await sleep(left + 30);
    };

    it('rps: the request after `limit` in one second is refused, Retry-After 1', async () => {
      await roomIn(1, 400);
      const k = fresh();
      for (let i = 0; i < 3; i++) await ok(k, { rps: 3 });
      const r = await no(k, { rps: 3 });
      assert.deepEqual([r.reason, r.dim, r.retryAfterSecs], ['requests', 'rps', 1]);
    });

    it('rpm/rph/rpd: count + 1 > limit refuses; Retry-After = seconds left in that window (min 1)', async () => {
      await roomIn(60, 3000);
      for (const [dim, w] of [
        ['rpm', 60],
        ['rph', 3600],
        ['rpd', 86_400],
      ] as const) {
        const k = fresh();
        const limits = { [dim]: 2 };
        await ok(k, limits);
        await ok(k, limits);
        const r = await no(k, limits);
        assert.equal(r.reason, 'requests');
        assert.equal(r.dim, dim);
        const expect = secsLeft(now(), w);
        assert.ok(r.retryAfterSecs !== undefined && Math.abs(r.retryAfterSecs - expect) <= 1, `${dim}`);
        assert.ok((r.retryAfterSecs as number) >= 1);
      }
    });

    it("a refusal in a longer window undoes this call's increments in the shorter ones", async () => {
      await roomIn(60, 3000);
      await roomIn(1, 500);
      const k = fresh();
      await ok(k, { rps: 100, rpm: 2 });
      await ok(k, { rps: 100, rpm: 2 });
      const r = await no(k, { rps: 100, rpm: 2 });
      assert.equal(r.dim, 'rpm');
      // Had the refused call kept its rps increment, 96 would be left here instead of 97.
      const g = await ok(k, { rps: 100 });
      assert.equal(g.state.requests?.remaining, 97);
    });

    it('tokens: admitted while committed <= limit (the crossing request passes), refused after', async () => {
      await roomIn(60, 3000);
      const k = fresh();
      const a = await ok(k, { tpm: 100 });
      await s.store.commit(a, 100);
      const b = await ok(k, { tpm: 100 });
      await s.store.commit(b, 1);
      const r = await no(k, { tpm: 100 });
      assert.deepEqual([r.reason, r.dim], ['tokens', 'tpm']);
      assert.ok(r.retryAfterSecs !== undefined && r.retryAfterSecs >= 1 && r.retryAfterSecs <= 60);
      const d = fresh();
      await s.store.commit(await ok(d, { tpd: 10 }), 11);
      assert.equal((await no(d, { tpd: 10 })).dim, 'tpd');
    });

    it('reservations count until commit, then the real tokens replace them', async () => {
      await roomIn(60, 3000);
      const k = fresh();
      const a = await ok(k, { tpm: 100 }, 60);
      assert.equal(a.state.tokens?.remaining, 40);
      await ok(k, { tpm: 100 }, 60);
      await no(k, { tpm: 100 }, 10);
      await s.store.commit(a, 5);
      const d = await ok(k, { tpm: 100 }, 10);
      assert.equal(d.state.tokens?.remaining, 100 - (5 + 60 + 10));
    });

    it('release drops the reservation and adds no tokens', async () => {
      await roomIn(60, 3000);
      const k = fresh();
      const a = await ok(k, { tpm: 100 }, 150);
      assert.equal(a.state.tokens?.remaining, 0, 'remaining is never negative');
      await no(k, { tpm: 100 });
      await s.store.release(a, false);
      const c = await ok(k, { tpm: 100 }, 30);
      assert.equal(c.state.tokens?.remaining, 70);
    });

    it('a limit of 0 allows nothing on every dimension (decision 12)', async () => {
      for (const dim of LIMIT_DIMS) {
        const r = await no(fresh(), { [dim]: 0 } as Limits);
        assert.equal(r.dim, dim);
        assert.equal(
          r.reason,
          dim === 'concurrency' ? 'concurrency' : dim[0] === 't' ? 'tokens' : 'requests',
        );
        assert.equal(r.retryAfterSecs === undefined, dim === 'concurrency');
      }
    });

    it('concurrency: in flight >= cap refuses without Retry-After; commit and release free the slot', async () => {
      const k = fresh();
      const L = { concurrency: 2 };
      const a = await ok(k, L);
      const b = await ok(k, L);
      const r = await no(k, L);
      assert.deepEqual([r.reason, r.dim, r.retryAfterSecs], ['concurrency', 'concurrency', undefined]);
      await s.store.commit(a, 0);
      const c = await ok(k, L);
      await no(k, L);
      await s.store.release(b, false);
      await s.store.release(c, true);
      await ok(k, L);
      await ok(k, L);
    });

    it('commit adds the tokens and frees the slot in one call', async () => {
      await roomIn(60, 3000);
      const k = fresh();
      const L = { tpm: 50, concurrency: 1 };
      const a = await ok(k, L);
      await s.store.commit(a, 51);
      // The slot is free (no concurrency refusal); the tokens now refuse.
      const r = await no(k, L);
      assert.equal(r.reason, 'tokens');
    });

    it('rollback undoes the request counts; release without rollback keeps them (OP-9)', async () => {
      await roomIn(60, 3000);
      const k = fresh();
      const L = { rpm: 2 };
      const a = await ok(k, L);
      await ok(k, L);
      await s.store.release(a, true);
      const c = await ok(k, L);
      await no(k, L);
      await s.store.release(c, false);
      await no(k, L);
      // Settling twice never drives a counter below zero.
      const k2 = fresh();
      const x = await ok(k2, L);
      await s.store.release(x, true);
      await s.store.release(x, true);
      await ok(k2, L);
      await ok(k2, L);
      await no(k2, L);
    });

    it('BucketState: fewest remaining per family (ties: shorter window), reset seconds, slots', async () => {
      await roomIn(60, 3000);
      await roomIn(1, 500);
      const g = await ok(fresh(), { rps: 5, rpm: 3, tpm: 1000, concurrency: 2 }, 100);
      const t = now();
      assert.equal(g.state.requests?.dim, 'rpm');
      assert.equal(g.state.requests?.limit, 3);
      assert.equal(g.state.requests?.remaining, 2);
      assert.ok(Math.abs((g.state.requests?.resetSecs ?? 0) - secsLeft(t, 60)) <= 1);
      assert.deepEqual(
        [g.state.tokens?.dim, g.state.tokens?.limit, g.state.tokens?.remaining],
        ['tpm', 1000, 900],
      );
      assert.deepEqual(g.state.concurrent, { dim: 'concurrency', limit: 2, remaining: 1, resetSecs: 0 });
      const tie = await ok(fresh(), { rps: 3, rpm: 3 });
      assert.equal(tie.state.requests?.dim, 'rps');
      assert.equal(tie.state.requests?.resetSecs, 1);
      const none = await ok(fresh(), { concurrency: 3 });
      assert.equal(none.state.requests, undefined);
      assert.equal(none.state.tokens, undefined);
    });

    it('exact under concurrency: 600 parallel acquires against rpm 100 admit exactly 100', async () => {
      await roomIn(60, 5000);
      const k = fresh();
      const vs = await Promise.all(Array.from({ length: 600 }, () => acquire(k, { rpm: 100 })));
      assert.equal(vs.filter((v) => v.ok).length, 100);
      const c = fresh();
      const cs = await Promise.all(Array.from({ length: 50 }, () => acquire(c, { concurrency: 7 })));
      assert.equal(cs.filter((v) => v.ok).length, 7);
    });

    it('window reset: rps counters start over in the next second', async () => {
      await roomIn(1, 400);
      const k = fresh();
      await ok(k, { rps: 1 });
      await no(k, { rps: 1 });
      await nextWindow(1);
      await ok(k, { rps: 1 });
    });

    it('a rollback after its window ended leaves the new window alone', async () => {
      await roomIn(1, 400);
      const k = fresh();
      const L = { rps: 3 };
      const a = await ok(k, L);
      await nextWindow(1);
      await ok(k, L);
      await s.store.release(a, true);
      await ok(k, L);
      await ok(k, L);
      await no(k, L);
    });

    // Minute windows: only where the clock can be moved (see the header).
    const minuteIt = opts.movableClock === true ? it : undefined;
    minuteIt?.('window reset: rpm and tpm start over at the minute boundary (movable clock)', async () => {
      if (s.clock === undefined) return;
      const k = fresh();
      const L = { rpm: 1, tpm: 10 };
      await s.store.commit(await ok(k, L), 20);
      await no(k, L);
      s.clock.advance(60_000);
      const g = await ok(k, L);
      assert.equal(g.state.tokens?.remaining, 10);
      assert.equal(g.state.requests?.remaining, 0);
    });

    minuteIt?.(
      'a commit after the window ended drops the stale reservation, tokens go to the new window (movable clock)',
      async () => {
        if (s.clock === undefined) return;
        await roomIn(60, 3000);
        const k = fresh();
        const a = await ok(k, { tpm: 100 }, 80);
        await nextWindow(60);
        await s.store.commit(a, 30);
        const g = await ok(k, { tpm: 100 });
        assert.equal(g.state.tokens?.remaining, 70);
        assert.ok(secsLeft(s.clock.now(), 60) >= 1);
      },
    );

    it('a leaked slot is reclaimed after concurrencyTtlSecs', async () => {
      const k = fresh();
      const L = { concurrency: 1 };
      await ok(k, L);
      await no(k, L);
      if (s.clock !== undefined) s.clock.advance(s.concurrencyTtlSecs * 1000 + 1000);
      else await sleep(s.concurrencyTtlSecs * 1000 + 300);
      await ok(k, L);
    });

    /** Lets `ms` pass on the store's clock. */
    const pass = async (ms: number) => {
      if (s.clock !== undefined) s.clock.advance(ms);
      else await sleep(ms);
    };

    it('refresh: slots refreshed within the TTL outlive it (many buckets in one call); unrefreshed, they are reclaimed', async () => {
      const ttlMs = s.concurrencyTtlSecs * 1000;
      assert.equal(s.store.slotTtlMs, ttlMs);
      const L = { concurrency: 2 };
      const keys = [fresh(), fresh(), fresh()];
      const held: Grant[] = [];
      for (const k of keys) held.push(await ok(k, L), await ok(k, L));
      // Two TTLs after the acquires, refreshed every quarter TTL: every slot is still held.
      for (let i = 0; i < 8; i++) {
        await pass(ttlMs / 4);
        await s.store.refresh(held);
      }
      for (const k of keys) await no(k, L);
      // No refresh for longer than the TTL: the holder is gone, its slots are reclaimed.
      await pass(ttlMs + 300);
      for (const k of keys) {
        await ok(k, L);
        await ok(k, L);
      }
    });

    it('refresh ignores grants without a slot, settled grants and slots the TTL already reclaimed', async () => {
      const ttlMs = s.concurrencyTtlSecs * 1000;
      const k = fresh();
      const L = { concurrency: 1 };
      const a = await ok(k, L);
      await s.store.release(a, false);
      await s.store.refresh([a]);
      // `a` was not taken back: its place is free.
      const b = await ok(k, L);
      await no(k, L);
      await pass(ttlMs + 300);
      // Too late: `b` is past the TTL, reclaimed, and a refresh does not revive it.
      await s.store.refresh([b]);
      const c = await ok(k, L);
      await no(k, L);
      await s.store.refresh([await ok(fresh(), { rpm: 5 })]);
      await s.store.refresh([]);
      await s.store.commit(c, 0);
      await ok(k, L);
    });

    it('grants record what they took (windows, reservation, slot)', async () => {
      await roomIn(60, 3000);
      const g = await ok(fresh(), { rps: 9, rpd: 9, tpm: 9, concurrency: 9 }, 4);
      const t = Math.floor(now() / 1000);
      assert.deepEqual(Object.keys(g.requestWindows).sort(), ['rpd', 'rps']);
      assert.equal(g.requestWindows.rpd, t - (t % 86_400));
      assert.equal(g.tokenWindows.tpm, t - (t % 60));
      assert.equal(g.tokenWindows.tpd, undefined);
      assert.equal(g.reserved, 4);
      assert.equal(g.slot, true);
      const plain = await ok(fresh(), { rpm: 9 }, 4);
      assert.deepEqual([plain.reserved, plain.slot], [0, false]);
    });
  });
}
