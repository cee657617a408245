/**
 * A real Redis Cluster for tests: N masters, no replicas, on free loopback ports, created with
 * `redis-cli --cluster create` and returned once every node reports `cluster_state:ok`.
 *
 * Each node's cluster bus gets its own free port (`--cluster-port`, Redis >= 7) rather than
 * the default port+10000, which could land in the kernel's ephemeral range and collide with a
 * client socket of a parallel test. `kill(i)` / `restart(i)` take one master down and bring it
 * back on the same ports with the same nodes.conf, so it rejoins with its slots (its data is
 * gone: persistence is off). Needs `redis-server` and `redis-cli` (Debian: redis-server).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import { type ServerProc, serverProc, trackDir } from './redis-proc.js';
import { redisCall } from './redis-resp.js';

const run = promisify(execFile);

export interface RedisClusterProcess {
  /** `127.0.0.1:<port>` of each master, in creation order. */
  readonly nodes: readonly string[];
  /** `redis://127.0.0.1:<port>` of each master. */
  readonly urls: readonly string[];
  readonly ports: readonly number[];
  /** SIGKILLs master `i` (default signal) and waits for the exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts master `i` again; resolves once every node reports `cluster_state:ok`. */
  restart(i: number): Promise<void>;
  /** Index (into `nodes`) of the master serving `key`'s hash slot. */
  ownerOf(key: string): Promise<number>;
  /** Resolves once every running node reports `cluster_state:ok`. */
  waitOk(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function clusterOk(port: number): Promise<boolean> {
  const info = await redisCall(port, ['CLUSTER', 'INFO'], 500).catch(() => '');
  return typeof info === 'string' && info.includes('cluster_state:ok');
}

export async function startRedisCluster(
  opts: { masters?: number; nodeTimeoutMs?: number; args?: readonly string[] } = {},
): Promise<RedisClusterProcess> {
  const n = opts.masters ?? 3;
  if (n < 3) throw new Error('startRedisCluster: redis-cli --cluster create needs at least 3 masters');
  const dir = mkdtempSync(join(tmpdir(), 'aisix-redis-cluster-'));
  const removeDir = trackDir(dir);
  const procs: ServerProc[] = [];
  const stopAll = async () => {
    await Promise.all(procs.map((p) => p.kill()));
    removeDir();
  };
  const waitOk = async (timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(procs.filter((p) => p.running).map((p) => clusterOk(p.port)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`redis cluster not ok after ${timeoutMs} ms`);
      await sleep(50);
    }
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const busPort = await freePort();
      procs.push(
        serverProc(port, [
          '--dir',
          dir,
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          String(opts.nodeTimeoutMs ?? 2000),
          ...(opts.args ?? []),
        ]),
      );
    }
    await Promise.all(procs.map((p) => p.start()));
    const nodes = procs.map((p) => `127.0.0.1:${p.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 20_000,
    }).catch((err: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(
        `redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
    });
    await waitOk();
    const at = (i: number): ServerProc => {
      const p = procs[i];
      if (p === undefined) throw new Error(`no cluster node ${i} (have ${n})`);
      return p;
    };
    const ownerOf = async (key: string): Promise<number> => {
      const port = procs.find((p) => p.running)?.port;
      if (port === undefined) throw new Error('no cluster node is running');
      const slot = Number(await redisCall(port, ['CLUSTER', 'KEYSLOT', key]));
      // CLUSTER SLOTS: [[start, end, [ip, port, id], ...replicas], ...]
      const ranges = await redisCall(port, ['CLUSTER', 'SLOTS']);
      for (const r of Array.isArray(ranges) ? ranges : []) {
        if (!Array.isArray(r) || Number(r[0]) > slot || Number(r[1]) < slot) continue;
        const m = r[2];
        const i = Array.isArray(m) ? procs.findIndex((p) => p.port === Number(m[1])) : -1;
        if (i >= 0) return i;
      }
      throw new Error(`no master found for slot ${slot} of ${key}`);
    };
    return {
      nodes,
      urls: nodes.map((a) => `redis://${a}`),
      ports: procs.map((p) => p.port),
      kill: (i, signal) => at(i).kill(signal),
      async restart(i) {
        await at(i).start();
        await waitOk();
      },
      ownerOf,
      waitOk,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
