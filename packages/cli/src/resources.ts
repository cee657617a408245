/**
 * Picks and opens the one resource source of this process (etcd, resources file, or the
 * embedded store under `data_dir`) and describes it the same way for every role: the writer
 * side for the admin API, the reader side for the config sync, and how the admin API must
 * treat writes. Which source is active is decided by core (`parseConfig().source`).
 */
import { readFile } from 'node:fs/promises';
import type { AdminMode } from '@aisix/admin-api';
import type { Config, ConfigSource as SourceKind } from '@aisix/core';
import { effectivePrefix } from '@aisix/core';
import type { ConfigSource, createEtcdStore, ResourceStore } from '@aisix/store';
// Not the main entry: that one loads the etcd client (etcd3 + gRPC), imported below only for etcd.
import { openEmbeddedStore } from '@aisix/store/local';
import { FileResources } from './file-source.js';

export interface OpenedResources {
  readonly kind: SourceKind;
  readonly store: ResourceStore;
  readonly source: ConfigSource;
  readonly adminMode: AdminMode;
  /** Only for the resources file: the SIGHUP reload. */
  readonly file: FileResources | undefined;
  /** What the startup line shows (no credentials). */
  readonly describe: Record<string, unknown>;
  close(): Promise<void>;
}

/** A boot failure to print on stderr as is (then exit 1). */
export class BootError extends Error {}

async function readPem(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new BootError(`Error: ${key}: cannot read ${path}: ${code}`);
  }
}

async function etcdTls(
  config: Config,
): Promise<{ caCert: string; clientCert?: string; clientKey?: string; serverName?: string } | undefined> {
  const t = config.etcd.tls;
  if (t === undefined) return undefined;
  const out: { caCert: string; clientCert?: string; clientKey?: string; serverName?: string } = {
    caCert: await readPem(t.ca_cert_file, 'etcd.tls.ca_cert_file'),
  };
  if (t.client_cert_file !== undefined)
    out.clientCert = await readPem(t.client_cert_file, 'etcd.tls.client_cert_file');
  if (t.client_key_file !== undefined)
    out.clientKey = await readPem(t.client_key_file, 'etcd.tls.client_key_file');
  if (t.domain_name !== undefined) out.serverName = t.domain_name;
  return out;
}

/** control-plane §1.3: with etcd credentials the boot connects eagerly, 5 tries 5 s apart. */
export interface ConnectRetry {
  readonly attempts: number;
  readonly delayMs: number;
}
const EAGER_CONNECT: ConnectRetry = { attempts: 5, delayMs: 5000 };

/**
 * Authenticates against etcd before anything binds, when the config names a user: a wrong
 * password or an unreachable cluster then fails the boot (exit 1) instead of a replica that
 * comes up serving nothing. Without credentials the connection stays lazy (the listeners come
 * up while etcd is down, and the config sync keeps retrying).
 */
async function connectEagerly(
  opened: { connect(signal?: AbortSignal): Promise<void>; close(): Promise<void> },
  retry: ConnectRetry,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await opened.connect();
      return;
    } catch (err) {
      if (attempt >= retry.attempts) {
        await opened.close();
        throw new BootError(
          `Error: etcd connect failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, retry.delayMs));
  }
}

export async function openResources(
  config: Config,
  kind: SourceKind,
  env: NodeJS.ProcessEnv,
  retry: ConnectRetry = EAGER_CONNECT,
): Promise<OpenedResources> {
  const prefix = effectivePrefix(config.etcd.prefix, config.etcd.env_id);
  if (kind === 'etcd') {
    const tls = await etcdTls(config);
    const password = config.etcd.password?.reveal();
    let opened: Awaited<ReturnType<typeof createEtcdStore>>;
    try {
      const etcd = await import('@aisix/store');
      opened = await etcd.createEtcdStore({
        endpoints: config.etcd.endpoints,
        prefix,
        // Beside the root prefix, per environment: outside every gateway's range.
        auditPrefix: etcd.auditPrefixFor(effectivePrefix(config.etcd.prefix), config.etcd.env_id),
        ...(config.etcd.user !== undefined ? { user: config.etcd.user } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(tls !== undefined ? { tls } : {}),
        dialTimeoutMs: config.etcd.dial_timeout_ms,
        requestTimeoutMs: config.etcd.request_timeout_ms,
      });
    } catch (err) {
      throw new BootError(`Error: etcd connect failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (config.etcd.user !== undefined) await connectEagerly(opened, retry);
    return {
      kind,
      store: opened.store,
      source: opened.source,
      adminMode: { type: 'etcd' },
      file: undefined,
      describe: { type: 'etcd', endpoints: config.etcd.endpoints, prefix, tls: tls !== undefined },
      close: () => opened.close(),
    };
  }
  if (kind === 'file') {
    const path = config.resources_file ?? '';
    const r = await FileResources.open(path, prefix, env);
    if (!r.ok) throw new BootError(r.report);
    const file = r.resources;
    return {
      kind,
      store: file.store(),
      source: file.source(),
      adminMode: { type: 'file', path, entries: () => file.entries() },
      file,
      describe: { type: 'file', path, resources: file.entries().length },
      close: async () => {},
    };
  }
  let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;
  try {
    opened = await openEmbeddedStore({ dir: config.data_dir, prefix });
  } catch (err) {
    throw new BootError(
      `Error: embedded store: cannot open ${config.data_dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return {
    kind,
    store: opened.store,
    source: opened.source,
    adminMode: { type: 'embedded' },
    file: undefined,
    describe: { type: 'embedded', data_dir: config.data_dir, prefix },
    close: () => opened.close(),
  };
}
