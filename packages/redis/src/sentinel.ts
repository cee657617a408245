/**
 * Sentinel mode: the master's address comes from the sentinels (`SENTINEL
 * get-master-addr-by-name`), the data connection is a plain node-redis client to that master
 * (`username` / `password` / `database` apply to it), and the handle re-asks the sentinels
 * to follow a failover.
 *
 * Why not node-redis `createSentinel`: measured with 5.12.1, a command sent while the master
 * is down waits inside the library's rediscovery loop until the failover completes (seconds,
 * past any per-command timeout), and while every sentinel is unreachable all commands wait
 * even though the master is fine. Both defeat failing open to local state. Here the data path
 * never waits on discovery: a call while the master connection is down rejects at once.
 *
 * Following the master: while the master connection is down the sentinels are polled every
 * 250 ms (a failover is adopted within that of the sentinel announcing it); while it is up,
 * every 5 s, and at once after a READONLY reply (the old master came back as a replica). On a
 * new address the handle swaps to a fresh client; the old one is destroyed.
 *
 * Sentinel connections are short-lived, one per query. They go without credentials first and
 * retry with `username` / `password` when the sentinel answers NOAUTH (sentinels often run
 * without a password while the data nodes have one). `rediss://` sentinel addresses mean TLS
 * for the sentinels and the master alike. Left out: replica reads, pub/sub.
 */
import type { RedisConnConfig } from '@aisix/core';
import { createClient, ErrorReply, type RedisClientType } from '@redis/client';
import {
  type Common,
  commonTls,
  connectAndPing,
  type Endpoint,
  errMessage,
  hostPort,
  moreTelling,
  parseEndpoint,
  reconnectStrategy,
  retryUntil,
  timeoutMessage,
  withDeadline,
} from './common.js';
import { runScript } from './script.js';
import { type TlsSocketOptions, tlsSocketOptions } from './tls.js';
import type { RedisHandle, RedisReply } from './types.js';

const POLL_DOWN_MS = 250;
const POLL_UP_MS = 5000;

type Addr = { readonly host: string; readonly port: number };
type Client = RedisClientType;

