/**
 * Single mode: one node-redis client on `url` (`redis://` or `rediss://`, optional `/db`
 * path; `username` / `password` / `database` from the config win over the URL's).
 *
 * Fail-fast: with the offline queue disabled a call while disconnected rejects at once
 * (ClientOfflineError), calls in flight when the socket drops are rejected with the socket
 * error, and each call is raced against `commandTimeoutMs` (a server that accepts but does
 * not answer costs that much per call; the late reply is matched and dropped).
 */
import type { RedisConnConfig } from '@aisix/core';
import { createClient } from '@redis/client';
import {
  type Common,
  connectAndPing,
  errMessage,
  moreTelling,
  reconnectStrategy,
  timeoutMessage,
  withDeadline,
} from './common.js';
import { runScript } from './script.js';
import { tlsSocketOptions } from './tls.js';
import type { RedisHandle, RedisReply } from './types.js';

export async function connectSingle(conf: RedisConnConfig, c: Common): Promise<RedisHandle> {
  const url = conf.url ?? '';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Never echo the URL: it may carry a password.
    throw new Error('redis single: url is not a valid redis:// or rediss:// URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`redis single: unsupported scheme ${u.protocol} (redis:// or rediss://)`);
  }
  const where = `single ${u.protocol}//${u.host}`;
  const tls = u.protocol === 'rediss:' ? await tlsSocketOptions(conf.tls) : undefined;
  let booted = false;
  const deadline = Date.now() + c.connectTimeoutMs;
  let lastError: Error | undefined;
  const client = createClient({
    url,
    ...(conf.username !== undefined ? { username: conf.username } : {}),
    ...(conf.password !== undefined ? { password: conf.password } : {}),
    ...(conf.database !== undefined ? { database: conf.database } : {}),
    disableOfflineQueue: true,
    socket: {
      connectTimeout: c.connectTimeoutMs,
      reconnectStrategy: reconnectStrategy(c, () => booted, deadline),
      ...(tls ?? {}),
    },
  });
  // Without a listener an 'error' event would crash the process; every error is reported.
  client.on('error', (err: Error) => {
    lastError = moreTelling(lastError, err);
    c.onError(err);
  });
  try {
    // The strategy ends the connect loop at the deadline; the race is a backstop for a
    // handshake that hangs past it.
    await withDeadline(
      connectAndPing(client, c, deadline),
      c.connectTimeoutMs + 500,
      () => 'connect timed out',
    );
  } catch (err) {
    if (client.isOpen) client.destroy();
    const cause = lastError !== undefined ? errMessage(lastError) : errMessage(err);
    throw new Error(`redis ${where}: cannot connect within ${c.connectTimeoutMs} ms (${cause})`);
  }
  booted = true;
  const timeout = c.commandTimeoutMs;
  // node-redis's `timeout` only covers a command still queued; once written it waits for the
  // reply however long that takes, so the deadline is enforced here as well.
  const send = (args: readonly string[]) =>
    withDeadline(client.sendCommand([...args], { timeout }) as Promise<RedisReply>, timeout, () =>
      timeoutMessage(args, timeout),
    );
  return {
    describe: where,
    command: (_key, args) => send(args),
    script: (s, keys, args) => runScript(send, s, keys, args),
    async ping() {
      await send(['PING']);
    },
    get ready() {
      return client.isReady;
    },
    async close() {
      if (client.isOpen) client.destroy();
    },
  };
}
