/**
 * Test fixtures: snapshots built with core's real SnapshotBuilder from documents shaped like the
 * store's entries, and a started gateway on 127.0.0.1:0 with a silent (or captured) logger.
 */
import { createHash } from 'node:crypto';
import { type ConfigSnapshot, SnapshotBuilder } from '@aisix/core';
import { pino } from 'pino';
import type { GatewayConfig } from '../config.js';
import { type Gateway, type GatewayOptions, startGateway } from '../server.js';
import { MutableSnapshotSource } from '../snapshot-source.js';

export const CALLER_KEY = 'sk-caller-1';
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface Docs {
  readonly models?: Record<string, Record<string, unknown>>;
  readonly api_keys?: Record<string, Record<string, unknown>>;
  readonly provider_keys?: Record<string, Record<string, unknown>>;
}

export function buildSnapshot(docs: Docs, revision = 1): ConfigSnapshot {
  const enc = new TextEncoder();
  const entries = [];
  for (const [kind, byId] of Object.entries(docs) as [string, Record<string, Record<string, unknown>>][]) {
    for (const [id, doc] of Object.entries(byId)) {
      entries.push({ key: `/aisix/${kind}/${id}`, value: enc.encode(JSON.stringify(doc)), revision });
    }
  }
  const snap = new SnapshotBuilder({ prefix: '/aisix' }).resync(entries, revision);
  if (snap.status.rejected.length > 0)
    throw new Error(`fixture rejected: ${JSON.stringify(snap.status.rejected)}`);
  return snap;
}

/** One OpenAI provider key at `upstreamUrl`, a few models and caller keys. */
export function standardDocs(upstreamUrl: string, extra: Docs = {}): Docs {
  return {
    provider_keys: {
      pk1: {
        display_name: 'mock',
        api_key: 'sk-upstream-secret',
        provider: 'openai',
        api_base: `${upstreamUrl}/v1`,
      },
      ...extra.provider_keys,
    },
    models: {
      m1: {
        display_name: 'gpt-4o-mini',
        provider: 'openai',
        model_name: 'gpt-4o-mini',
        provider_key_id: 'pk1',
      },
      m2: {
        display_name: 'emb',
        provider: 'openai',
        model_name: 'text-embedding-3-small',
        provider_key_id: 'pk1',
      },
      m3: { display_name: 'mock/*', provider: 'openai', model_name: 'up-*', provider_key_id: 'pk1' },
      m4: { display_name: 'secret-model', provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'pk1' },
      ...extra.models,
    },
    api_keys: {
      k1: {
        key_hash: sha256(CALLER_KEY),
        allowed_models: ['gpt-4o-mini', 'emb', 'mock/*', 'grp', 'ip-only', 'dangling', 'ds'],
      },
      k2: { key_hash: sha256('sk-disabled'), allowed_models: ['*'], disabled: true },
      k3: { key_hash: sha256('sk-expired'), allowed_models: ['*'], expires_at: '2020-01-01T00:00:00Z' },
      k4: { key_hash: sha256('sk-all'), allowed_models: ['*'] },
      ...extra.api_keys,
    },
  };
}

export const silentLogger = () => pino({ level: 'silent' });

export function testConfig(over: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    proxy: { addr: '127.0.0.1:0' },
    observability: { metrics: { prometheus: { addr: '127.0.0.1:0' } } },
    upstream: { retries: 0 },
    downstream: { sse_keepalive_interval_secs: 15 },
    shutdown: { min_drain_secs: 0, max_drain_secs: 5 },
    ...over,
  };
}

export interface Started {
  readonly gw: Gateway;
  readonly base: string;
  readonly source: MutableSnapshotSource;
}

export async function startTestGateway(
  snapshot: ConfigSnapshot,
  config: GatewayConfig = testConfig(),
  opts: Partial<GatewayOptions> = {},
): Promise<Started> {
  const source = new MutableSnapshotSource(snapshot);
  const gw = await startGateway({
    config,
    snapshots: source,
    logger: silentLogger(),
    version: '1.2.3',
    ...opts,
  });
  return { gw, base: `http://127.0.0.1:${gw.proxyPort}`, source };
}
