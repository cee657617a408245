/**
 * @aisix/redis: one `RedisHandle` over whatever Redis topology config.yaml names (single,
 * cluster, sentinel), used by rate limits and the response cache.
 *
 * node-redis (~3 MB of heap once loaded) is imported with the first connection, not with this
 * module: the stores and the CLI import it at startup whether or not a Redis is configured.
 */
import type { RedisConnConfig } from '@aisix/core';
import type { ConnectOptions } from './common.js';
import type { RedisHandle } from './types.js';

export { luaScript } from './lua.js';
export type { LuaScript, RedisHandle, RedisReply } from './types.js';
export type { ConnectOptions };

/** See `connect.ts`. */
export async function connectRedis(conf: RedisConnConfig, opts: ConnectOptions = {}): Promise<RedisHandle> {
  const { connectRedis: connect } = await import('./connect.js');
  return connect(conf, opts);
}
