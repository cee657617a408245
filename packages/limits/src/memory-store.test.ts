/**
 * MemoryCounterStore: the shared contract on a movable clock, plus what only the in-process
 * store has: bounded memory (idle buckets swept, 1M distinct keys leave nothing behind) and its
 * per-call cost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { counterStoreContract, fakeClock } from './contract/index.js';
import { MemoryCounterStore } from './memory-store.js';
import type { Grant } from './types.js';

counterStoreContract(
  'MemoryCounterStore',
  async () => {
    const clock = fakeClock();
    const store = new MemoryCounterStore({ now: clock.now, concurrencyTtlSecs: 2, sweepIntervalMs: 0 });
    return { store, clock, concurrencyTtlSecs: 2, close: () => store.close() };
  },
  { movableClock: true },
);

describe('MemoryCounterStore memory bounds', () => {
  it('1M distinct buckets are all swept once their windows end', () => {
    const clock = fakeClock();
    const store = new MemoryCounterStore({ now: clock.now, sweepIntervalMs: 0 });
    const limits = { rps: 5, rpm: 10 };
    for (let i = 0; i < 1_000_000; i++) {
      const v = store.acquireSync({ key: `b${i}`, limits, id: `g${i}`, reserveTokens: 0 });
      if (!v.ok) assert.fail('refused');
    }
    assert.equal(store.size, 1_000_000);
    clock.advance(30_000);
    store.sweep();
    // The rpm window is still open: nothing may go yet.
    assert.equal(store.size, 1_000_000);
    clock.advance(60_000);
    // The timer's incremental steps get there too (a tenth of the map per step).
    for (let i = 0; i < 12 && store.size > 0; i++) store.sweepSlice();
    assert.equal(store.size, 0);
    void store.close();
  });

  it('keeps buckets with a held slot until it is settled or reclaimed', async () => {
    const clock = fakeClock();
    const store = new MemoryCounterStore({ now: clock.now, sweepIntervalMs: 0, concurrencyTtlSecs: 10 });
    const v = await store.acquire({ key: 'held', limits: { concurrency: 1 }, id: 'a', reserveTokens: 0 });
    await store.acquire({ key: 'gone', limits: { concurrency: 1 }, id: 'b', reserveTokens: 0 }).then((x) => {
      if (x.ok) return store.release(x.grant, false);
    });
    store.sweep();
    assert.equal(store.size, 1);
    clock.advance(11_000);
    store.sweep();
    assert.equal(store.size, 0, 'a leaked slot does not pin its bucket forever');
    assert.ok(v.ok);
    await store.close();
  });

  it('concurrencyTtlSecs 0: a held slot is never reclaimed by age (the limit holds)', async () => {
    const clock = fakeClock();
    const store = new MemoryCounterStore({ now: clock.now, sweepIntervalMs: 0, concurrencyTtlSecs: 0 });
    const a = await store.acquire({ key: 'c', limits: { concurrency: 1 }, id: 'a', reserveTokens: 0 });
    assert.ok(a.ok);
    clock.advance(3_600_000);
    store.sweep();
    const b = await store.acquire({ key: 'c', limits: { concurrency: 1 }, id: 'b', reserveTokens: 0 });
    assert.equal(b.ok, false, 'the first slot is still held');
    await store.release(a.grant, false);
    const c = await store.acquire({ key: 'c', limits: { concurrency: 1 }, id: 'c', reserveTokens: 0 });
    assert.ok(c.ok);
    await store.close();
  });

  it('a commit for a swept bucket still counts its tokens', async () => {
    const clock = fakeClock();
    const store = new MemoryCounterStore({ now: clock.now, sweepIntervalMs: 0 });
    const v = await store.acquire({ key: 't', limits: { tpm: 10 }, id: 'a', reserveTokens: 5 });
    assert.ok(v.ok);
    clock.advance(120_000);
    store.sweep();
    assert.equal(store.size, 0);
    await store.commit(v.grant, 11);
    const r = await store.acquire({ key: 't', limits: { tpm: 10 }, id: 'b', reserveTokens: 0 });
    assert.equal(r.ok, false);
    await store.close();
  });

  it('the background sweep timer does not keep the process alive and stops on close', async () => {
    const store = new MemoryCounterStore({ sweepIntervalMs: 5 });
    await store.acquire({ key: 'x', limits: { rps: 1 }, id: 'a', reserveTokens: 0 });
    await new Promise((r) => setTimeout(r, 20));
    await store.close();
    assert.equal(store.size, 0);
  });
});

describe('MemoryCounterStore cost', () => {
  it('acquire + commit takes a few microseconds', async () => {
    const store = new MemoryCounterStore({ sweepIntervalMs: 0 });
    const limits = { rpm: 1e9, tpm: 1e12, concurrency: 1e6 };
    const run = async (n: number) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const v = await store.acquire({ key: `k${i & 63}`, limits, id: `g${i}`, reserveTokens: 100 });
        await store.commit((v as { grant: Grant }).grant, 50);
      }
      return Number(process.hrtime.bigint() - t0) / 1000 / n;
    };
    await run(20_000);
    const us = await run(200_000);
    console.log(`# memory store acquire+commit: ${us.toFixed(2)} µs`);
    assert.ok(us < 20, `${us} µs`);
    await store.close();
  });
});
