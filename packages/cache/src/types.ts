/**
 * The response-cache vocabulary: what a cached answer is, the store interface every backend
 * implements (bounded in-process LRU with TTL, Redis), and a compiled cache policy.
 *
 * An entry is the answer exactly as the caller received it: a JSON body, or the bytes of an
 * SSE stream in the caller's dialect (replayed as they were sent). Keys are fingerprints
 * (`fingerprint.ts`); stores never interpret them.
 */

/** Token counts of the answer that produced the entry (what a hit saves). */
export interface CachedUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

export interface CacheEntry {
  /** `json`: one JSON body; `sse`: a recorded event stream, replayed byte for byte. */
  readonly kind: 'json' | 'sse';
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly usage?: CachedUsage | undefined;
  /** Unix ms when stored. */
  readonly storedAt: number;
}

export interface CacheHit {
  readonly entry: CacheEntry;
  /** Seconds of life left (semantic back-fill caps the exact entry's TTL with it). */
  readonly ttlLeftSecs: number;
}

/** A cache backend. Errors reject; callers treat them as a miss (never fail a request). */
export interface CacheStore {
  get(key: string): Promise<CacheHit | undefined>;
  /** Stores with a TTL in whole seconds (>= 1). */
  set(key: string, entry: CacheEntry, ttlSecs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export interface SemanticSettings {
  /** Alias of the embedding model (resolved per request in the snapshot). */
  readonly embeddingModel: string;
  /** Cosine similarity at or above which a neighbour is a hit (0..1). */
  readonly threshold: number;
  /** 0 / undefined = the gateway's default deadline (5 s). */
  readonly embeddingTimeoutMs: number | undefined;
  /** Vectors kept per policy (memory backend). */
  readonly maxEntries: number;
}

export type AppliesTo =
  | { readonly kind: 'all' }
  | { readonly kind: 'model'; readonly alias: string }
  | { readonly kind: 'api_key'; readonly id: string };

/** One enabled `cache_policies` row, compiled. */
export interface CompiledCachePolicy {
  readonly id: string;
  readonly name: string;
  readonly appliesTo: AppliesTo;
  readonly ttlSecs: number;
  readonly backend: 'memory' | 'redis';
  readonly scope: 'api_key' | 'env';
  readonly purgeGeneration: number;
  readonly semantic: SemanticSettings | undefined;
}
