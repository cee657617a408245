/**
 * The EVALSHA-then-EVAL call every topology uses: a server that has not seen the script
 * (restart, SCRIPT FLUSH, another cluster node) answers NOSCRIPT, and EVAL both runs and caches
 * it there.
 */
import { ErrorReply } from '@redis/client';
import type { LuaScript, RedisReply } from './types.js';

/** `send` must route both calls the same way (the first key's slot in a cluster). */
export async function runScript(
  send: (args: readonly string[]) => Promise<RedisReply>,
  s: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<RedisReply> {
  const n = String(keys.length);
  try {
    return await send(['EVALSHA', s.sha1, n, ...keys, ...args]);
  } catch (err) {
    if (err instanceof ErrorReply && err.message.startsWith('NOSCRIPT')) {
      return send(['EVAL', s.source, n, ...keys, ...args]);
    }
    throw err;
  }
}
