/**
 * FailoverCounterStore: the fail-open policy with scripted stores (one onFailure per outage,
 * per-op failure counts, straight-to-fallback while down, recovery by probe, grants settled at
 * their origin), the contract with Redis up, and a real outage: redis-server killed mid-run,
 * calls still answered from memory, one onFailure, recovery after the restart.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { type RedisProcess, redisCall, redisConn, startRedis } from '@aisix/testkit';
import { counterStoreContract } from './contract/index.js';
import { FailoverCounterStore, type FailoverOp } from './failover-store.js';
import { MemoryCounterStore } from './memory-store.js';
import { RedisCounterStore } from './redis-store.js';
import type { AcquireInput, CounterStore, Grant, Verdict } from './types.js';

/** A primary that fails while `broken` and records what reached it. */
class Flaky implements CounterStore {
  broken = false;
  readonly calls: string[] = [];
  private readonly inner = new MemoryCounterStore({ sweepIntervalMs: 0 });
  async acquire(i: AcquireInput): Promise<Verdict> {
    this.calls.push(`acquire:${i.id}`);
    if (this.broken) throw new Error('down');
    return this.inner.acquire(i);
  }
  async commit(g: Grant, t: number): Promise<void> {
    this.calls.push(`commit:${g.id}`);
    if (this.broken) throw new Error('down');
    return this.inner.commit(g, t);
  }
  async release(g: Grant, r: boolean): Promise<void> {
    this.calls.push(`release:${g.id}`);
    if (this.broken) throw new Error('down');
    return this.inner.release(g, r);
  }
  async refresh(gs: readonly Grant[]): Promise<void> {
    this.calls.push(`refresh:${gs.map((g) => g.id).join(',')}`);
    if (this.broken) throw new Error('down');
    return this.inner.refresh(gs);
  }
  get slotTtlMs() {
    return this.inner.slotTtlMs;
  }
  close() {
    return this.inner.close();
  }
}

let server: RedisProcess | undefined;
let handle: RedisHandle | undefined;
let patientHandle: RedisHandle | undefined;
after(async () => {
  await handle?.close();
  await patientHandle?.close();
  await server?.stop();
});

async function redisServer(): Promise<RedisProcess> {
  server ??= await startRedis();
  return server;
}

/** A short command timeout: the outage tests need a dead server noticed quickly. */
async function redis(): Promise<RedisHandle> {
  handle ??= await connectRedis(redisConn({ url: (await redisServer()).url }), {
    commandTimeoutMs: 300,
    onError: () => {},
  });
  return handle;
}

/**
 * A generous command timeout for the contract with Redis up: it checks exact counts under
 * 600 parallel calls, and on a busy 2-core machine a reply can take longer than 300 ms, which
 * would (correctly) fail over to memory and make the counts per store instead of shared.
 */
async function patientRedis(): Promise<RedisHandle> {
  patientHandle ??= await connectRedis(redisConn({ url: (await redisServer()).url }), {
    commandTimeoutMs: 5000,
    onError: () => {},
  });
  return patientHandle;
}

