/**
 * What the rest of the gateway needs from a Redis deployment, whatever its topology (one
 * server, a cluster, a sentinel-managed master): commands routed by key, Lua scripts run by
 * digest, a liveness probe. Rate limits and the response cache are written against this
 * interface only, so they never see which client library or topology is underneath.
 *
 * Failure model: every call rejects fast while the connection is down (no offline queue) and
 * within `commandTimeoutMs` when the server stops answering, so callers can fail open to
 * local state without holding a request. The client reconnects in the background.
 */

/** A reply as RESP2/3 decodes it: strings, integers, nil, arrays of those. */
export type RedisReply = string | number | null | RedisReply[];

/** A Lua script: its source and SHA-1 digest (computed once by `luaScript`). */
export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

export interface RedisHandle {
  /**
   * `single redis://host:port`, `cluster 3 seed nodes (h:p,...)`, `sentinel <master> via h:p,...`:
   * never credentials.
   */
  readonly describe: string;
  /**
   * Runs one command. `key` routes it in a cluster (the key's hash slot); undefined = any node.
   * Arguments are strings; replies are decoded as strings/integers/arrays.
   */
  command(key: string | undefined, args: readonly string[]): Promise<RedisReply>;
  /**
   * Runs a script by digest (EVALSHA), loading it on NOSCRIPT (EVAL). All `keys` must share a
   * hash slot in a cluster (use one `{hash tag}`); the first key routes the call.
   */
  script(s: LuaScript, keys: readonly string[], args: readonly string[]): Promise<RedisReply>;
  /** PING through the routing of `key` (any node when undefined); rejects when down. */
  ping(key?: string): Promise<void>;
  /** True while the client believes it is connected (a hint; calls can still fail). */
  readonly ready: boolean;
  /** Closes every connection; later calls reject. */
  close(): Promise<void>;
}
