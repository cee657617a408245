/**
 * Limiter: all-or-nothing acquisition with rollback of earlier layers (OP-9), the earliest
 * refusal in list order reported, the merged header view (tightest per family, OP-10),
 * exactly-once settlement, merging a routing attempt's admission, fail-open on store errors,
 * the cost of plan + acquire + commit on the memory store, and the refresh of held slots.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Limiter } from './limiter.js';
import { MemoryCounterStore } from './memory-store.js';
import { compileLimitPlan, type RequestFacts } from './plan.js';
import { apiKey, buildSnapshot } from './test/snapshot.js';
import type { AcquireInput, Bucket, CounterStore, Grant, Layer, Limits, Verdict } from './types.js';

const bucket = (key: string, limits: Limits, layer: Layer = 'policy'): Bucket => ({ key, limits, layer });

/** Memory store that records settlements and can be told to fail. */
class Spy implements CounterStore {
  readonly inner = new MemoryCounterStore({ sweepIntervalMs: 0 });
  readonly log: string[] = [];
  failAcquire = new Set<string>();
  failCommit = false;
  async acquire(i: AcquireInput): Promise<Verdict> {
    if (this.failAcquire.has(i.key)) throw new Error(`boom ${i.key}`);
    return this.inner.acquire(i);
  }
  async commit(g: Grant, t: number): Promise<void> {
    this.log.push(`commit ${g.bucket} ${t}`);
    if (this.failCommit) throw new Error('commit failed');
    return this.inner.commit(g, t);
  }
  async release(g: Grant, r: boolean): Promise<void> {
    this.log.push(`release ${g.bucket} ${r}`);
    return this.inner.release(g, r);
  }
  refresh(gs: readonly Grant[]): Promise<void> {
    return this.inner.refresh(gs);
  }
  get slotTtlMs() {
    return this.inner.slotTtlMs;
  }
  close() {
    return this.inner.close();
  }
}

