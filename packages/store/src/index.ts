export { auditPrefixFor } from './audit-keys.js';
export { configMetricsText } from './config-metrics.js';
export * from './config-sync.js';
export * from './embedded/index.js';
export * from './etcd/index.js';
export * from './snapshot-cache.js';
export * from './types.js';
export * from './watch-loop.js';