describe('FailoverCounterStore policy', () => {
  it('one onFailure per outage, every failed op counted, fallback while down, probe recovers', async () => {
    const primary = new Flaky();
    const fallback = new MemoryCounterStore({ sweepIntervalMs: 0 });
    const failures: FailoverOp[] = [];
    const ops: FailoverOp[] = [];
    let recovered = 0;
    let healthy = false;
    const store = new FailoverCounterStore({
      primary,
      fallback,
      onFailure: (op) => failures.push(op),
      onOpFailure: (op) => ops.push(op),
      onRecover: () => recovered++,
      probe: async () => {
        if (!healthy) throw new Error('still down');
      },
      probeIntervalMs: 10,
    });
    const L = { concurrency: 5 };
    const up = await store.acquire({ key: 'k', limits: L, id: 'p1', reserveTokens: 0 });
    assert.ok(up.ok);
    primary.broken = true;
    const a = await store.acquire({ key: 'k', limits: L, id: 'f1', reserveTokens: 0 });
    assert.ok(a.ok, 'served by the fallback');
    assert.equal(store.isDown, true);
    const b = await store.acquire({ key: 'k', limits: L, id: 'f2', reserveTokens: 0 });
    assert.ok(b.ok);
    assert.equal(primary.calls.includes('acquire:f2'), false, 'while down calls skip the primary');
    // A primary grant settled during the outage: attempted, error ignored, not a second outage.
    await store.commit(up.grant, 3);
    assert.deepEqual(failures, ['acquire']);
    assert.deepEqual(ops, ['acquire']);
    assert.equal(store.failures.acquire, 1);
    primary.broken = false;
    healthy = true;
    await sleep(50);
    assert.equal(recovered, 1);
    assert.equal(store.isDown, false);
    // Fallback grants settle at the fallback even after recovery.
    await store.commit(a.grant, 1);
    await store.release(b.grant, false);
    assert.equal(primary.calls.includes('commit:f1'), false);
    assert.equal(primary.calls.includes('release:f2'), false);
    const c = await store.acquire({ key: 'k', limits: L, id: 'p2', reserveTokens: 0 });
    assert.ok(c.ok && primary.calls.includes('acquire:p2'));
    // A second outage is reported again, once.
    primary.broken = true;
    healthy = false;
    await store.release(c.grant, false);
    await store.acquire({ key: 'k', limits: L, id: 'f3', reserveTokens: 0 });
    assert.deepEqual(failures, ['acquire', 'release']);
    assert.deepEqual(ops, ['acquire', 'release']);
    await store.close();
  });
});

describe('FailoverCounterStore: refresh', () => {
  it('each grant is refreshed where it was issued; a failed primary refresh is an outage; none while down', async () => {
    const primary = new Flaky();
    const failures: FailoverOp[] = [];
    const ops: FailoverOp[] = [];
    const store = new FailoverCounterStore({
      primary,
      fallback: new MemoryCounterStore({ sweepIntervalMs: 0, concurrencyTtlSecs: 120 }),
      onFailure: (op) => failures.push(op),
      onOpFailure: (op) => ops.push(op),
      probe: async () => {
        throw new Error('still down');
      },
      probeIntervalMs: 10,
    });
    assert.equal(store.slotTtlMs, 120_000, 'the shorter TTL of the two (primary: 300 s)');
    const L = { concurrency: 5 };
    const p1 = await store.acquire({ key: 'k', limits: L, id: 'p1', reserveTokens: 0 });
    const plain = await store.acquire({ key: 'k', limits: { rpm: 5 }, id: 'p0', reserveTokens: 0 });
    assert.ok(p1.ok && plain.ok);
    await store.refresh([p1.grant, plain.grant]);
    assert.ok(primary.calls.includes('refresh:p1'), 'slot grants only');
    primary.broken = true;
    await store.refresh([p1.grant]);
    assert.equal(store.isDown, true);
    assert.deepEqual([failures, ops, store.failures.refresh], [['refresh'], ['refresh'], 1]);
    const f1 = await store.acquire({ key: 'k', limits: L, id: 'f1', reserveTokens: 0 });
    assert.ok(f1.ok);
    const before = primary.calls.length;
    await store.refresh([p1.grant, f1.grant]);
    assert.equal(primary.calls.length, before, 'while down the primary is not asked');
    assert.deepEqual(ops, ['refresh']);
    await store.close();
  });
});