describe('Limiter', () => {
  it('all or nothing: a later refusal rolls back the earlier grants (OP-9)', async () => {
    const spy = new Spy();
    const limiter = new Limiter(spy);
    const a = bucket('a', { rpm: 3, concurrency: 1 }, 'api_key');
    const b = bucket('b', { rpm: 1 });
    assert.equal((await limiter.acquire([b])).ok, true);
    const r = await limiter.acquire([a, b]);
    assert.equal(r.ok, false);
    assert.deepEqual(spy.log, ['release a true']);
    // a's request count and slot were given back: three more fit.
    for (let i = 0; i < 3; i++) {
      const x = await limiter.acquire([a]);
      assert.ok(x.ok);
      await x.admission.release(false);
    }
    assert.equal((await limiter.acquire([a])).ok, false);
  });

  it('reports the earliest refusing bucket in list order, with its limit and Retry-After', async () => {
    const limiter = new Limiter(new MemoryCounterStore({ sweepIntervalMs: 0 }));
    const first = bucket('first', { tpm: 0 });
    const second = bucket('second', { concurrency: 0 });
    const r = await limiter.acquire([bucket('ok', { rpm: 9 }), first, second]);
    assert.ok(!r.ok);
    assert.equal(r.bucket, first);
    assert.deepEqual([r.reason, r.dim, r.limit], ['tokens', 'tpm', 0]);
    assert.ok((r.retryAfterSecs as number) >= 1);
    const c = await limiter.acquire([second, first]);
    assert.ok(!c.ok && c.bucket === second && c.retryAfterSecs === undefined);
    // The synchronous path (memory store) rolled 'ok' back too: only this acquire counts.
    const again = await limiter.acquire([bucket('ok', { rpm: 9 })]);
    assert.ok(again.ok);
    assert.equal(again.admission.headers.requests?.remaining, 8);
  });

  it('headers: the tightest state per family across the grants', async () => {
    const limiter = new Limiter(new MemoryCounterStore({ sweepIntervalMs: 0 }));
    const r = await limiter.acquire(
      [
        bucket('k', { rpm: 100, tpm: 1000, concurrency: 2 }, 'api_key'),
        bucket('m', { rpm: 5, concurrency: 10 }, 'model'),
        bucket('p', { tpm: 300 }),
      ],
      50,
    );
    assert.ok(r.ok);
    const h = r.admission.headers;
    assert.deepEqual([h.requests?.limit, h.requests?.remaining], [5, 4]);
    assert.deepEqual([h.tokens?.limit, h.tokens?.remaining], [300, 250]);
    assert.deepEqual([h.concurrent?.limit, h.concurrent?.remaining], [2, 1]);
    assert.equal(r.admission.headers, h, 'computed once');
    const none = await limiter.acquire([]);
    assert.ok(none.ok);
    assert.deepEqual(none.admission.headers, {});
  });

  it('commit and release settle every grant exactly once', async () => {
    const spy = new Spy();
    const limiter = new Limiter(spy);
    const r = await limiter.acquire([bucket('x', { tpm: 10 }), bucket('y', { concurrency: 1 })], 5);
    assert.ok(r.ok);
    await r.admission.commit(42);
    await r.admission.commit(42);
    await r.admission.release(true);
    assert.deepEqual(spy.log.sort(), ['commit x 42', 'commit y 42']);
    assert.equal(r.admission.done, true);
  });

  it("merge: a routing attempt's grants are committed with the request's", async () => {
    const spy = new Spy();
    const limiter = new Limiter(spy);
    const req = await limiter.acquire([bucket('key', { rpm: 10 }, 'api_key')]);
    const attempt = await limiter.acquire([bucket('model:t1', { concurrency: 1, rpm: 2 }, 'model')]);
    assert.ok(req.ok && attempt.ok);
    limiter.extend(req.admission, attempt.admission);
    assert.equal(attempt.admission.done, true);
    assert.equal(req.admission.grants.length, 2);
    assert.equal(req.admission.headers.requests?.limit, 2, 'header view includes the merged grants');
    await attempt.admission.commit(1);
    await req.admission.commit(7);
    assert.deepEqual(spy.log.sort(), ['commit key 7', 'commit model:t1 7']);
    // Merging into a settled admission releases the newcomer instead of leaking it.
    const late = await limiter.acquire([bucket('model:t2', { concurrency: 1 }, 'model')]);
    assert.ok(late.ok);
    req.admission.merge(late.admission);
    await new Promise((r) => setImmediate(r));
    assert.ok(spy.log.includes('release model:t2 false'));
  });

  it('fails open on store errors by default, reporting them; failOpen false rethrows after rollback', async () => {
    const spy = new Spy();
    spy.failAcquire.add('bad');
    const errors: string[] = [];
    const limiter = new Limiter(spy, { onError: (op, _e, b) => errors.push(`${op} ${b}`) });
    const r = await limiter.acquire([bucket('good', { rpm: 5 }), bucket('bad', { rpm: 5 })]);
    assert.ok(r.ok);
    assert.deepEqual(
      r.admission.grants.map((g) => g.bucket),
      ['good'],
    );
    assert.deepEqual(errors, ['acquire bad']);
    spy.failCommit = true;
    await r.admission.commit(1);
    assert.deepEqual(errors, ['acquire bad', 'commit good']);
    const strict = new Limiter(spy, { failOpen: false });
    await assert.rejects(strict.acquire([bucket('good', { rpm: 5 }), bucket('bad', { rpm: 5 })]), /boom bad/);
    assert.ok(spy.log.includes('release good true'));
  });

  it('plan + acquire + commit on the memory store stays in the microseconds', async () => {
    const snap = buildSnapshot({
      api_keys: { k1: apiKey('k1', { rate_limit: { rpm: 1e9, tpm: 1e12, concurrency: 1e6 } }) },
      rate_limit_policies: {
        p: { name: 'p', limits: { rpm: 1e9 }, group_by: ['team'] },
        q: { name: 'q', scope: 'api_key', scope_ref: 'k1', window: 'minute', max_requests: 1e9 },
      },
    });
    const plan = compileLimitPlan(snap);
    assert.ok(plan);
    const f: RequestFacts = {
      apiKeyId: 'k1',
      team: 'blue',
      requestedName: 'gpt',
      model: { id: 'm1', alias: 'gpt', group: false, limits: { rpm: 1e9 } },
    };
    const limiter = new Limiter(new MemoryCounterStore({ sweepIntervalMs: 0 }));
    const run = async (n: number) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const r = await limiter.acquire(plan.requestBuckets(f), 100);
        if (!r.ok) assert.fail('refused');
        await r.admission.commit(80);
      }
      return Number(process.hrtime.bigint() - t0) / 1000 / n;
    };
    await run(20_000);
    const us = await run(100_000);
    console.log(`# plan.requestBuckets + Limiter.acquire + commit, 4 buckets, memory: ${us.toFixed(2)} µs`);
    const one = new Limiter(new MemoryCounterStore({ sweepIntervalMs: 0 }));
    const b = [bucket('solo', { rpm: 1e9, tpm: 1e12 }, 'api_key')];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) {
      const r = await one.acquire(b, 100);
      if (r.ok) await r.admission.commit(80);
    }
    const solo = Number(process.hrtime.bigint() - t0) / 1000 / 100_000;
    console.log(`# Limiter.acquire + commit, 1 bucket, memory: ${solo.toFixed(2)} µs`);
    assert.ok(us < 50);
  });
});

