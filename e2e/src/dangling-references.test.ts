/**
 * References that stop resolving behind the Admin API's back (issue 13): the Admin API refuses
 * to delete a provider key a model uses (409 naming the model), but etcd can still be written
 * directly (an operator's etcdctl, an older gateway version). The gateway then reports the
 * model `unavailable` on `/status/models` (and the admin's `/admin/v1/models/status`) with the
 * reason and the field, instead of `healthy`; fixing the reference through the Admin API makes
 * it healthy again.
 *
 * One real `--role all` process on real etcd, a local mock upstream, the official openai SDK.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  ADMIN_KEY,
  AdminClient,
  type AisixProcess,
  chatStatus,
  httpGet,
  type MockUpstream,
  removeDir,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

interface Row {
  id: string;
  display_name: string;
  status: string;
  status_reason?: string;
  status_detail?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('dangling references: 409 through the API, unavailable when written around it', () => {
  const dir = tempDir('dangling');
  let etcd: { endpoint: string; prefix: string };
  let upstream: MockUpstream;
  let p: AisixProcess;
  let api: AdminClient;
  let pkId = '';
  let modelId = '';
  let callerKey = '';

  /** Direct etcd writes through its JSON gateway, as an operator's etcdctl would do. */
  const etcdCall = async (op: 'put' | 'deleterange', key: string, value?: unknown) => {
    const body: Record<string, string> = { key: b64(`${etcd.prefix}/${key}`) };
    if (value !== undefined) body.value = b64(JSON.stringify(value));
    const res = await fetch(`${etcd.endpoint}/v3/kv/${op}`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(res.status, 200, `etcd ${op} ${key}`);
  };

  const rows = async (url: string, headers: Record<string, string> = {}): Promise<Row[]> => {
    const r = await httpGet(url, headers);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Row[];
  };
  const statusRow = async (alias: string): Promise<Row | undefined> =>
    (await rows(`${p.metricsUrl}/status/models`)).find((r) => r.display_name === alias);

  before(async () => {
    etcd = await testEtcd();
    upstream = await startMockUpstream();
    p = await startAisix({ name: 'all', dir, role: 'all', etcd });
    await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
    api = new AdminClient(p.adminUrl);
    pkId = (
      await api.create('provider_keys', {
        display_name: 'mock',
        provider: 'openai',
        api_key: 'sk-upstream-dangling',
        api_base: upstream.apiBase,
      })
    ).id;
    modelId = (
      await api.create('models', {
        display_name: 'chat',
        provider: 'openai',
        model_name: 'gpt-mock',
        provider_key_id: pkId,
      })
    ).id;
    const key = await api.create('api_keys', { allowed_models: ['chat'] });
    assert.ok(key.plaintext);
    callerKey = key.plaintext;
    await waitUntil(
      'chat answers',
      async () => ((await chatStatus(p, callerKey, 'chat')).status === 200 ? true : undefined),
      {
        timeoutMs: 10_000,
        alive: [p],
      },
    );
  });

  after(async () => {
    await p?.kill();
    await upstream?.close();
    removeDir(dir);
  });

  test('the Admin API refuses to delete the provider key a model uses (409 naming it)', async () => {
    const r = await api.raw('DELETE', `/provider_keys/${pkId}`);
    assert.equal(r.status, 409, r.body);
    const msg = String((JSON.parse(r.body) as { error_msg: string }).error_msg);
    assert.ok(msg.includes(`models/${modelId} ("chat") at /provider_key_id`), msg);
    assert.equal((await statusRow('chat'))?.status, 'healthy');
  });

  test('deleted straight from etcd: /status/models says unavailable and why; requests fail as before', async () => {
    await etcdCall('deleterange', `provider_keys/${pkId}`);
    const row = await waitUntil(
      'chat reported unavailable',
      async () => {
        const r = await statusRow('chat');
        return r?.status === 'unavailable' ? r : undefined;
      },
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.deepEqual(row, {
      id: modelId,
      display_name: 'chat',
      kind: 'direct',
      status: 'unavailable',
      status_reason: 'unresolved_reference',
      status_detail: `/provider_key_id: "${pkId}" is not the id of any provider key`,
    });
    // The admin listener's copy of the same rows.
    const adminRows = await rows(`${p.adminUrl}/admin/v1/models/status`, {
      authorization: `Bearer ${ADMIN_KEY}`,
    });
    assert.deepEqual(
      adminRows.find((r) => r.id === modelId),
      row,
    );
    const client = new OpenAI({ apiKey: callerKey, baseURL: `${p.proxyUrl}/v1`, maxRetries: 0 });
    await assert.rejects(
      client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.match(err.message, /unknown provider_key_id/);
        return true;
      },
    );
  });

  test('a provider key an older version stored without a dispatch path: unavailable, provider_key_unusable', async () => {
    await etcdCall('put', 'provider_keys/legacy-pk', {
      display_name: 'legacy-pk',
      api_key: 'sk-old',
      provider: 'acme',
    });
    await etcdCall('put', 'models/legacy-model', {
      display_name: 'legacy',
      provider: 'acme',
      model_name: 'm',
      provider_key_id: 'legacy-pk',
    });
    const row = await waitUntil(
      'legacy reported unavailable',
      async () => {
        const r = await statusRow('legacy');
        return r?.status === 'unavailable' ? r : undefined;
      },
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.equal(row.status_reason, 'provider_key_unusable');
    assert.match(
      row.status_detail ?? '',
      /^\/provider_key_id: provider key "legacy-pk" has neither a known provider nor an adapter/,
    );
  });

  test('fixing the reference through the Admin API makes the model healthy and serving again', async () => {
    const fresh = await api.create('provider_keys', {
      display_name: 'mock-2',
      provider: 'openai',
      api_key: 'sk-upstream-dangling-2',
      api_base: upstream.apiBase,
    });
    const put = await api.raw('PUT', `/models/${modelId}`, {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: fresh.id,
    });
    assert.equal(put.status, 200, put.body);
    await waitUntil(
      'chat healthy again',
      async () => ((await statusRow('chat'))?.status === 'healthy' ? true : undefined),
      { timeoutMs: 10_000, alive: [p] },
    );
    assert.equal((await chatStatus(p, callerKey, 'chat')).status, 200);
  });
});