describe('FailoverCounterStore: settles that failed during an outage', () => {
  it('releases the slot of a primary grant settled while down before calls return to the primary', async () => {
    const primary = new Flaky();
    let healthy = false;
    let recovered = 0;
    const store = new FailoverCounterStore({
      primary,
      fallback: new MemoryCounterStore({ sweepIntervalMs: 0 }),
      onRecover: () => recovered++,
      probe: async () => {
        if (!healthy) throw new Error('still down');
      },
      probeIntervalMs: 10,
    });
    const L = { concurrency: 1 };
    const held = await store.acquire({ key: 'k', limits: L, id: 'p1', reserveTokens: 0 });
    assert.ok(held.ok);
    primary.broken = true;
    // The holder's response ends while the primary is out of reach: its commit fails.
    await store.commit(held.grant, 5);
    assert.equal(store.isDown, true);
    // The primary answers the probe but not yet the replay: still down, nothing lost.
    healthy = true;
    await sleep(50);
    assert.equal(recovered, 0, 'no recovery while the replay fails');
    primary.broken = false;
    await sleep(50);
    assert.equal(recovered, 1);
    assert.ok(primary.calls.includes('release:p1'), 'the slot was released on the primary');
    const next = await store.acquire({ key: 'k', limits: L, id: 'p2', reserveTokens: 0 });
    assert.ok(next.ok, 'the slot is free again, not held until its TTL');
    await store.close();
  });
});

counterStoreContract('FailoverCounterStore (Redis up)', async () => {
  const h = await patientRedis();
  const fallback = new MemoryCounterStore({ concurrencyTtlSecs: 1, sweepIntervalMs: 0 });
  const store = new FailoverCounterStore({
    primary: new RedisCounterStore(h, { concurrencyTtlSecs: 1, prefix: 'fo-contract:' }),
    fallback,
    probe: () => h.ping(),
    onFailure: (op, err) => assert.fail(`unexpected failure in ${op}: ${String(err)}`),
  });
  return { store, concurrencyTtlSecs: 1, close: () => fallback.close() };
});

describe('FailoverCounterStore over a real Redis outage', () => {
  it('Redis killed mid-run: calls still succeed from memory, one onFailure, back to Redis after restart', async () => {
    const h = await redis();
    const failures: FailoverOp[] = [];
    let recovered = 0;
    const store = new FailoverCounterStore({
      primary: new RedisCounterStore(h, { prefix: 'fo:' }),
      fallback: new MemoryCounterStore({ sweepIntervalMs: 0 }),
      onFailure: (op) => failures.push(op),
      onRecover: () => recovered++,
      probe: () => h.ping(),
      probeIntervalMs: 50,
    });
    const L = { rpd: 1000, concurrency: 100 };
    const first = await store.acquire({ key: 'out', limits: L, id: 'a', reserveTokens: 0 });
    assert.ok(first.ok);
    assert.equal(await h.command('fo:rl:{out}:conc', ['ZCARD', 'fo:rl:{out}:conc']), 1);
    await (server as RedisProcess).kill();
    for (let i = 0; i < 20; i++) {
      const v = await store.acquire({ key: 'out', limits: L, id: `d${i}`, reserveTokens: 0 });
      assert.equal(v.ok, true);
    }
    await store.release(first.grant, false);
    assert.deepEqual(failures, ['acquire']);
    assert.equal(store.isDown, true);
    await (server as RedisProcess).restart();
    const deadline = Date.now() + 8000;
    while (recovered === 0 && Date.now() < deadline) await sleep(50);
    assert.equal(recovered, 1, 'recovered after the restart');
    const back = await store.acquire({ key: 'out', limits: L, id: 'b', reserveTokens: 0 });
    assert.ok(back.ok);
    // Served by the restarted (empty) Redis again.
    assert.deepEqual(await h.command('fo:rl:{out}:conc', ['ZRANGE', 'fo:rl:{out}:conc', '0', '-1']), ['b']);
    assert.deepEqual(failures, ['acquire']);
    await store.release(back.grant, false);
  });
});

/**
 * An acquire that times out is not cancelled on Redis: a paused server runs it when it resumes,
 * taking a slot (and a reservation) for a request that was served from memory and that nobody
 * will settle. With concurrency 1 that locked the key out until `concurrency_ttl_secs`. After
 * recovery the store must have undone it on Redis, by the grant id the gateway chose.
 */
