/**
 * @aisix/limits: the rate-limit engine (data-plane §9). The planner turns a config snapshot
 * into the bucket list of each request; counter stores (memory, Redis, the pod-shared store
 * behind node:cluster workers, and the fail-open wrapper) count; the limiter acquires a
 * request's buckets all-or-nothing. HTTP, headers and 429 envelopes are the gateway's.
 */
export type { ConditionDim, DimValues } from './conditions.js';
export { estimateTokens } from './estimate.js';
export { FailoverCounterStore, type FailoverOp, type FailoverOptions } from './failover-store.js';
export {
  Admission,
  Limiter,
  type LimiterOp,
  type LimiterOptions,
  type LimitRefusal,
  type LimitResult,
  tightestState,
} from './limiter.js';
export { MemoryCounterStore, type MemoryCounterStoreOptions } from './memory-store.js';
export { compileLimitPlan, type LimitPlan, type ModelFacts, type RequestFacts } from './plan.js';
export { RedisCounterStore, type RedisCounterStoreOptions } from './redis-store.js';
export {
  CounterStoreServer,
  type CounterStoreServerOptions,
  ipcChannel,
  type MessageChannel,
  RemoteCounterStore,
  type RemoteCounterStoreOptions,
  serveCounterStore,
} from './shared-store.js';
export * from './types.js';
export { secsLeft, windowStart } from './windows.js';
