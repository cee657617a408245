/**
 * The CacheStore contract against every backend: the memory store (injected clock, no sleeps)
 * and the Redis store on a real redis-server (real time, 1-2 s TTLs).
 */
import { connectRedis } from '@aisix/redis';
import { redisConn, startRedis } from '@aisix/testkit';
import { MemoryCacheStore } from '../memory-store.js';
import { RedisCacheStore } from '../redis-store.js';
import { cacheStoreContract } from './index.js';

cacheStoreContract('memory', async () => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  return {
    // Separate instances: a memory store's namespace is its process-local instance.
    open: (_ns, opts) => new MemoryCacheStore({ now: clock, ...opts }),
    advance: (ms) => {
      now += ms;
    },
    close: async () => {},
  };
});

cacheStoreContract('redis (single)', async () => {
  const server = await startRedis();
  const handle = await connectRedis(redisConn({ url: server.url }));
  return {
    open: (ns, opts) => new RedisCacheStore(handle, { namespace: ns, ...opts }),
    close: async () => {
      await handle.close();
      await server.stop();
    },
  };
});
