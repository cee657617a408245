/**
 * Cluster mode: node-redis `createCluster` over the configured `nodes` (seeds for topology
 * discovery; the rest of the cluster is found through CLUSTER SLOTS). Each call is routed by
 * its key's hash slot to that slot's master; MOVED / ASK redirections are followed by
 * node-redis. Replicas are not read from (rate-limit and cache reads must see their writes).
 *
 * Fail-fast: every node client has the offline queue disabled, so a call to a slot whose
 * master is down rejects at once while that client reconnects in the background. Every call
 * is also raced against `commandTimeoutMs`: node-redis's own `timeout` stops at the write,
 * and it can wait on a node's (re)connect promise (a node first seen after a topology change).
 *
 * Left out: `database` (a cluster has only db 0), replica reads, pub/sub.
 */
import type { RedisConnConfig } from '@aisix/core';
import { createCluster } from '@redis/client';
import {
  type Common,
  commonTls,
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
import { tlsSocketOptions } from './tls.js';
import type { RedisHandle, RedisReply } from './types.js';

export async function connectCluster(conf: RedisConnConfig, c: Common): Promise<RedisHandle> {
  const nodes = conf.nodes.filter((n) => n.trim() !== '').map((n) => parseEndpoint(n, 6379));
  if (nodes.length === 0) throw new Error('redis cluster: no nodes configured');
  const tls = commonTls('cluster', nodes) ? await tlsSocketOptions(conf.tls) : undefined;
  const where = `cluster ${nodes.map(hostPort).join(',')}`;
  let booted = false;
  const deadline = Date.now() + c.connectTimeoutMs;
  const timeout = c.commandTimeoutMs;
  let lastError: Error | undefined;
  const report = (err: Error) => {
    lastError = moreTelling(lastError, err);
    c.onError(err);
  };
  const cluster = createCluster({
    rootNodes: nodes.map((n) => ({ socket: { host: n.host, port: n.port } })),
    defaults: {
      ...(conf.username !== undefined ? { username: conf.username } : {}),
      ...(conf.password !== undefined ? { password: conf.password } : {}),
      disableOfflineQueue: true,
      socket: {
        connectTimeout: c.connectTimeoutMs,
        reconnectStrategy: reconnectStrategy(c, () => booted, deadline),
        ...(tls ?? {}),
      },
    },
    // A handful is plenty for a resharding in progress; more only delays the failure.
    maxCommandRedirections: 5,
  });
  // 'error': topology discovery failed; 'node-error': one node's connection. Both are only
  // reported: without listeners an 'error' event would crash the process.
  cluster.on('error', (err: unknown) => report(err instanceof Error ? err : new Error(String(err))));
  cluster.on('node-error', (err: Error, node: { host: string; port: number }) =>
    report(new Error(`${hostPort(node)}: ${errMessage(err)}`, { cause: err })),
  );
  let closed = false;
  const destroy = () => {
    if (closed) return;
    closed = true;
    try {
      cluster.destroy();
    } catch {
      // already torn down
    }
  };
  try {
    // A failed discovery rejects at once (seed connections do not retry), so retry it until
    // the boot deadline like a single server that is still starting.
    await withDeadline(
      (async () => {
        await retryUntil(c, deadline, () => cluster.connect());
        // Every master must answer (see connectAndPing: some refusals show only on a read).
        await retryUntil(c, deadline, () =>
          Promise.all(
            cluster.masters.map(async (m) => {
              const client = await cluster.nodeClient(m);
              await withDeadline(client.sendCommand(['PING'], { timeout }), timeout, () => 'PING: no reply');
            }),
          ),
        );
      })(),
      c.connectTimeoutMs + 500,
      () => 'connect timed out',
    );
  } catch (err) {
    destroy();
    const cause = lastError !== undefined ? errMessage(lastError) : errMessage(err);
    throw new Error(`redis ${where}: cannot connect within ${c.connectTimeoutMs} ms (${cause})`);
  }
  booted = true;
  const send = (key: string | undefined, args: readonly string[]) =>
    withDeadline(
      cluster.sendCommand(key, false, [...args], { timeout }) as Promise<RedisReply>,
      timeout,
      () => timeoutMessage(args, timeout),
    );
  return {
    describe: `cluster ${nodes.length} seed node${nodes.length === 1 ? '' : 's'} (${nodes.map(hostPort).join(',')})`,
    command: (key, args) => send(key, args),
    // EVALSHA and its EVAL fallback go to the same node: a script cached on one master is not
    // on the others, so NOSCRIPT is expected the first time each master sees it.
    script: (s, keys, args) => runScript((a) => send(keys[0], a), s, keys, args),
    async ping(key) {
      await send(key, ['PING']);
    },
    get ready() {
      const masters = cluster.masters;
      return !closed && masters.length > 0 && masters.every((m) => m.client?.isReady === true);
    },
    async close() {
      destroy();
    },
  };
}
