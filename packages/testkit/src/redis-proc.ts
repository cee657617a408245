/**
 * One `redis-server` child process, shared by the launchers (single, cluster, sentinel):
 * spawned on a port chosen up front, restartable with the same arguments, waited on until it
 * answers PING, and killed when the test process goes away without `stop()`.
 *
 * Children and their pipes are unref'd: a server a test never stopped (a `before` hook that
 * failed half-way) must not keep the test file's process alive until the runner's timeout.
 * The last-resort cleanup runs on `exit` (normal end, uncaught exception) and on
 * SIGTERM/SIGINT/SIGHUP (the runner cancelling a file): SIGKILL every live child, remove the
 * temp dirs. A test process that is itself SIGKILLed cannot clean up; nothing can.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespError, redisCall } from './redis-resp.js';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function cleanup(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanup);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      cleanup();
      process.removeListener(sig, onSignal);
      // Our listener replaced the default "terminate"; re-raise so the process still dies of
      // the signal, unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Registers a temp dir to remove at exit (if `stop()` did not already). */
export function trackDir(dir: string): () => void {
  hookExit();
  dirs.add(dir);
  return () => {
    dirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** Resolves once a PING on `port` answers PONG (or rejects after `timeoutMs`). */
export async function waitRedis(port: number, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    // Any reply means it is up: `-NOAUTH` from a server with requirepass counts.
    const up = await redisCall(port, ['PING'], 500).then(
      (r) => r === 'PONG',
      (err: unknown) => err instanceof RespError,
    );
    if (up) return;
    await sleep(30);
  }
  throw new Error(`redis on port ${port} not ready after ${timeoutMs} ms`);
}

export interface ServerProc {
  readonly port: number;
  /** True between a successful `start()` and the process exit. */
  readonly running: boolean;
  /** Spawns the process; resolves once it answers PING. */
  start(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the exit; no-op when not running. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * A `redis-server` on 127.0.0.1:`port` with persistence off; `args` are appended (a config
 * file path first for sentinels: `redis-server <conf> --sentinel`).
 */
export function serverProc(port: number, args: readonly string[], pre: readonly string[] = []): ServerProc {
  let child: ChildProcess | undefined;
  let tail = '';
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    port,
    get running() {
      return alive();
    },
    async start() {
      if (alive()) throw new Error(`redis-server on port ${port} is already running`);
      hookExit();
      tail = '';
      const c = spawn(
        'redis-server',
        [...pre, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = c;
      live.add(c);
      c.once('exit', () => live.delete(c));
      // Kept for the error message when the server does not come up (bad flag, port taken).
      const keep = (d: Buffer) => {
        tail = (tail + d.toString()).slice(-2000);
      };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      c.unref();
      for (const pipe of [c.stdout, c.stderr]) (pipe as { unref?: () => void } | null)?.unref?.();
      const spawnErr = new Promise<never>((_, reject) =>
        c.once('error', (err) =>
          reject(
            new Error(
              `cannot run redis-server (Debian: apt-get install -y redis-server): ${(err as Error).message}`,
            ),
          ),
        ),
      );
      try {
        await Promise.race([waitRedis(port, 10_000, c), spawnErr]);
      } catch (err) {
        c.kill('SIGKILL');
        throw new Error(`${(err as Error).message}\n--- redis-server output ---\n${tail}`);
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const c = child;
      if (c === undefined || !alive()) return;
      // The child is unref'd: a ref'd timer keeps the loop alive while the exit is awaited.
      const keepAlive = setInterval(() => {}, 1000);
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill(signal);
      await exited.finally(() => clearInterval(keepAlive));
    },
  };
}
