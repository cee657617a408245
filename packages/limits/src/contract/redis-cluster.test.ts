/**
 * The counter-store contract on a real 3-master Redis Cluster (testkit `startRedisCluster`),
 * through `connectRedis` in cluster mode: every script touches only keys of one `{<bucket>}`
 * hash tag, so each bucket's acquire/commit/release runs on the node owning that slot. Buckets
 * of the suite spread over all three masters; one case checks that they really do.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { type RedisClusterProcess, redisCall, redisConn, startRedisCluster } from '@aisix/testkit';
import { RedisCounterStore } from '../redis-store.js';
import { counterStoreContract } from './index.js';

let cluster: RedisClusterProcess | undefined;
let handle: RedisHandle | undefined;

async function shared(): Promise<RedisHandle> {
  if (handle !== undefined) return handle;
  cluster = await startRedisCluster({ masters: 3 });
  handle = await connectRedis(redisConn({ mode: 'cluster', nodes: [...cluster.nodes] }));
  return handle;
}

after(async () => {
  await handle?.close();
  await cluster?.stop();
});

counterStoreContract('RedisCounterStore (3-master cluster)', async () => {
  const redis = await shared();
  const store = new RedisCounterStore(redis, { concurrencyTtlSecs: 1, prefix: 'aisix:cl:' });
  return { store, concurrencyTtlSecs: 1, close: () => store.close() };
});

describe('RedisCounterStore on a cluster', () => {
  it('buckets land on different masters and each keeps all its keys on its own node', async () => {
    const redis = await shared();
    const store = new RedisCounterStore(redis);
    const c = cluster as RedisClusterProcess;
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const key = `spread-${i}`;
      const v = await store.acquire({
        key,
        limits: { rpm: 5, tpm: 50, concurrency: 2 },
        id: `g${i}`,
        reserveTokens: 3,
      });
      assert.ok(v.ok);
      const base = store.keyBase(key);
      const rpm = `${base}:rpm:${v.grant.requestWindows.rpm}`;
      for (const port of c.ports) {
        const n = await redisCall(port, [
          'EXISTS',
          rpm,
          `${base}:tpm_r:${v.grant.tokenWindows.tpm}`,
          `${base}:conc`,
        ]).catch(() => 0);
        if (n === 3) owners.add(port);
        else assert.ok(n === 0, `keys of ${key} split across nodes`);
      }
      await store.commit(v.grant, 4);
    }
    assert.equal(owners.size, 3, 'twelve buckets use all three masters');
  });
});