export async function connectSentinel(conf: RedisConnConfig, c: Common): Promise<RedisHandle> {
  const name = conf.master_name ?? '';
  if (name === '') throw new Error('redis sentinel: master_name is required');
  const sentinels = conf.sentinels.filter((s) => s.trim() !== '').map((s) => parseEndpoint(s, 26379));
  if (sentinels.length === 0) throw new Error('redis sentinel: no sentinels configured');
  const tls = commonTls('sentinel', sentinels) ? await tlsSocketOptions(conf.tls) : undefined;
  const where = `sentinel ${name} via ${sentinels.map(hostPort).join(',')}`;
  const creds = {
    ...(conf.username !== undefined ? { username: conf.username } : {}),
    ...(conf.password !== undefined ? { password: conf.password } : {}),
  };
  const hasCreds = conf.username !== undefined || conf.password !== undefined;
  const ask = (s: Endpoint): Promise<Addr> =>
    askSentinel(s, name, c, tls, undefined).catch((err: unknown) => {
      if (hasCreds && err instanceof ErrorReply && err.message.startsWith('NOAUTH')) {
        return askSentinel(s, name, c, tls, creds);
      }
      throw err;
    });
  // First sentinel that answers wins and is asked first next time.
  const order = [...sentinels];
  const discover = async (): Promise<Addr> => {
    const errors: string[] = [];
    for (const s of order) {
      try {
        const addr = await ask(s);
        order.splice(order.indexOf(s), 1);
        order.unshift(s);
        return addr;
      } catch (err) {
        errors.push(`${hostPort(s)}: ${errMessage(err)}`);
      }
    }
    throw new Error(`no sentinel answered (${errors.join('; ')})`);
  };

  let booted = false;
  let closed = false;
  const deadline = Date.now() + c.connectTimeoutMs;
  let lastError: Error | undefined;
  let current: { addr: Addr; client: Client } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let nextCheckAt = Number.POSITIVE_INFINITY;
  let checking = false;

  const open = (addr: Addr): Client => {
    const client = createClient({
      ...creds,
      ...(conf.database !== undefined ? { database: conf.database } : {}),
      disableOfflineQueue: true,
      socket: {
        host: addr.host,
        port: addr.port,
        connectTimeout: c.connectTimeoutMs,
        reconnectStrategy: reconnectStrategy(c, () => booted, deadline),
        ...(tls ?? {}),
      },
    });
    client.on('error', (err: Error) => {
      lastError = moreTelling(lastError, err);
      c.onError(new Error(`master ${hostPort(addr)}: ${errMessage(err)}`, { cause: err }));
      // The master may be gone for good: start asking the sentinels (at the fast cadence).
      if (current?.client === client) schedule(POLL_DOWN_MS);
    });
    return client;
  };

  const check = async (): Promise<void> => {
    nextCheckAt = Number.POSITIVE_INFINITY;
    checking = true;
    try {
      const addr = await discover();
      const cur = current;
      if (closed || cur === undefined) return;
      if (addr.host !== cur.addr.host || addr.port !== cur.addr.port) {
        const client = open(addr);
        current = { addr, client };
        if (cur.client.isOpen) cur.client.destroy();
        // Background: rejects only if destroyed; calls meanwhile fail fast (offline).
        client.connect().catch(() => {});
      }
    } catch (err) {
      c.onError(new Error(`redis ${where}: ${errMessage(err)}`));
    } finally {
      checking = false;
      if (!closed) schedule(current?.client.isReady ? POLL_UP_MS : POLL_DOWN_MS);
    }
  };

  // Keeps one pending check, at the earliest time asked for; none while one runs (it
  // schedules the next itself), so two checks never race to swap the client.
  function schedule(inMs: number): void {
    if (closed || !booted || checking) return;
    const at = Date.now() + inMs;
    if (at >= nextCheckAt) return;
    clearTimeout(timer);
    nextCheckAt = at;
    timer = setTimeout(() => void check(), inMs);
    timer.unref();
  }

  try {
    const addr = await retryUntil(c, deadline, discover).catch((err: unknown) => {
      throw new Error(`cannot discover the master within ${c.connectTimeoutMs} ms (${errMessage(err)})`);
    });
    const client = open(addr);
    current = { addr, client };
    try {
      await withDeadline(
        connectAndPing(client, c, deadline),
        Math.max(deadline - Date.now(), 0) + 500,
        () => 'connect timed out',
      );
    } catch (err) {
      if (client.isOpen) client.destroy();
      const cause = lastError !== undefined ? errMessage(lastError) : errMessage(err);
      throw new Error(`master ${hostPort(addr)}: cannot connect within ${c.connectTimeoutMs} ms (${cause})`);
    }
  } catch (err) {
    throw new Error(`redis ${where}: ${errMessage(err)}`);
  }
  booted = true;
  schedule(POLL_UP_MS);

  const timeout = c.commandTimeoutMs;
  const send = async (args: readonly string[]): Promise<RedisReply> => {
    const cur = current;
    if (cur === undefined || closed) throw new Error(`redis ${where}: closed`);
    try {
      const reply = cur.client.sendCommand([...args], { timeout }) as Promise<RedisReply>;
      return await withDeadline(reply, timeout, () => timeoutMessage(args, timeout));
    } catch (err) {
      if (err instanceof ErrorReply && err.message.startsWith('READONLY')) schedule(0);
      throw err;
    }
  };
  return {
    describe: where,
    command: (_key, args) => send(args),
    script: (s, keys, args) => runScript(send, s, keys, args),
    async ping() {
      await send(['PING']);
    },
    get ready() {
      return !closed && current?.client.isReady === true;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      if (current?.client.isOpen) current.client.destroy();
    },
  };
}

/** One `SENTINEL get-master-addr-by-name` over a short-lived connection. */
async function askSentinel(
  s: Endpoint,
  name: string,
  c: Common,
  tls: TlsSocketOptions | undefined,
  creds: { username?: string; password?: string } | undefined,
): Promise<Addr> {
  const client = createClient({
    ...(creds ?? {}),
    disableOfflineQueue: true,
    socket: {
      host: s.host,
      port: s.port,
      connectTimeout: Math.min(c.connectTimeoutMs, c.commandTimeoutMs),
      reconnectStrategy: false,
      ...(tls ?? {}),
    },
  });
  // Failures surface through connect() / sendCommand(); the event itself is not news.
  client.on('error', () => {});
  try {
    await client.connect();
    const r = await client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], {
      timeout: c.commandTimeoutMs,
    });
    if (!Array.isArray(r) || r.length < 2) throw new Error(`does not know master ${name}`);
    return { host: String(r[0]), port: Number(r[1]) };
  } finally {
    if (client.isOpen) client.destroy();
  }
}
