/**
 * `RedisCacheStore`: the shared backend, so every replica answers from the same entries.
 *
 * Key `<prefix>cache:<namespace>:<fingerprint>` (prefix `aisix:` by default, namespace = the
 * environment id or `default`): several environments, or a cache and rate limits, can share one
 * Redis without seeing each other's keys. One key per entry means cluster routing is by that
 * key alone, and Redis expires entries itself (`SET … PX`).
 *
 * The value is compact JSON with short field names and a version field. A read is one round
 * trip (a Lua script returning the value and its PTTL together, so the TTL belongs to the value
 * that was read). Anything that does not decode as our entry is a miss and is deleted, so a
 * corrupt or foreign value cannot be served nor linger.
 */
import { luaScript, type RedisHandle, type RedisReply } from '@aisix/redis';
import { bodyBytes, DEFAULT_MAX_ENTRY_BYTES, secsLeft, ttlMs } from './entry.js';
import type { CachedUsage, CacheEntry, CacheHit, CacheStore } from './types.js';

export interface RedisCacheStoreOptions {
  /** Key prefix (default `aisix:`). */
  readonly prefix?: string;
  /** The environment id, or `default` (default). */
  readonly namespace?: string;
  /** Bodies larger than this (UTF-8 bytes) are not stored (default 1 MiB). */
  readonly maxEntryBytes?: number;
}

/** GET and PTTL of one key, atomically: `nil` or `{value, pttl}`. */
const GET_WITH_TTL = luaScript(
  "local v = redis.call('GET', KEYS[1])\n" +
    'if not v then return nil end\n' +
    "return {v, redis.call('PTTL', KEYS[1])}\n",
);

/** Stored shape (format version 1): short names keep the per-entry overhead small. */
interface Wire {
  readonly v: 1;
  readonly k: 'json' | 'sse';
  readonly s: number;
  readonly c: string;
  readonly b: string;
  /** prompt, completion, total tokens */
  readonly u?: readonly [number, number, number];
  readonly t: number;
}

function encode(e: CacheEntry): string {
  const w: Wire = {
    v: 1,
    k: e.kind,
    s: e.status,
    c: e.contentType,
    b: e.body,
    ...(e.usage !== undefined
      ? { u: [e.usage.prompt_tokens, e.usage.completion_tokens, e.usage.total_tokens] as const }
      : {}),
    t: e.storedAt,
  };
  // JSON.stringify escapes lone surrogates (\udXXX), so even such a body survives the UTF-8
  // round trip through Redis unchanged.
  return JSON.stringify(w);
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function decode(raw: string): CacheEntry | undefined {
  let w: unknown;
  try {
    w = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof w !== 'object' || w === null) return undefined;
  const o = w as Record<string, unknown>;
  if (o.v !== 1 || (o.k !== 'json' && o.k !== 'sse') || !isNum(o.s) || !isNum(o.t)) return undefined;
  if (typeof o.c !== 'string' || typeof o.b !== 'string') return undefined;
  let usage: CachedUsage | undefined;
  if (o.u !== undefined) {
    const u = o.u;
    if (!Array.isArray(u) || u.length !== 3) return undefined;
    const [p, c, t] = u as unknown[];
    if (!isNum(p) || !isNum(c) || !isNum(t)) return undefined;
    usage = { prompt_tokens: p, completion_tokens: c, total_tokens: t };
  }
  return { kind: o.k, status: o.s, contentType: o.c, body: o.b, usage, storedAt: o.t };
}

export class RedisCacheStore implements CacheStore {
  private readonly keyPrefix: string;
  private readonly maxEntryBytes: number;

  constructor(
    private readonly redis: RedisHandle,
    opts: RedisCacheStoreOptions = {},
  ) {
    this.keyPrefix = `${opts.prefix ?? 'aisix:'}cache:${opts.namespace ?? 'default'}:`;
    this.maxEntryBytes = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
  }

  /** The Redis key of a fingerprint (diagnostics, tests). */
  redisKey(fingerprint: string): string {
    return this.keyPrefix + fingerprint;
  }

  async get(key: string): Promise<CacheHit | undefined> {
    const k = this.redisKey(key);
    const reply = await this.redis.script(GET_WITH_TTL, [k], []);
    if (reply === null) return undefined;
    const [raw, pttl] = Array.isArray(reply) ? reply : [];
    const entry = typeof raw === 'string' ? decode(raw) : undefined;
    // Our SETs always carry PX: a value without a TTL (-1) is not ours either.
    if (entry === undefined || typeof pttl !== 'number' || pttl <= 0) {
      await this.redis.command(k, ['DEL', k]);
      return undefined;
    }
    return { entry, ttlLeftSecs: secsLeft(pttl) };
  }

  async set(key: string, entry: CacheEntry, ttlSecs: number): Promise<void> {
    const ms = ttlMs(ttlSecs);
    const k = this.redisKey(key);
    if (ms === undefined || bodyBytes(entry) > this.maxEntryBytes) {
      // Like the memory store: a rejected overwrite leaves no stale answer behind.
      await this.redis.command(k, ['DEL', k]);
      return;
    }
    await this.redis.command(k, ['SET', k, encode(entry), 'PX', String(ms)]);
  }

  async delete(key: string): Promise<void> {
    const k = this.redisKey(key);
    await this.redis.command(k, ['DEL', k]);
  }

  /** The handle is shared (rate limits may use it too): its owner closes it. */
  async close(): Promise<void> {}
}

/** Every string in a reply, depth first (MODULE LIST is an array of name/value arrays or maps). */
function* strings(r: RedisReply): Generator<string> {
  if (typeof r === 'string') yield r;
  else if (Array.isArray(r)) for (const x of r) yield* strings(x);
}

/**
 * Whether the server offers vector search (RediSearch / Redis Stack / a compatible module),
 * which a Redis-backed semantic layer needs. `MODULE LIST` first (a module named `search` or
 * `ft`); when that command is unavailable (managed services often rename it) or lists no such
 * module, `FT._LIST` succeeding is proof enough. Never rejects: unknown = false.
 */
export async function probeVectorSearch(handle: RedisHandle): Promise<boolean> {
  try {
    const list = await handle.command(undefined, ['MODULE', 'LIST']);
    let prev = '';
    for (const s of strings(list)) {
      const name = s.toLowerCase();
      if (prev === 'name' && (name === 'search' || name === 'ft' || name === 'searchlight')) return true;
      prev = name;
    }
  } catch {
    // fall through to FT._LIST
  }
  try {
    await handle.command(undefined, ['FT._LIST']);
    return true;
  } catch {
    return false;
  }
}
