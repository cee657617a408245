/**
 * `connectRedis`: a `RedisHandle` for the `RedisConnConfig` of config.yaml (control-plane
 * §1.8), whatever the topology: `single` (url), `cluster` (nodes), `sentinel` (sentinels +
 * master_name). Fail-fast by construction in every mode: no offline queue (a call while
 * disconnected rejects at once), a per-command deadline, background reconnects with capped
 * backoff, connection errors to `onError` (never an unhandled 'error' event). Boot is strict:
 * the promise rejects when the first connection cannot be made within `connectTimeoutMs`,
 * with a message naming the mode and address, never a credential.
 */
import type { RedisConnConfig } from '@aisix/core';
import { connectCluster } from './cluster.js';
import { type ConnectOptions, resolveOptions } from './common.js';
import { connectSentinel } from './sentinel.js';
import { connectSingle } from './single.js';
import type { RedisHandle } from './types.js';

export type { ConnectOptions } from './common.js';

export async function connectRedis(conf: RedisConnConfig, opts: ConnectOptions = {}): Promise<RedisHandle> {
  const c = resolveOptions(opts);
  switch (conf.mode) {
    case 'single':
      return connectSingle(conf, c);
    case 'cluster':
      return connectCluster(conf, c);
    case 'sentinel':
      return connectSentinel(conf, c);
    default:
      throw new Error(`redis: unknown mode ${String((conf as { mode: unknown }).mode)}`);
  }
}
