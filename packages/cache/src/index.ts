/**
 * @aisix/cache: the response-cache engine (data-plane §10): policy selection, cache keys, the
 * memory and Redis stores, the semantic vector index. Pure logic and stores; the gateway decides
 * when to look up, sets headers, replays SSE and calls the embedding model.
 */
export { bodyBytes, DEFAULT_MAX_ENTRY_BYTES } from './entry.js';
export {
  type CacheKeyInput,
  cacheKey,
  type EmbeddingIdentity,
  type EndpointFamily,
  LOCAL_KEY_MAX_CHARS,
  localCacheKey,
  scopeKey,
  semanticText,
} from './fingerprint.js';
export { type MemoryCacheStats, MemoryCacheStore, type MemoryCacheStoreOptions } from './memory-store.js';
export { type CachePlan, compileCachePlan, parseAppliesTo } from './policy.js';
export { probeVectorSearch, RedisCacheStore, type RedisCacheStoreOptions } from './redis-store.js';
export { SemanticIndex, type SemanticMatch } from './semantic.js';
export type * from './types.js';
