/**
 * A gateway replica started while etcd is down (issue "Gateway node"; control-plane.md §2.7,
 * data-plane.md §8.9). A private etcd (this test kills it) holds a complete configuration
 * written through the Admin API: provider key, model, caller key. etcd is SIGKILLed, then a
 * fresh `--role gateway` replica starts. Until its first load it must:
 *  - be alive (`/livez` 200) but not ready: `/readyz` 503 `[-]config failed: not ready`,
 *    `/status/ready` 503 `no configuration available`, `/status/config` `never_loaded`;
 *  - serve nothing wrong: with an empty snapshot the caller key is unknown, so a chat
 *    completion is a clean 401 `invalid_api_key` (OpenAI envelope), never a 200 and never a
 *    5xx; `/v1/models` is 401 too; nothing reaches the upstream.
 * Once etcd is back it becomes ready (the watch loop's next retry) and serves the key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EtcdProcess, startEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  httpGet,
  type MockUpstream,
  removeDir,
  startAisix,
  startMockUpstream,
  statusConfig,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const PREFIX = '/aisix-down-start';
/** How long the new replica is watched while etcd stays down. */
const DOWN_MS = 4000;

describe('a replica started while etcd is down', () => {
  const dir = tempDir('down-start');
  let etcd: EtcdProcess;
  let upstream: MockUpstream;
  let admin: AisixProcess | undefined;
  let replica: AisixProcess | undefined;
  let callerKey = '';

  before(async () => {
    etcd = await startEtcd();
    upstream = await startMockUpstream();
    admin = await startAisix({
      name: 'admin',
      dir,
      role: 'admin',
      etcd: { endpoint: etcd.endpoint, prefix: PREFIX },
    });
    await waitStatus(admin, `${admin.adminUrl}/readyz`, 200);
    const api = new AdminClient(admin.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-upstream-down',
      api_base: upstream.apiBase,
    });
    await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pk.id,
    });
    const key = await api.create('api_keys', { display_name: 'late', allowed_models: ['chat'] });
    assert.ok(key.plaintext);
    callerKey = key.plaintext;
    // The configuration is in etcd (read back straight from it) before etcd goes down.
    assert.equal((await api.list('api_keys')).length, 1);
  });

  after(async () => {
    await Promise.all([admin?.kill(), replica?.kill()]);
    await upstream?.close();
    await etcd?.stop();
    removeDir(dir);
  });

  test('stays not-ready and answers 401 until etcd is back, then becomes ready and serves', async (t) => {
    await etcd.kill('SIGKILL');
    const r = await startAisix({
      name: 'late-gateway',
      dir,
      role: 'gateway',
      etcd: { endpoint: etcd.endpoint, prefix: PREFIX },
    });
    replica = r;
    await waitStatus(r, `${r.proxyUrl}/livez`, 200);
    const sdk = new OpenAI({
      apiKey: callerKey,
      baseURL: `${r.proxyUrl}/v1`,
      maxRetries: 0,
      timeout: 10_000,
    });

    const tStarted = performance.now();
    let rounds = 0;
    while (performance.now() - tStarted < DOWN_MS) {
      r.assertAlive();
      const ready = await httpGet(`${r.proxyUrl}/readyz?verbose`);
      assert.equal(ready.status, 503, ready.body);
      assert.match(ready.body, /\[-\]config failed: not ready/);
      assert.match(ready.body, /readyz check failed/);
      const statusReady = await httpGet(`${r.metricsUrl}/status/ready`);
      assert.equal(statusReady.status, 503);
      assert.equal(statusReady.body.trim(), 'no configuration available');
      const cfg = await statusConfig(r);
      assert.equal(cfg.state, 'never_loaded');
      assert.equal(cfg.source.connected, false);
      // control-plane §6.2: a model list that cannot be read is 500, no backend detail (not []).
      const statusModels = await httpGet(`${r.metricsUrl}/status/models`);
      assert.equal(statusModels.status, 500, statusModels.body);
      assert.deepEqual(JSON.parse(statusModels.body), { error_msg: 'failed to list models' });

      await assert.rejects(
        sdk.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.AuthenticationError, `expected a 401, got ${String(err)}`);
          assert.equal(err.status, 401);
          assert.equal((err.error as { type?: string } | undefined)?.type, 'invalid_api_key');
          return true;
        },
      );
      const models = await httpGet(`${r.proxyUrl}/v1/models`, { authorization: `Bearer ${callerKey}` });
      assert.equal(models.status, 401, models.body);
      rounds++;
      await sleep(250);
    }
    assert.equal(
      upstream.calls.length,
      0,
      'nothing reached the upstream while the replica had no configuration',
    );

    await etcd.restart();
    const tUp = performance.now();
    await waitUntil(
      'the late replica becomes ready once etcd is back',
      async () => {
        const res = await httpGet(`${r.proxyUrl}/readyz`);
        return res.status === 200 ? true : undefined;
      },
      { timeoutMs: 70_000, intervalMs: 50, alive: [r] },
    );
    const readyMs = performance.now() - tUp;

    assert.equal((await httpGet(`${r.metricsUrl}/status/ready`)).status, 200);
    const listed = await httpGet(`${r.metricsUrl}/status/models`);
    assert.equal(listed.status, 200, listed.body);
    assert.ok((JSON.parse(listed.body) as unknown[]).length > 0, listed.body);
    const cfg = await statusConfig(r);
    assert.equal(cfg.state, 'synced');
    assert.equal(cfg.source.connected, true);
    assert.equal(cfg.applied?.resource_counts.api_keys, 1);
    const res = await sdk.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(res.choices[0]?.message.content, 'pong');
    assert.equal(res.model, 'chat');
    assert.deepEqual(
      upstream.calls.map((c) => [c.model, c.authorization]),
      [['gpt-mock', 'Bearer sk-upstream-down']],
    );
    t.diagnostic(
      `not ready for ${(DOWN_MS / 1000).toFixed(0)} s with etcd down (${rounds} probe rounds: readyz 503, status/ready 503, chat 401); ` +
        `ready ${readyMs.toFixed(0)} ms after etcd answered again`,
    );
  });
});
