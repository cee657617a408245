/**
 * The realtime e2e rig: real etcd, a mock realtime upstream (`realtime-upstream.ts`) and one
 * `--role all` process whose resources are written through the Admin API: provider key `rt-upstream`
 * (secret `PK_SECRET`), models `rt`, `rt-refused` (upstream refuses the handshake), `rt-idle`
 * (stream budget 600 ms), `rt-guard` (keyword guardrail `rt-words` on `forbidden-word`),
 * `rt-other` (not in the caller key's ACL), `rt-azure` (an `azure-openai` key on the same mock); caller key `key`, a `tpm: 10` key `limitedKey` and a `concurrency: 1` key.
 */
import assert from 'node:assert/strict';
import { testEtcd } from '@aisix/testkit';
import {
  AdminClient,
  type AisixProcess,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';
import { type Client, dial } from './realtime-client.js';
import { type RealtimeUpstream, startRealtimeUpstream } from './realtime-upstream.js';

export const PK_SECRET = 'sk-upstream-realtime-secret';

export interface RealtimeRig {
  readonly up: RealtimeUpstream;
  readonly p: AisixProcess;
  readonly key: string;
  readonly limitedKey: string;
  /** A key with `concurrency: 1`. */
  readonly concurrencyKey: string;
  /** `ws://<proxy>/v1/realtime` */
  readonly wsBase: string;
  stop(): Promise<void>;
}

export async function opened(
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<Client> {
  const d = await dial(url, protocols, headers);
  if (!d.ok) throw new Error(`handshake refused: ${d.status} ${d.body}`);
  return d.client;
}

export async function startRealtimeRig(tag: string): Promise<RealtimeRig> {
  const dir = tempDir(tag);
  const etcd = await testEtcd();
  const up = await startRealtimeUpstream();
  const p = await startAisix({ name: 'all', dir, role: 'all', etcd });
  await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
  const api = new AdminClient(p.adminUrl);
  const pk = await api.create('provider_keys', {
    display_name: 'rt-upstream',
    provider: 'openai',
    api_key: PK_SECRET,
    api_base: up.apiBase,
  });
  await api.create('models', {
    display_name: 'rt',
    provider: 'openai',
    model_name: 'gpt-realtime-test',
    provider_key_id: pk.id,
  });
  await api.create('models', {
    display_name: 'rt-refused',
    provider: 'openai',
    model_name: 'refuse-me',
    provider_key_id: pk.id,
  });
  await api.create('models', {
    display_name: 'rt-idle',
    provider: 'openai',
    model_name: 'gpt-realtime-test',
    provider_key_id: pk.id,
    stream_timeout: 600,
  });
  const guarded = await api.create('models', {
    display_name: 'rt-guard',
    provider: 'openai',
    model_name: 'gpt-realtime-test',
    provider_key_id: pk.id,
  });
  const g = await api.create('guardrails', {
    name: 'rt-words',
    kind: 'keyword',
    patterns: [{ kind: 'literal', value: 'forbidden-word' }],
  });
  await api.create('guardrail_attachments', {
    guardrail_id: g.id,
    scope_type: 'model',
    scope_id: guarded.id,
    priority: 1,
  });
  await api.create('models', {
    display_name: 'rt-other',
    provider: 'openai',
    model_name: 'gpt-realtime-test',
    provider_key_id: pk.id,
  });
  const limitedKey =
    (await api.create('api_keys', { allowed_models: ['*'], rate_limit: { tpm: 10 } })).plaintext ?? '';
  const azure = await api.create('provider_keys', {
    display_name: 'rt-azure',
    provider: 'azure-openai',
    adapter: 'azure-openai',
    api_key: 'azure-upstream-key',
    api_base: up.apiBase.slice(0, -'/v1'.length),
  });
  await api.create('models', {
    display_name: 'rt-azure',
    provider: 'azure-openai',
    model_name: 'rt-deployment',
    provider_key_id: azure.id,
  });
  const concurrencyKey =
    (await api.create('api_keys', { allowed_models: ['*'], rate_limit: { concurrency: 1 } })).plaintext ?? '';
  const k = await api.create('api_keys', { allowed_models: ['rt', 'rt-refused', 'rt-idle', 'rt-guard'] });
  assert.ok(k.plaintext);
  const key = k.plaintext;
  const wsBase = `ws://127.0.0.1:${p.ports.proxy}/v1/realtime`;
  // The caller key is written last: once it opens a session, everything before it is applied.
  await waitUntil(
    'a realtime session opens',
    async () => {
      const d = await dial(`${wsBase}?model=rt`, [], { authorization: `Bearer ${key}` });
      if (!d.ok) return undefined;
      d.client.ws.close();
      await d.client.closed;
      return true;
    },
    { timeoutMs: 15_000, alive: [p] },
  );
  return {
    up,
    p,
    key,
    limitedKey,
    concurrencyKey,
    wsBase,
    async stop() {
      await p.kill();
      await up.close();
      removeDir(dir);
    },
  };
}
