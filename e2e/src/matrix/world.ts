/**
 * One gateway (in process, real listener on 127.0.0.1:0, snapshots built by core's
 * SnapshotBuilder) in front of one mock server per upstream family plus a Google OAuth token
 * endpoint. Each mock answers the world's current scenario in its own wire format and records
 * every request.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { type ConfigSnapshot, SnapshotBuilder } from '@aisix/core';
import { type Gateway, type GatewayConfig, MutableSnapshotSource, startGateway } from '@aisix/gateway-node';
import { pino } from 'pino';
import { type TokenAuthority, tokenAuthority } from '../fixtures/google-oauth.js';
import { type MockServer, startMockServer } from '../fixtures/mock-server.js';
import type { Scenario } from '../fixtures/scenario.js';
import { CALLER_KEY, type DialectId, FAMILIES, type Family, type FamilyId, VERTEX } from './upstreams.js';

export interface World {
  readonly base: string;
  readonly mocks: ReadonlyMap<FamilyId, MockServer>;
  readonly tokens: MockServer;
  readonly authority: TokenAuthority;
  /** What every mock answers next. */
  set(scenario: Scenario, dialect: DialectId): void;
  close(): Promise<void>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function snapshot(docs: Record<string, Record<string, Record<string, unknown>>>): ConfigSnapshot {
  const enc = new TextEncoder();
  const entries = [];
  for (const [kind, byId] of Object.entries(docs)) {
    for (const [id, doc] of Object.entries(byId)) {
      entries.push({ key: `/aisix/${kind}/${id}`, value: enc.encode(JSON.stringify(doc)), revision: 1 });
    }
  }
  const snap = new SnapshotBuilder({ prefix: '/aisix' }).resync(entries, 1);
  if (snap.status.rejected.length > 0)
    throw new Error(`matrix config rejected: ${JSON.stringify(snap.status.rejected)}`);
  return snap;
}

export interface WorldOptions {
  /** Extra provider key fields for every family (e.g. `request.forward_client_headers`). */
  readonly pkExtra?: Record<string, unknown>;
}

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let scenario: Scenario = { kind: 'ok', step: 'text' };
  let dialect: DialectId = 'openai-chat';
  const tokens = await startMockServer('google-oauth');
  const authority = tokenAuthority(keys.publicKey, VERTEX.clientEmail, () => `${tokens.url}/token`);
  tokens.handle((req, res) => authority.serve(req, res));
  const mocks = new Map<FamilyId, MockServer>();
  const start = async (f: Family) => {
    const m = await startMockServer(f.id);
    m.handle((req, res) => f.serve(req, res, { scenario, dialect, minted: authority.minted }));
    mocks.set(f.id, m);
  };
  await Promise.all(FAMILIES.map(start));
  const provider_keys: Record<string, Record<string, unknown>> = {};
  const models: Record<string, Record<string, unknown>> = {};
  for (const f of FAMILIES) {
    const url = mocks.get(f.id)?.url ?? '';
    const d = f.docs(url, `${tokens.url}/token`, pem);
    provider_keys[`pk-${f.id}`] = { ...d.pk, ...opts.pkExtra };
    models[`m-${f.id}`] = { ...d.model, provider_key_id: `pk-${f.id}` };
  }
  const api_keys = { caller: { key_hash: sha256(CALLER_KEY), allowed_models: FAMILIES.map((f) => f.alias) } };
  const config: GatewayConfig = {
    proxy: { addr: '127.0.0.1:0' },
    observability: { metrics: { prometheus: { enabled: false } } },
    upstream: { retries: 0 },
    downstream: { sse_keepalive_interval_secs: 15 },
    shutdown: { min_drain_secs: 0, max_drain_secs: 2 },
  };
  const gw: Gateway = await startGateway({
    config,
    snapshots: new MutableSnapshotSource(snapshot({ provider_keys, models, api_keys })),
    logger: pino({ level: process.env.MATRIX_LOG_LEVEL ?? 'silent' }),
    version: 'matrix',
  });
  return {
    base: `http://127.0.0.1:${gw.proxyPort}`,
    mocks,
    tokens,
    authority,
    set(s, d) {
      scenario = s;
      dialect = d;
    },
    async close() {
      await gw.close();
      await Promise.all([...mocks.values(), tokens].map((m) => m.close()));
    },
  };
}
