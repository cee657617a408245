/**
 * Real etcd processes for tests. `startEtcd` owns a private etcd (fault tests kill and
 * restart it); `testEtcd` hands out a unique key prefix on the shared etcd of the run
 * (AISIX_TEST_ETCD, set by .ci/run) or on a private one started once per test process.
 * A missing etcd binary fails the test: it never turns into a silent pass.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export interface EtcdProcess {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly dataDir: string;
  /** Send a signal (default SIGKILL) and wait for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same data dir and ports; resolves once it answers. */
  restart(): Promise<void>;
  /** Stop and remove the data dir. */
  stop(): Promise<void>;
}

async function waitReady(endpoint: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`etcd exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}' });
      if (res.ok) {
        await res.arrayBuffer();
        return;
      }
    } catch (err) {
      lastErr = err;
    }
    await sleep(50);
  }
  throw new Error(`etcd at ${endpoint} not ready after ${timeoutMs} ms: ${String(lastErr)}`);
}

export async function startEtcd(opts: { dataDir?: string } = {}): Promise<EtcdProcess> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'aisix-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const name = `t${clientPort}`;
  let child: ChildProcess;
  let log = '';

  const launch = async (): Promise<void> => {
    log = '';
    child = spawn(
      'etcd',
      [
        '--name',
        name,
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-cluster',
        `${name}=http://127.0.0.1:${peerPort}`,
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (d: Buffer) => {
      if (log.length < 8192) log += d.toString();
    });
    // Never keep a test process alive for etcd's sake; the exit hook below kills it.
    child.unref();
    // A piped stdio stream is a socket: unref'd, it does not hold the event loop either.
    if (child.stderr instanceof Socket) child.stderr.unref();
    live.add(child);
    child.once('exit', () => live.delete(child));
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (err) =>
        reject(new Error(`cannot start etcd (${err.message}); install it: apt-get install -y etcd-server`)),
      ),
    );
    try {
      await Promise.race([waitReady(endpoint, 20_000, child), spawnError]);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  };

  await launch();
  // The child is unref'd, so hold a timer while waiting for its exit to keep the loop alive.
  const exited = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const keepAlive = setInterval(() => {}, 1000);
      child.once('exit', () => {
        clearInterval(keepAlive);
        resolve();
      });
    });

  return {
    endpoint,
    clientPort,
    dataDir,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      child.kill(signal);
      await exited();
    },
    async restart() {
      await launch();
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited(), sleep(3000, undefined, { ref: false })]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

let shared: Promise<EtcdProcess> | undefined;

/**
 * An etcd endpoint plus a key prefix no other test uses. Uses AISIX_TEST_ETCD when set,
 * else one private etcd per test process (stopped when the process exits).
 */
export async function testEtcd(): Promise<{ endpoint: string; prefix: string }> {
  const prefix = `/t-${randomUUID().slice(0, 8)}`;
  const fromEnv = process.env.AISIX_TEST_ETCD;
  if (fromEnv) return { endpoint: fromEnv.replace(/\/$/, ''), prefix };
  if (!shared) {
    shared = startEtcd();
    const p = await shared;
    process.once('exit', () => rmSync(p.dataDir, { recursive: true, force: true }));
  }
  const p = await shared;
  return { endpoint: p.endpoint, prefix };
}
