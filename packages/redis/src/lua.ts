/**
 * Lua scripts with their digest computed once (EVALSHA needs the SHA-1 of the source). Kept
 * apart from the client code: the stores that declare scripts load at startup, node-redis only
 * with the first connection.
 */
import { createHash } from 'node:crypto';
import type { LuaScript } from './types.js';

export function luaScript(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}
