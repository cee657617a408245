/**
 * The CacheStore contract on a real 3-master Redis Cluster (testkit `startRedisCluster`) through
 * `connectRedis` in cluster mode. Every store operation touches exactly one key (GET+PTTL run as
 * one single-key script), so entries spread over all masters; one case checks that they do.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { type RedisClusterProcess, redisCall, redisConn, startRedisCluster } from '@aisix/testkit';
import { RedisCacheStore } from '../redis-store.js';
import { cacheStoreContract } from './index.js';

let cluster: RedisClusterProcess | undefined;
let handle: RedisHandle | undefined;

/** One cluster for the whole file (creating one takes a second or two). */
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

cacheStoreContract('redis (3-master cluster)', async () => {
  const redis = await shared();
  return {
    open: (ns, opts) => new RedisCacheStore(redis, { namespace: ns, ...opts }),
    close: async () => {},
  };
});

describe('RedisCacheStore on a cluster', () => {
  it('entries land on different masters and read back through the routing', async () => {
    const redis = await shared();
    const store = new RedisCacheStore(redis, { namespace: 'spread' });
    const c = cluster as RedisClusterProcess;
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const fp = `fp-${i}`;
      await store.set(
        fp,
        { kind: 'json', status: 200, contentType: 'application/json', body: `{"i":${i}}`, storedAt: i },
        60,
      );
      assert.equal((await store.get(fp))?.entry.body, `{"i":${i}}`);
      let found = 0;
      for (const port of c.ports) {
        const n = await redisCall(port, ['EXISTS', store.redisKey(fp)]).catch(() => 0);
        if (n === 1) {
          owners.add(port);
          found++;
        }
      }
      assert.equal(found, 1, `${fp} stored on exactly one master`);
    }
    assert.equal(owners.size, 3, 'twelve entries use all three masters');
  });
});
