/**
 * The etcd-backed store: one factory returning the writer side (`ResourceStore`) and the
 * reader side (`ConfigSource`) over the same endpoints, credentials and timeouts.
 *
 * Two clients on purpose:
 *  - writes (get/list/create/replace/delete) use the `etcd3` npm client, the project's chosen
 *    etcd client (resource-store.ts);
 *  - the read path (load = range at a revision, watch) uses our own small client of etcd's
 *    JSON gRPC-gateway over undici (gateway-client.ts, watch-stream.ts), because etcd3's
 *    watcher resumes from the wrong revision after a reconnect during a >1000-revision
 *    catch-up (events lost) and hides the compact revision. Our watch never resumes: the
 *    watch loop (../watch-loop.ts) re-loads at a fresh revision instead.
 * Not here: the load/watch/backoff cycle (../watch-loop.ts), snapshot building (core).
 */
import { etcdEndpointsProblem, timerMs } from '@aisix/core';
import type { ConfigSource, ResourceStore } from '../types.js';
import { GatewayConfigSource } from './config-source.js';
import { GatewayClient } from './gateway-client.js';
import { Etcd3ResourceStore } from './resource-store.js';

export interface EtcdStoreOptions {
  endpoints: string[];
  /** Effective prefix (`<prefix>` or `<prefix>/<env_id>`), no trailing slash. */
  prefix: string;
  /**
   * Where audit records go: `auditPrefixFor(<root prefix>, env_id)`, outside every gateway's
   * range. Default: the sibling of `prefix` (right when there is no env_id).
   */
  auditPrefix?: string;
  user?: string;
  password?: string;
  /** PEM contents (not paths). A CA alone = server-auth-only TLS. */
  tls?: { caCert: string; clientCert?: string; clientKey?: string; serverName?: string };
  /** Connect timeout (default 5000). */
  dialTimeoutMs?: number;
  /** Deadline of every unary call (default 5000). */
  requestTimeoutMs?: number;
  /** Keys per range page on load (default 1000). */
  loadPageSize?: number;
  /** Watch silence after which it probes for a stalled stream (default 30000). */
  watchIdleProbeMs?: number;
  /**
   * etcd's `--max-request-bytes`: writes over it (document + audit record + keys) are refused
   * with `too_large` before they are sent. Default `MAX_WRITE_BYTES` (etcd's default, 1.5 MiB).
   */
  maxRequestBytes?: number;
}

export interface EtcdStore {
  store: ResourceStore;
  source: ConfigSource;
  /**
   * One round trip to etcd, authenticating first when a user is set: what a boot with
   * credentials checks eagerly (control-plane §1.3). Rejects with the reason, never the password.
   */
  connect(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

function invalid(msg: string): never {
  throw new TypeError(`createEtcdStore: ${msg}`);
}

function validate(opts: EtcdStoreOptions): void {
  if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
    invalid('endpoints must list at least one URL such as http://127.0.0.1:2379');
  }
  const problem = etcdEndpointsProblem(opts.endpoints);
  if (problem !== null) invalid(problem.message);
  if (!opts.tls && opts.endpoints.some((e) => new URL(e).protocol === 'https:'))
    invalid('https:// endpoints need tls.caCert');
  if (opts.prefix.endsWith('/'))
    invalid('prefix must not end with "/" (pass the effective prefix, e.g. /aisix)');
  if ((opts.password !== undefined) !== (opts.user !== undefined)) {
    invalid('user and password must be set together');
  }
  if (opts.tls && (opts.tls.clientCert === undefined) !== (opts.tls.clientKey === undefined)) {
    invalid('tls.clientCert and tls.clientKey must be set together');
  }
  for (const k of [
    'dialTimeoutMs',
    'requestTimeoutMs',
    'loadPageSize',
    'watchIdleProbeMs',
    'maxRequestBytes',
  ] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isInteger(v) || v <= 0)) invalid(`${k} must be a positive integer`);
  }
}

export function createEtcdStore(opts: EtcdStoreOptions): EtcdStore {
  validate(opts);
  const endpoints = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
  // Past a timer's range a deadline means "practically none", not 1 ms (core timerMs).
  const dialTimeoutMs = timerMs(opts.dialTimeoutMs ?? 5000);
  const requestTimeoutMs = timerMs(opts.requestTimeoutMs ?? 5000);
  const common = {
    endpoints,
    ...(opts.user !== undefined ? { user: opts.user, password: opts.password ?? '' } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    dialTimeoutMs,
    requestTimeoutMs,
  };
  const gateway = new GatewayClient(common);
  const store = new Etcd3ResourceStore({
    ...common,
    prefix: opts.prefix,
    ...(opts.auditPrefix !== undefined ? { auditPrefix: opts.auditPrefix } : {}),
    ...(opts.maxRequestBytes !== undefined ? { maxRequestBytes: opts.maxRequestBytes } : {}),
  });
  const source = new GatewayConfigSource(gateway, {
    prefix: opts.prefix,
    ...(opts.loadPageSize ? { pageSize: opts.loadPageSize } : {}),
    ...(opts.watchIdleProbeMs ? { idleProbeMs: opts.watchIdleProbeMs } : {}),
  });
  let closing: Promise<void> | undefined;
  return {
    store,
    source,
    async connect(signal) {
      await gateway.call('/v3/maintenance/status', {}, signal);
    },
    close() {
      closing ??= Promise.allSettled([store.close(), gateway.close()]).then(() => undefined);
      return closing;
    },
  };
}
