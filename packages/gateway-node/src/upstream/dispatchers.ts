/**
 * Which undici dispatcher an upstream call made with a provider key goes through. Keys without
 * `tls` (or with the defaults: no `ca_cert`, `verify: true`) share the gateway's one agent; each
 * distinct `tls` setting gets a dedicated agent (its own keep-alive pools), so a private CA or
 * `verify: false` never leaks to other upstreams (data-plane §5.7).
 *
 * - Compiled once per snapshot (key id -> dispatcher), read per request as one map lookup.
 * - Agents are keyed by the setting itself and survive snapshots: a config change that keeps a
 *   key's TLS setting keeps its warm connections. They close with the gateway; only when more
 *   than `MAX_AGENTS` distinct settings piled up are the ones the current snapshot no longer uses
 *   closed (their idle sockets are reaped by `pool_idle_timeout_secs` meanwhile).
 * - The deployment-wide `upstream.tls` (CA, client certificate, verify; read by the CLI) shapes
 *   the shared agent and every dedicated one: a key's `ca_cert` adds to the system roots and the
 *   deployment CA (Node's `ca` replaces the roots, so they are prepended), the client
 *   certificate is presented on every pool, and `verify: false` at either level turns
 *   verification off. A `ca_cert` that does not parse (a document written around the Admin API) fails
 *   closed: that key's agent trusts nothing, so calls through it fail the TLS handshake (502).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { type ConfigSnapshot, pemCertificates } from '@aisix/core';
import type { Logger } from 'pino';
import type { Agent, Dispatcher } from 'undici';
import type { Settings, UpstreamTls as UpstreamTlsFiles } from '../config.js';
import { type AgentTls, createAgent } from './client.js';

const MAX_AGENTS = 64;

/** config.yaml `upstream.tls` with its files already read (PEM). */
export interface UpstreamTls {
  /** `ca_file`: extra trust roots for every upstream. */
  readonly ca?: readonly string[] | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly verify: boolean;
}

function readPem(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * The gateway config's `upstream.tls` (file paths) read into PEM for the dispatchers (data-plane
 * §8.1, §5.7), for embedders that start a gateway without the CLI (which reads them at boot).
 * Files are read once (a missing file fails the start, naming the key).
 */
export function readUpstreamTls(t: UpstreamTlsFiles): UpstreamTls {
  const { clientCertFile: certFile, clientKeyFile: keyFile } = t;
  return {
    ...(t.caFile !== undefined ? { ca: [readPem('upstream.tls.ca_file', t.caFile)] } : {}),
    ...(certFile !== undefined && keyFile !== undefined
      ? {
          cert: readPem('upstream.tls.client_cert_file', certFile),
          key: readPem('upstream.tls.client_key_file', keyFile),
        }
      : {}),
    verify: t.verify,
  };
}

export class UpstreamDispatchers {
  private readonly agents = new Map<string, Agent>();
  private readonly compiled = new WeakMap<ConfigSnapshot, ReadonlyMap<string, Dispatcher>>();
  /** The shared agent (keys with default TLS, and every non-key call). */
  readonly base: Agent;

  constructor(
    private readonly settings: Settings,
    private readonly logger: Logger,
    private readonly deployment: UpstreamTls = { verify: true },
  ) {
    const d = deployment;
    const custom = d.ca !== undefined || d.cert !== undefined || !d.verify;
    this.base = createAgent(settings, custom ? this.tlsOptions('', d.verify, '') : undefined);
  }

  /** The dispatcher for calls made with provider key `pkId` under snapshot `s`. */
  forKey(s: ConfigSnapshot, pkId: string | undefined): Dispatcher {
    let m = this.compiled.get(s);
    if (m === undefined) {
      m = this.compile(s);
      this.compiled.set(s, m);
    }
    return (pkId !== undefined ? m.get(pkId) : undefined) ?? this.base;
  }

  /**
   * The socket TLS options of key `pkId`'s pool (undefined: the defaults), for clients that open
   * their own sockets (the realtime WebSocket relay) but must trust what the pools trust.
   */
  tlsForKey(s: ConfigSnapshot, pkId: string): AgentTls | undefined {
    const tls = s.byId('provider_keys').get(pkId)?.value.tls;
    const verify = tls?.verify !== false;
    const pem = tls?.ca_cert?.trim() ?? '';
    const d = this.deployment;
    const custom = d.ca !== undefined || d.cert !== undefined || !d.verify;
    if (verify && pem === '' && !custom) return undefined;
    return this.tlsOptions(pkId, verify, pem);
  }

  private compile(s: ConfigSnapshot): ReadonlyMap<string, Dispatcher> {
    const out = new Map<string, Dispatcher>();
    const used = new Set<string>();
    for (const [id, pk] of s.byId('provider_keys')) {
      const tls = pk.value.tls;
      if (tls === undefined || tls === null) continue;
      const verify = tls.verify !== false;
      const pem = tls.ca_cert?.trim() ?? '';
      if (verify && pem === '') continue;
      const name = createHash('sha256').update(`${verify}\u0000${pem}`).digest('hex');
      used.add(name);
      let agent = this.agents.get(name);
      if (agent === undefined) {
        agent = createAgent(this.settings, this.tlsOptions(id, verify, pem));
        this.agents.set(name, agent);
      }
      out.set(id, agent);
    }
    if (this.agents.size > MAX_AGENTS) {
      for (const [name, agent] of this.agents) {
        if (used.has(name)) continue;
        this.agents.delete(name);
        void agent.close().catch(() => {});
      }
    }
    return out;
  }

  private tlsOptions(id: string, verify: boolean, pem: string): AgentTls {
    const d = this.deployment;
    const common = {
      rejectUnauthorized: verify && d.verify,
      ...(d.cert !== undefined && d.key !== undefined ? { cert: d.cert, key: d.key } : {}),
    };
    const extra = d.ca ?? [];
    if (pem === '') return extra.length > 0 ? { ...common, ca: [...rootCertificates, ...extra] } : common;
    const certs = pemCertificates(pem);
    if (certs === undefined) {
      this.logger.error(
        { provider_key_id: id },
        'provider key tls.ca_cert holds no parseable PEM certificate: calls with this key fail',
      );
      return { ...common, ca: [] };
    }
    return { ...common, ca: [...rootCertificates, ...extra, ...certs] };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.base.close(), ...[...this.agents.values()].map((a) => a.close())]);
  }
}
