/**
 * Guardrails, Admin API → gateway, live (docs/guardrails.md): one `aisix --role all` process on
 * its embedded store, the official openai SDK as the caller. A guardrail created through the
 * Admin API blocks on the next request; an edit of its pattern, disabling it, and an attachment
 * scoping it to one key all apply without a restart; malformed guardrails are refused with the
 * field's JSON pointer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  type Entry,
  httpSend,
  killAll,
  type MockUpstream,
  removeDir,
  startAisix,
  startMockUpstream,
  statusConfig,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

describe('guardrails: Admin API → gateway, live (--role all)', () => {
  const dir = tempDir('guardrails-admin');
  let upstream: MockUpstream;
  let aisix: AisixProcess;
  let api: AdminClient;
  let keyA: { id: string; key: string };
  let keyB: { id: string; key: string };

  const applied = (revision: number) =>
    waitUntil(
      `revision ${revision} applied`,
      async () => {
        const s = await statusConfig(aisix);
        return (s.applied?.applied_revision ?? 0) >= revision ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 10, alive: [aisix] },
    );

  const newKey = async (name: string) => {
    const created = await api.create('api_keys', { display_name: name, allowed_models: ['chat'] });
    assert.ok(created.plaintext);
    await applied(created.revision);
    return { id: created.id, key: created.plaintext };
  };

  const ask = async (key: string, content: string): Promise<number> => {
    const client = new OpenAI({ apiKey: key, baseURL: `${aisix.proxyUrl}/v1`, maxRetries: 0 });
    try {
      await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content }] });
      return 200;
    } catch (e) {
      if (!(e instanceof OpenAI.APIError)) throw e;
      if (e.status === 422) {
        assert.equal((e.error as { type?: string }).type, 'content_filter');
        assert.equal(JSON.stringify(e.error).includes(content), false, 'the prompt is not echoed');
      }
      return e.status ?? 0;
    }
  };

  before(async () => {
    upstream = await startMockUpstream();
    aisix = await startAisix({ name: 'all', dir, role: 'all' });
    await waitStatus(aisix, `${aisix.adminUrl}/readyz`, 200);
    await waitStatus(aisix, `${aisix.proxyUrl}/readyz`, 200);
    api = new AdminClient(aisix.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-upstream-guardrails',
      api_base: upstream.apiBase,
    });
    await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pk.id,
    });
    keyA = await newKey('a');
    keyB = await newKey('b');
  });

  after(async () => {
    await killAll([aisix]);
    await upstream?.close();
    removeDir(dir);
  });

  test('create, edit, disable: each applies on the next request', async () => {
    assert.equal(await ask(keyA.key, 'the launch code is alpha-7'), 200);
    const g = await api.create('guardrails', {
      name: 'launch-codes',
      kind: 'keyword',
      patterns: [{ kind: 'regex', value: '(?i)alpha-[0-9]+' }],
    });
    await applied(g.revision);
    const calls = upstream.calls.length;
    assert.equal(await ask(keyA.key, 'the launch code is ALPHA-7'), 422);
    assert.equal(upstream.calls.length, calls, 'a blocked prompt never reaches the upstream');

    const put = await api.raw('PUT', `/guardrails/${g.id}`, {
      ...g.value,
      patterns: [{ kind: 'literal', value: 'bravo' }],
    });
    assert.equal(put.status, 200, put.body);
    await applied((JSON.parse(put.body) as Entry).revision);
    assert.equal(await ask(keyA.key, 'the launch code is alpha-7'), 200);
    assert.equal(await ask(keyA.key, 'BRAVO team'), 422);

    const off = await api.raw('PUT', `/guardrails/${g.id}`, {
      ...g.value,
      patterns: [{ kind: 'literal', value: 'bravo' }],
      enabled: false,
    });
    assert.equal(off.status, 200, off.body);
    await applied((JSON.parse(off.body) as Entry).revision);
    assert.equal(await ask(keyA.key, 'BRAVO team'), 200);
    await api.remove('guardrails', g.id);
  });

  test('an attachment created through the Admin API scopes the guardrail to one key', async () => {
    const g = await api.create('guardrails', {
      name: 'scoped',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'charlie' }],
    });
    const a = await api.create('guardrail_attachments', {
      guardrail_id: g.id,
      scope_type: 'api_key',
      scope_id: keyA.id,
      priority: 1,
    });
    await applied(a.revision);
    assert.equal(await ask(keyA.key, 'charlie'), 422);
    assert.equal(await ask(keyB.key, 'charlie'), 200);
    await api.remove('guardrail_attachments', a.id);
    const removed = await api.remove('guardrails', g.id);
    assert.equal(removed.deleted, true);
  });

  test('malformed guardrails are refused with the JSON pointer of the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ name: 'r', kind: 'keyword', patterns: [{ kind: 'regex', value: '(a)\\1' }] }, /patterns\/0\/value/],
      [{ name: 'p', kind: 'pii', detectors: [{ type: 'passport', action: 'mask' }] }, /detectors\/0\/type/],
      [
        { name: 'p', kind: 'pii', custom_patterns: [{ name: 'x', regex: '(', action: 'mask' }] },
        /custom_patterns\/0\/regex/,
      ],
      [{ name: 'o', kind: 'openai_moderation' }, /api_key/],
      [
        {
          name: 'z',
          kind: 'presidio',
          analyzer_url: 'http://a',
          anonymizer_url: 'http://b',
          score_threshold: 2,
        },
        /score_threshold/,
      ],
    ];
    for (const [body, pointer] of cases) {
      const r = await api.raw('POST', '/guardrails', body);
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, pointer);
    }
  });
});

describe('guardrails: an edit reaches every replica (admin + 2 gateways on one etcd)', () => {
  const dir = tempDir('guardrails-cluster');
  let upstream: MockUpstream;
  let admin: AisixProcess;
  let replicas: AisixProcess[] = [];
  let api: AdminClient;
  let key = '';

  const status = async (r: AisixProcess, content: string) =>
    (
      await httpSend(
        'POST',
        `${r.proxyUrl}/v1/chat/completions`,
        { authorization: `Bearer ${key}` },
        { model: 'chat', messages: [{ role: 'user', content }] },
      )
    ).status;

  /** Waits until every replica answers `content` with `want`. */
  const everywhere = (content: string, want: number) =>
    Promise.all(
      replicas.map((r) =>
        waitUntil(
          `${r.name} answers ${want} to ${content}`,
          async () => ((await status(r, content)) === want ? true : undefined),
          { timeoutMs: 10_000, intervalMs: 20, alive: [r] },
        ),
      ),
    );

  before(async () => {
    const etcd = await testEtcd();
    upstream = await startMockUpstream();
    admin = await startAisix({ name: 'admin', dir, role: 'admin', etcd });
    replicas = await Promise.all(
      [1, 2].map((n) => startAisix({ name: `gateway-${n}`, dir, role: 'gateway', etcd })),
    );
    await waitStatus(admin, `${admin.adminUrl}/readyz`, 200);
    await Promise.all(replicas.map((r) => waitStatus(r, `${r.proxyUrl}/readyz`, 200)));
    api = new AdminClient(admin.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-upstream-guardrails-cluster',
      api_base: upstream.apiBase,
    });
    await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pk.id,
    });
    const created = await api.create('api_keys', { display_name: 'caller', allowed_models: ['chat'] });
    assert.ok(created.plaintext);
    key = created.plaintext;
    await everywhere('hello', 200);
  });

  after(async () => {
    await killAll([admin, ...replicas]);
    await upstream?.close();
    removeDir(dir);
  });

  test('create then edit a guardrail: every replica applies each version', async () => {
    const g = await api.create('guardrails', {
      name: 'replicated',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'delta-force' }],
    });
    await everywhere('delta-force', 422);
    const put = await api.raw('PUT', `/guardrails/${g.id}`, {
      ...g.value,
      patterns: [{ kind: 'literal', value: 'echo-base' }],
    });
    assert.equal(put.status, 200, put.body);
    await everywhere('echo-base', 422);
    await everywhere('delta-force', 200);
  });
});
