export * from './etcd.js';
export * from './ports.js';
export * from './tcp-proxy.js';
export * from './tls.js';
