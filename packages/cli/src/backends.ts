/**
 * The state backends of a proxy process, picked from config.yaml (control-plane §1.8): where
 * rate-limit counters live and which response-cache stores exist.
 *
 * - `ratelimit.backend: memory` (default): counters in this process, or, with
 *   `proxy.workers` > 1, in the primary, which every worker asks over the cluster IPC channel
 *   (`cluster-limits.ts`): one pod enforces each limit once, not once per worker.
 * - `ratelimit.backend: redis`: one cluster-wide window per bucket on Redis (server clock),
 *   failing open to the local counters while Redis is unreachable (one log line per outage,
 *   `aisix_redis_failures_total` per failed call), back to Redis once the node that failed
 *   answers (a keyed read routed like the failed call).
 * - The memory cache always exists; a Redis cache exists iff `cache.redis` is set. When
 *   `cache.redis` and `ratelimit.redis` are the same connection, one client serves both.
 *
 * A Redis that cannot be reached at boot is a boot failure (exit 1, control-plane §1.8).
 */
import { isDeepStrictEqual } from 'node:util';
import { MemoryCacheStore, RedisCacheStore } from '@aisix/cache';
import type { Config, RedisConnConfig } from '@aisix/core';
import {
  type CounterStore,
  FailoverCounterStore,
  MemoryCounterStore,
  RedisCounterStore,
} from '@aisix/limits';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import type { Logger } from 'pino';
import { BootError } from './resources.js';

/** Where Redis failures are counted once the gateway (and its metrics) exists. */
export interface FailureSink {
  redisFailure(operation: string): void;
}

export interface Backends {
  readonly rateLimitStore: CounterStore;
  readonly cacheStores: { readonly memory: MemoryCacheStore; readonly redis?: RedisCacheStore | undefined };
  /** For the startup line: which backend, never credentials. */
  readonly describe: Record<string, string>;
  attachMetrics(sink: FailureSink): void;
  close(): Promise<void>;
}

/** `aisix:` or `aisix:<env_id>:`, so environments sharing one Redis never share keys. */
export function redisKeyPrefix(envId: string | undefined): string {
  return envId !== undefined && envId !== '' ? `aisix:${envId}:` : 'aisix:';
}

async function connect(key: string, conf: RedisConnConfig, logger: Logger): Promise<RedisHandle> {
  // control-plane §1.9: `verify: false` accepts any certificate, with a logged warning.
  if (conf.tls?.verify === false)
    logger.warn(`${key}.tls.verify is false: the Redis server's certificate is not verified`);
  let errors = 0;
  try {
    return await connectRedis(conf, {
      onError: (err) => {
        // The client reconnects by itself; the fail-open store reports outages. This only keeps
        // a record of connection errors without one line per retry.
        if (errors++ % 100 === 0)
          logger.debug({ redis: key, err: err.message, errors }, 'redis connection error');
      },
    });
  } catch (err) {
    throw new BootError(`Error: ${key}: cannot connect: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Opens the backends. `local` replaces this process's memory counters (a cluster worker passes
 * the primary's pod-shared store).
 */
export async function openBackends(config: Config, logger: Logger, local?: CounterStore): Promise<Backends> {
  let sink: FailureSink | undefined;
  const handles: RedisHandle[] = [];
  const owned: { close(): Promise<void> }[] = [];
  const rl = config.ratelimit;
  const ttl = rl.concurrency_ttl_secs;
  const prefix = redisKeyPrefix(config.etcd.env_id);
  const describe: Record<string, string> = {};
  try {
    let localStore = local;
    if (localStore === undefined) {
      localStore = new MemoryCounterStore({ concurrencyTtlSecs: ttl });
      owned.push(localStore);
    }
    let rateLimitStore: CounterStore = localStore;
    let rlHandle: RedisHandle | undefined;
    describe.ratelimit = local !== undefined ? 'memory (pod-shared)' : 'memory';
    if (rl.backend === 'redis' && rl.redis !== undefined) {
      const h = await connect('ratelimit.redis', rl.redis, logger);
      rlHandle = h;
      handles.push(h);
      describe.ratelimit = `redis ${h.describe}`;
      const primary = new RedisCounterStore(h, { prefix, concurrencyTtlSecs: ttl });
      rateLimitStore = new FailoverCounterStore({
        primary,
        fallback: localStore,
        // A keyed read on the node of the bucket whose call failed: on a cluster a bare PING
        // is answered by any live master while the failed slot range is still down.
        probe: (bucket) => primary.probe(bucket),
        onFailure: (op, err) =>
          logger.warn(
            { op, err: err instanceof Error ? err.message : String(err) },
            'redis unreachable: rate limits fall back to local counters until it answers',
          ),
        onOpFailure: (op) => sink?.redisFailure(`ratelimit_${op}`),
        onRecover: () => logger.info('redis reachable again: rate limits use the shared counters'),
      });
    }
    const memory = new MemoryCacheStore();
    owned.push(memory);
    let redis: RedisCacheStore | undefined;
    const c = config.cache.redis;
    if (c !== undefined) {
      const same = rlHandle !== undefined && rl.redis !== undefined && isDeepStrictEqual(c, rl.redis);
      let h = same ? rlHandle : undefined;
      if (h === undefined) {
        h = await connect('cache.redis', c, logger);
        handles.push(h);
      }
      redis = new RedisCacheStore(h, { namespace: config.etcd.env_id || 'default' });
      describe.cache = `memory + redis ${h.describe}`;
    } else describe.cache = 'memory';
    return {
      rateLimitStore,
      cacheStores: { memory, redis },
      describe,
      attachMetrics(s) {
        sink = s;
      },
      async close() {
        await Promise.allSettled([rateLimitStore.close(), ...owned.map((o) => o.close())]);
        await Promise.allSettled(handles.map((h) => h.close()));
      },
    };
  } catch (err) {
    await Promise.allSettled([...owned.map((o) => o.close()), ...handles.map((h) => h.close())]);
    throw err;
  }
}
