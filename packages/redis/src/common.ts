/**
 * What the three topologies share: resolved options, the reconnect policy (capped exponential
 * backoff, and during boot a hard deadline so a server that never answers fails the boot
 * instead of retrying forever), endpoint parsing for `nodes[]` / `sentinels[]`, deadlines.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SocketClosedUnexpectedlyError } from '@redis/client';

export interface ConnectOptions {
  /** Per-command deadline (default 1000 ms): a call never waits longer. */
  readonly commandTimeoutMs?: number;
  /** Boot deadline for the first connection, and the deadline of each connect attempt (default 2000 ms). */
  readonly connectTimeoutMs?: number;
  /** Upper bound of the reconnect backoff (default 1000 ms): recovery lags a restart by at most this. */
  readonly reconnectMaxDelayMs?: number;
  /** Called on connection errors (the client keeps reconnecting by itself). Never throws into the client. */
  readonly onError?: (err: Error) => void;
}

export interface Common {
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxDelayMs: number;
  onError(err: Error): void;
}

export function resolveOptions(opts: ConnectOptions): Common {
  const onError = opts.onError;
  return {
    commandTimeoutMs: opts.commandTimeoutMs ?? 1000,
    connectTimeoutMs: opts.connectTimeoutMs ?? 2000,
    maxDelayMs: opts.reconnectMaxDelayMs ?? 1000,
    onError(err) {
      try {
        onError?.(err);
      } catch {
        // A throwing callback must not turn into an unhandled 'error' inside the client.
      }
    },
  };
}

/** 100, 200, 400 ... ms up to `max`, plus jitter so many clients do not reconnect in step. */
export function backoff(retries: number, max: number): number {
  return Math.min(100 * 2 ** Math.min(retries, 16), max) + Math.floor(Math.random() * 50);
}

/**
 * A node-redis `reconnectStrategy`. Before `booted()` it gives up (an Error ends the client's
 * connect loop, so `connect()` rejects) once `deadline` has passed; afterwards it retries forever.
 */
export function reconnectStrategy(c: Common, booted: () => boolean, deadline: number) {
  return (retries: number): number | Error => {
    if (!booted() && Date.now() >= deadline) return new Error('connect deadline passed');
    return backoff(retries, c.maxDelayMs);
  };
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

/**
 * `host:port`, `redis://host:port` or `rediss://host:port` (userinfo is dropped: credentials
 * come from `username` / `password`, and an address must be printable).
 */
export function parseEndpoint(entry: string, defaultPort: number): Endpoint {
  const s = entry.trim();
  const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `redis://${s}`);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`redis: unsupported scheme ${u.protocol} in ${u.host} (redis:// or rediss://)`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new Error(`redis: no host in address ${JSON.stringify(u.host)}`);
  return { host, port: u.port === '' ? defaultPort : Number(u.port), tls: u.protocol === 'rediss:' };
}

export const hostPort = (e: { host: string; port: number }): string =>
  e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;

/** All entries must agree on TLS (one deployment, one scheme). */
export function commonTls(kind: string, eps: readonly Endpoint[]): boolean {
  const tls = eps.some((e) => e.tls);
  if (tls && !eps.every((e) => e.tls))
    throw new Error(`redis ${kind}: mixed redis:// and rediss:// addresses`);
  return tls;
}

export const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err)).trim();

/**
 * The error worth naming in a boot failure: a TLS alert or an AUTH refusal says more than the
 * "Socket closed unexpectedly" that follows it.
 */
export const moreTelling = (prev: Error | undefined, err: Error): Error =>
  prev !== undefined && err instanceof SocketClosedUnexpectedlyError ? prev : err;

export class RedisTimeoutError extends Error {}

/** Rejects with `RedisTimeoutError(what)` if `p` has not settled after `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(what())), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `connect()`, then a PING that must answer before the deadline: some refusals only show on
 * the first read (a TLS 1.3 server rejecting the client certificate closes the connection
 * after the client considers the handshake done).
 */
export async function connectAndPing(
  client: {
    connect(): Promise<unknown>;
    sendCommand(args: string[], opts: { timeout: number }): Promise<unknown>;
  },
  c: Common,
  deadline: number,
): Promise<void> {
  await client.connect();
  const t = c.commandTimeoutMs;
  await retryUntil(c, deadline, () =>
    withDeadline(client.sendCommand(['PING'], { timeout: t }), t, () => 'PING: no reply'),
  );
}

/** Names the command only: arguments may be keys or values that do not belong in logs. */
export const timeoutMessage = (args: readonly string[], ms: number): string =>
  `redis ${args[0] ?? 'command'}: no reply within ${ms} ms`;

/** Retries `attempt` with backoff until it resolves or `deadline` passes (then rethrows its last error). */
export async function retryUntil<T>(c: Common, deadline: number, attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const left = deadline - Date.now();
      if (left <= 0) throw err;
      // The last attempt lands on the deadline: the whole connect timeout is used.
      await sleep(Math.min(backoff(i, c.maxDelayMs), left));
    }
  }
}
