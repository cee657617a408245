/**
 * Everything of `@aisix/store` except the etcd backend (`etcd3` + gRPC, ~25 MB of RSS once
 * loaded). Processes that are not configured for etcd import this entry point and load the
 * etcd backend with a dynamic `import('@aisix/store')` only when they need it. The exports are
 * the very same objects as the main entry's (one module graph), so `instanceof` still holds.
 */
export { configMetricsText } from './config-metrics.js';
export * from './config-sync.js';
export * from './embedded/index.js';
export * from './snapshot-cache.js';
export * from './types.js';
export * from './watch-loop.js';
