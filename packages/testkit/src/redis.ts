/**
 * Real Redis servers for tests (Debian's `redis-server`): `startRedis` runs one on a free
 * loopback port with persistence off. A missing binary fails the test, never a silent pass.
 * Cluster and sentinel deployments: `redis-cluster.ts`, `redis-sentinel.ts`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisConnConfig } from '@aisix/core';
import { freePort } from './ports.js';
import { serverProc, trackDir } from './redis-proc.js';

export { waitRedis } from './redis-proc.js';

/**
 * A RedisConn (config.yaml's Redis connection, what `connectRedis` takes) with every field
 * unset but `over`: one server at `url` is `redisConn({ url })`.
 */
export const redisConn = (over: Partial<RedisConnConfig>): RedisConnConfig => ({
  mode: 'single',
  url: undefined,
  nodes: [],
  sentinels: [],
  master_name: undefined,
  username: undefined,
  password: undefined,
  database: undefined,
  tls: undefined,
  ...over,
});

export interface RedisProcess {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Send a signal (default SIGKILL) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port; resolves once it answers PING. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `args` are extra redis-server flags (e.g. `--requirepass s3cret`, `--tls-port ...`). */
export async function startRedis(opts: { args?: readonly string[] } = {}): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aisix-redis-'));
  const removeDir = trackDir(dir);
  const proc = serverProc(port, ['--dir', dir, ...(opts.args ?? [])]);
  try {
    await proc.start();
  } catch (err) {
    removeDir();
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: (signal) => proc.kill(signal),
    restart: () => proc.start(),
    async stop() {
      await proc.kill();
      removeDir();
    },
  };
}