describe('FailoverCounterStore: an acquire that timed out on a paused Redis', () => {
  let paused: RedisProcess | undefined;
  let h: RedisHandle | undefined;
  let pid = 0;
  after(async () => {
    if (pid > 0) process.kill(pid, 'SIGCONT');
    await h?.close();
    await paused?.stop();
  });

  it('SIGSTOP during an acquire, SIGCONT: its slot and reservation are freed at recovery, the limit stays exact', async () => {
    paused = await startRedis();
    const info = String(await redisCall(paused.port, ['INFO', 'server']));
    const serverPid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    assert.ok(serverPid > 0, 'redis-server pid');
    h = await connectRedis(redisConn({ url: paused.url }), { commandTimeoutMs: 300, onError: () => {} });
    const handle = h;
    let recovered = 0;
    const failures: FailoverOp[] = [];
    const store = new FailoverCounterStore({
      primary: new RedisCounterStore(handle, { prefix: 'fo-stop:', concurrencyTtlSecs: 300 }),
      fallback: new MemoryCounterStore({ sweepIntervalMs: 0 }),
      onFailure: (op) => failures.push(op),
      onRecover: () => recovered++,
      probe: () => handle.ping(),
      probeIntervalMs: 50,
    });
    const L = { concurrency: 1, tpm: 1000 };
    const conc = 'fo-stop:rl:{stop}:conc';
    const reservations = async () => {
      const keys = (await handle.command(undefined, ['KEYS', 'fo-stop:rl:{stop}:tpm_r:*'])) as string[];
      let sum = 0;
      for (const k of keys) sum += Number(await handle.command(k, ['GET', k]));
      return sum;
    };
    // Warm up (the script is loaded): one request through Redis, settled.
    const warm = await store.acquire({ key: 'stop', limits: L, id: 'warm', reserveTokens: 10 });
    assert.ok(warm.ok);
    await store.commit(warm.grant, 10);
    assert.equal(await handle.command(conc, ['ZCARD', conc]), 0);

    process.kill(serverPid, 'SIGSTOP');
    pid = serverPid;
    const lost = await store.acquire({ key: 'stop', limits: L, id: 'lost', reserveTokens: 50 });
    assert.ok(lost.ok, 'served by the fallback after the timeout');
    assert.equal(store.isDown, true);
    await store.release(lost.grant, false);
    process.kill(serverPid, 'SIGCONT');
    pid = 0;
    const deadline = Date.now() + 5000;
    while (recovered === 0 && Date.now() < deadline) await sleep(20);
    assert.equal(recovered, 1, 'recovered after SIGCONT');
    assert.deepEqual(failures, ['acquire']);

    assert.deepEqual(
      await handle.command(conc, ['ZRANGE', conc, '0', '-1']),
      [],
      'the slot the timed-out acquire took on Redis was released at recovery',
    );
    assert.equal(await reservations(), 0, 'and its token reservation');
    assert.equal(await handle.command(undefined, ['EXISTS', 'fo-stop:rl:{stop}:res:lost']), 0);
    // The limit is exact again: one in flight, the second refused, free after the release.
    const a = await store.acquire({ key: 'stop', limits: L, id: 'a', reserveTokens: 5 });
    assert.ok(a.ok, 'the slot is free after recovery, not after the 300 s TTL');
    const b = await store.acquire({ key: 'stop', limits: L, id: 'b', reserveTokens: 5 });
    assert.equal(b.ok, false, 'concurrency 1 holds');
    assert.equal(b.ok === false && b.reason, 'concurrency');
    await store.release(a.grant, false);
    const c = await store.acquire({ key: 'stop', limits: L, id: 'c', reserveTokens: 5 });
    assert.ok(c.ok);
    await store.commit(c.grant, 5);
    assert.equal(await handle.command(conc, ['ZCARD', conc]), 0);
    assert.equal(await reservations(), 0);
    assert.equal(store.isDown, false);
    await store.close();
  });
});
