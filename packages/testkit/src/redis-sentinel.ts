/**
 * A real sentinel-managed Redis for tests: one master, one replica, one sentinel (quorum 1),
 * on free loopback ports, returned once the sentinel knows the master and its replica (so a
 * failover has somewhere to go). `killMaster()` SIGKILLs the current master; the sentinel
 * promotes the replica after `downAfterMs` (+ up to 1 s of sentinel's own desync delay).
 *
 * One sentinel is not a production shape (no sentinel redundancy) but it exercises the
 * client side: discovery through a sentinel and following a `+switch-master`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { type ServerProc, serverProc, trackDir } from './redis-proc.js';
import { type RespValue, redisCall } from './redis-resp.js';

export interface RedisSentinelProcess {
  readonly masterName: string;
  /** `127.0.0.1:<port>` of each sentinel. */
  readonly sentinels: readonly string[];
  /** `redis://127.0.0.1:<port>` of the initial master. */
  readonly masterUrl: string;
  /** `redis://127.0.0.1:<port>` of the initial replica (the master after a failover). */
  readonly replicaUrl: string;
  /** Port the sentinel currently reports for the master. */
  currentMasterPort(): Promise<number>;
  /** SIGKILLs whichever data node is master now; resolves with its port. */
  killMaster(): Promise<number>;
  /** Resolves once the sentinel reports a master other than `oldPort` (the failover is done). */
  waitFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

const asArray = (v: RespValue): RespValue[] => (Array.isArray(v) ? v : []);

/** SENTINEL REPLICAS replies are flat [k, v, k, v, ...] arrays. */
function field(entry: RespValue, key: string): string | undefined {
  const a = asArray(entry);
  for (let i = 0; i + 1 < a.length; i += 2) if (a[i] === key) return String(a[i + 1]);
  return undefined;
}

export interface RedisSentinelOptions {
  readonly masterName?: string;
  /** Sentinel's `down-after-milliseconds` (default 1000). */
  readonly downAfterMs?: number;
  readonly failoverTimeoutMs?: number;
  /** `requirepass` on the data nodes and on the sentinel itself (default: none). */
  readonly password?: string;
}

export async function startRedisSentinel(opts: RedisSentinelOptions = {}): Promise<RedisSentinelProcess> {
  const name = opts.masterName ?? 'aisix-test';
  const pw = opts.password;
  const call = (port: number, args: string[]) => redisCall(port, args, 1000, pw);
  const dir = mkdtempSync(join(tmpdir(), 'aisix-redis-sentinel-'));
  const removeDir = trackDir(dir);
  const procs: ServerProc[] = [];
  const stopAll = async () => {
    await Promise.all(procs.map((p) => p.kill()));
    removeDir();
  };
  try {
    const masterPort = await freePort();
    const replicaPort = await freePort();
    const sentinelPort = await freePort();
    // Diskless sync waits 5 s by default for more replicas to join; there is only one.
    const data = (port: number) => [
      '--dir',
      dir,
      '--dbfilename',
      `dump-${port}.rdb`,
      '--repl-diskless-sync-delay',
      '0',
      ...(pw !== undefined ? ['--requirepass', pw, '--masterauth', pw] : []),
    ];
    const master = serverProc(masterPort, data(masterPort));
    const replica = serverProc(replicaPort, [
      ...data(replicaPort),
      '--replicaof',
      '127.0.0.1',
      String(masterPort),
    ]);
    // Sentinel rewrites its config file (known replicas, epochs), so it lives in the temp dir.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3000}`,
        `sentinel parallel-syncs ${name} 1`,
        // Told up front: otherwise the sentinel learns of the replica from the master's INFO,
        // which it polls every 10 s, and readiness takes seconds.
        `sentinel known-replica ${name} 127.0.0.1 ${replicaPort}`,
        ...(pw !== undefined ? [`sentinel auth-pass ${name} ${pw}`, `requirepass ${pw}`] : []),
        '',
      ].join('\n'),
    );
    const sentinel = serverProc(sentinelPort, [], [conf, '--sentinel']);
    procs.push(master, replica, sentinel);
    await master.start();
    await replica.start();
    await sentinel.start();
    const dataNodes = [master, replica];

    const currentMasterPort = async () => {
      const r = asArray(await call(sentinelPort, ['SENTINEL', 'get-master-addr-by-name', name]));
      return Number(r[1]);
    };
    // Ready = the sentinel reports the master and has seen the replica online and in sync.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const replicas = await call(sentinelPort, ['SENTINEL', 'replicas', name]).catch(() => []);
      const ok = asArray(replicas).some(
        (r) =>
          field(r, 'port') === String(replicaPort) &&
          !(field(r, 'flags') ?? 's_down').includes('down') &&
          field(r, 'master-link-status') === 'ok',
      );
      if (ok && (await currentMasterPort().catch(() => 0)) === masterPort) break;
      if (Date.now() > deadline)
        throw new Error('redis sentinel: replica not seen by the sentinel after 15 s');
      await sleep(50);
    }
    const waitFailover = async (oldPort: number, timeoutMs = 15_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const port = await currentMasterPort().catch(() => oldPort);
        if (port !== oldPort) return port;
        if (Date.now() > end)
          throw new Error(`redis sentinel: no failover from port ${oldPort} after ${timeoutMs} ms`);
        await sleep(50);
      }
    };
    return {
      masterName: name,
      sentinels: [`127.0.0.1:${sentinelPort}`],
      masterUrl: `redis://127.0.0.1:${masterPort}`,
      replicaUrl: `redis://127.0.0.1:${replicaPort}`,
      currentMasterPort,
      async killMaster() {
        const port = await currentMasterPort();
        const node = dataNodes.find((p) => p.port === port);
        if (node === undefined) throw new Error(`redis sentinel: master port ${port} is not one of ours`);
        await node.kill();
        return port;
      },
      waitFailover,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
