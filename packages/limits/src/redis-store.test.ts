/**
 * RedisCounterStore on a real redis-server: the shared contract (server clock, so window
 * resets are checked with 1-second windows), the key layout of data-plane §9.7 (hash-tagged
 * keys, TTL window + 5 s, reservation keys, the slot sorted set, the env prefix), the
 * never-negative reservation counter, and the loopback latency of acquire + commit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { type RedisProcess, redisConn, startRedis } from '@aisix/testkit';
import { counterStoreContract } from './contract/index.js';
import { RedisCounterStore } from './redis-store.js';
import type { Grant } from './types.js';

let server: RedisProcess | undefined;
let handle: RedisHandle | undefined;

async function shared(): Promise<RedisHandle> {
  if (handle !== undefined) return handle;
  server = await startRedis();
  handle = await connectRedis(redisConn({ url: server.url }));
  return handle;
}

after(async () => {
  await handle?.close();
  await server?.stop();
});

counterStoreContract('RedisCounterStore (single server)', async () => {
  const redis = await shared();
  const store = new RedisCounterStore(redis, { concurrencyTtlSecs: 1 });
  return { store, concurrencyTtlSecs: 1, close: () => store.close() };
});

describe('RedisCounterStore keys and latency', () => {
  let redis: RedisHandle;
  before(async () => {
    redis = await shared();
  });
  const cmd = (...args: string[]) => redis.command(args[1], args);

  it('keys are <prefix>rl:{<bucket>}:<dim>:<window_start>, TTL window + 5 s, env prefix honoured', async () => {
    const store = new RedisCounterStore(redis, { prefix: 'aisix:env1:' });
    const v = await store.acquire({
      key: 'team:a',
      limits: { rpm: 5, tpm: 100, concurrency: 3 },
      id: 'g1',
      reserveTokens: 7,
    });
    assert.ok(v.ok);
    const start = v.grant.requestWindows.rpm as number;
    const base = 'aisix:env1:rl:{team:a}';
    assert.equal(await cmd('GET', `${base}:rpm:${start}`), '1');
    const ttl = (await cmd('TTL', `${base}:rpm:${start}`)) as number;
    assert.ok(ttl > 60 && ttl <= 65, `ttl ${ttl}`);
    assert.equal(await cmd('GET', `${base}:tpm_r:${start}`), '7');
    assert.deepEqual(await cmd('ZRANGE', `${base}:conc`, '0', '-1'), ['g1']);
    assert.ok(((await cmd('PTTL', `${base}:conc`)) as number) > 300_000);
    await store.commit(v.grant, 40);
    assert.equal(await cmd('GET', `${base}:tpm:${start}`), '40');
    assert.equal(await cmd('EXISTS', `${base}:tpm_r:${start}`), 0);
    assert.equal(await cmd('ZCARD', `${base}:conc`), 0);
  });

  it('the reservation counter never goes negative, even when its key is gone', async () => {
    const store = new RedisCounterStore(redis);
    const a = await store.acquire({ key: 'neg', limits: { tpm: 100 }, id: 'a', reserveTokens: 30 });
    const b = await store.acquire({ key: 'neg', limits: { tpm: 100 }, id: 'b', reserveTokens: 30 });
    assert.ok(a.ok && b.ok);
    const rk = `aisix:rl:{neg}:tpm_r:${a.grant.tokenWindows.tpm}`;
    await cmd('SET', rk, '10');
    await store.release(a.grant, false);
    assert.equal(await cmd('EXISTS', rk), 0, 'dropped, not set to -20');
    await store.commit(b.grant, 5);
    assert.equal(await cmd('EXISTS', rk), 0, 'not recreated by a DECRBY on a missing key');
  });

  it('a bucket name with braces keeps all its keys in one slot (same leading hash tag)', async () => {
    const store = new RedisCounterStore(redis);
    const v = await store.acquire({
      key: 'x}y{z',
      limits: { rps: 1, concurrency: 1 },
      id: 'a',
      reserveTokens: 0,
    });
    assert.ok(v.ok);
    await store.release(v.grant, true);
    assert.equal(await cmd('ZCARD', 'aisix:rl:{x}y{z}:conc'), 0);
  });

  it('acquire + commit latency on loopback', async () => {
    const store = new RedisCounterStore(redis);
    const limits = { rpm: 1e9, tpm: 1e12, concurrency: 1e6 };
    const run = async (n: number) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const v = await store.acquire({ key: 'lat', limits, id: `g${i}`, reserveTokens: 100 });
        await store.commit((v as { grant: Grant }).grant, 50);
      }
      return Number(process.hrtime.bigint() - t0) / 1000 / n;
    };
    await run(200);
    const us = await run(2000);
    console.log(`# redis store acquire+commit (sequential, loopback): ${us.toFixed(0)} µs`);
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 2000 }, async (_, i) => {
        const v = await store.acquire({ key: `p${i & 15}`, limits, id: `q${i}`, reserveTokens: 100 });
        await store.commit((v as { grant: Grant }).grant, 50);
      }),
    );
    const per = Number(process.hrtime.bigint() - t0) / 1000 / 2000;
    console.log(`# redis store acquire+commit (2000 in parallel): ${per.toFixed(1)} µs per pair`);
    assert.ok(us < 5000);
  });
});
