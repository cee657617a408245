/**
 * @aisix/redis: one `RedisHandle` over whatever Redis topology config.yaml names (single,
 * cluster, sentinel), used by rate limits and the response cache.
 */
export { RedisTimeoutError } from './common.js';
export { type ConnectOptions, connectRedis } from './connect.js';
export { luaScript } from './script.js';
export type { LuaScript, RedisHandle, RedisReply } from './types.js';
