export * from './etcd.js';
export * from './ports.js';
export * from './redis.js';
export * from './redis-cluster.js';
export * from './redis-resp.js';
export * from './redis-sentinel.js';
export * from './tcp-proxy.js';
export * from './tls.js';
