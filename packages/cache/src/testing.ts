/** Test-only helpers shared by this package's test files (not exported from the package). */
import type { RedisConnConfig } from '@aisix/core';

/** config.yaml's RedisConn for one server at `url` (what `connectRedis` takes). */
export const singleRedisConn = (url: string): RedisConnConfig => ({
  mode: 'single',
  url,
  nodes: [],
  sentinels: [],
  master_name: undefined,
  username: undefined,
  password: undefined,
  database: undefined,
  tls: undefined,
});