/** A memory store (still synchronous) that records each refresh call's grant buckets. */
class Refreshes extends MemoryCounterStore {
  readonly calls: string[][] = [];
  override refresh(gs: readonly Grant[]): Promise<void> {
    this.calls.push(gs.map((g) => g.bucket).sort());
    return super.refresh(gs);
  }
}

describe('Limiter: slots of running requests are refreshed', () => {
  it('every third of the TTL, one batch for every limiter on the store, until settled; slots outlive the TTL', async () => {
    const store = new Refreshes({ concurrencyTtlSecs: 0.3, sweepIntervalMs: 0 });
    const l1 = new Limiter(store);
    const l2 = new Limiter(store);
    const a = await l1.acquire([bucket('a', { concurrency: 1 }, 'api_key'), bucket('n1', { rpm: 9 })]);
    const b = await l2.acquire([bucket('b', { concurrency: 1 })]);
    const plain = await l1.acquire([bucket('n2', { rpm: 9 })]);
    assert.ok(a.ok && b.ok && plain.ok);
    await sleep(650);
    // One timer (not one per limiter, nor per request): about 6 ticks of 100 ms in 650 ms.
    assert.ok(store.calls.length >= 4 && store.calls.length <= 7, `${store.calls.length} refreshes`);
    for (const c of store.calls) assert.deepEqual(c, ['a', 'b'], 'only slots, all in one call');
    // More than twice the TTL after the acquires, both slots still refuse.
    assert.equal((await l1.acquire([bucket('a', { concurrency: 1 })])).ok, false);
    assert.equal((await l2.acquire([bucket('b', { concurrency: 1 })])).ok, false);
    await a.admission.commit(0);
    store.calls.length = 0;
    await sleep(250);
    assert.ok(store.calls.length > 0);
    for (const c of store.calls) assert.deepEqual(c, ['b']);
    await b.admission.release(false);
    await sleep(150);
    store.calls.length = 0;
    await sleep(250);
    assert.deepEqual(store.calls, [], 'nothing held: no refresh');
    await store.close();
  });

  it("a routing attempt's slot merged into the request's admission is refreshed with it", async () => {
    const store = new Refreshes({ concurrencyTtlSecs: 0.3, sweepIntervalMs: 0 });
    const limiter = new Limiter(store);
    const req = await limiter.acquire([bucket('key', { rpm: 10 }, 'api_key')]);
    const attempt = await limiter.acquire([bucket('model:t', { concurrency: 1 }, 'model')]);
    assert.ok(req.ok && attempt.ok);
    req.admission.merge(attempt.admission);
    await sleep(450);
    assert.ok(store.calls.length >= 2);
    for (const c of store.calls) assert.deepEqual(c, ['model:t']);
    assert.equal((await limiter.acquire([bucket('model:t', { concurrency: 1 }, 'model')])).ok, false);
    await req.admission.commit(0);
    await sleep(150);
    store.calls.length = 0;
    await sleep(250);
    assert.deepEqual(store.calls, []);
    await store.close();
  });

  it('a TTL beyond what a timer can wait (concurrency_ttl_secs 10^7) does not refresh in a loop', async () => {
    const store = new Refreshes({ concurrencyTtlSecs: 10_000_000, sweepIntervalMs: 0 });
    const limiter = new Limiter(store);
    const r = await limiter.acquire([bucket('huge', { concurrency: 1 })]);
    assert.ok(r.ok);
    await sleep(100);
    assert.deepEqual(store.calls, []);
    await r.admission.commit(0);
    await store.close();
  });

  it('a store that never reclaims slots by age (TTL 0) is never refreshed', async () => {
    const store = new Refreshes({ concurrencyTtlSecs: 0, sweepIntervalMs: 0 });
    const limiter = new Limiter(store);
    const r = await limiter.acquire([bucket('z', { concurrency: 1 })]);
    assert.ok(r.ok);
    await sleep(200);
    assert.deepEqual(store.calls, []);
    await r.admission.commit(0);
    await store.close();
  });
});
