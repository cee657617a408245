/**
 * Full resource lifecycles over real HTTP, run against both stores (real etcd with its own
 * prefix, and the embedded store in a temp dir): provider keys (masked secret kept across
 * PUT), models (name uniqueness), api keys (generated key, rotate, alias path) and one
 * extended kind (guardrails).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { arr, createProviderKey, describeOnBothStores, obj } from './testing/harness.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

describeOnBothStores('admin lifecycle', (s) => {
  it('provider key: create, read masked, PUT keeps the secret, delete', async () => {
    const secret = 'sk-upstream-secret-1234abcd';
    const created = await s.admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 'oa', api_key: secret, provider: 'openai', adapter: 'openai' },
    });
    assert.equal(created.status, 200, created.text);
    const e = obj(created.json);
    const id = String(e.id);
    assert.match(id, UUID_V4);
    assert.equal(typeof e.revision, 'number');
    const v = obj(e.value);
    assert.equal(v.display_name, 'oa');
    assert.notEqual(v.api_key, secret);
    assert.ok(String(v.api_key).startsWith('****'), String(v.api_key));
    assert.ok(!created.text.includes(secret));
    const stored = await s.h.store.get('provider_keys', id);
    assert.equal(stored?.value.api_key, secret, 'the store holds the real secret');
    assert.equal(stored?.revision, e.revision, 'the response carries the real store revision');

    const got = await s.admin.call('GET', `/admin/v1/provider_keys/${id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, created.json);
    const list = arr((await s.admin.call('GET', '/admin/v1/provider_keys')).json);
    assert.equal(list.length, 1);
    assert.ok(!JSON.stringify(list).includes(secret));

    // PUT without the secret keeps it.
    const put1 = await s.admin.call('PUT', `/admin/v1/provider_keys/${id}`, {
      body: { display_name: 'oa-renamed', provider: 'openai', adapter: 'openai' },
    });
    assert.equal(put1.status, 200, put1.text);
    const r1 = Number(obj(put1.json).revision);
    assert.ok(r1 > Number(e.revision));
    assert.equal((await s.h.store.get('provider_keys', id))?.value.api_key, secret);
    // PUT with the masked value sent back keeps it too.
    const put2 = await s.admin.call('PUT', `/admin/v1/provider_keys/${id}`, {
      body: { display_name: 'oa-renamed', provider: 'openai', api_key: v.api_key },
    });
    assert.equal(put2.status, 200, put2.text);
    assert.equal((await s.h.store.get('provider_keys', id))?.value.api_key, secret);
    assert.equal(Number(obj(put2.json).revision), (await s.h.store.get('provider_keys', id))?.revision);
    // A new secret replaces it.
    const put3 = await s.admin.call('PUT', `/admin/v1/provider_keys/${id}`, {
      body: { display_name: 'oa-renamed', provider: 'openai', api_key: 'sk-new-secret-9999' },
    });
    assert.equal(put3.status, 200, put3.text);
    assert.equal((await s.h.store.get('provider_keys', id))?.value.api_key, 'sk-new-secret-9999');

    const del = await s.admin.call('DELETE', `/admin/v1/provider_keys/${id}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.json, { deleted: true, id });
    assert.equal((await s.admin.call('GET', `/admin/v1/provider_keys/${id}`)).status, 404);
    const again = await s.admin.call('DELETE', `/admin/v1/provider_keys/${id}`);
    assert.equal(again.status, 404);
    assert.deepEqual(again.json, { error_msg: 'resource not found' });
    assert.equal(await s.h.rawCount('provider_keys'), 0);
  });

  it('model: create, name conflicts on create and rename, keep own name', async () => {
    const pk = await createProviderKey(s.admin);
    const a = await s.admin.call('POST', '/admin/v1/models', {
      body: {
        display_name: 'chat',
        provider: 'openai',
        model_name: 'gpt-4o-mini',
        provider_key_id: pk,
      },
    });
    assert.equal(a.status, 200, a.text);
    const b = await s.admin.call('POST', '/admin/v1/models', {
      body: { display_name: 'chat-2', provider: 'openai', model_name: 'gpt-4o', provider_key_id: pk },
    });
    assert.equal(b.status, 200, b.text);
    const dup = await s.admin.call('POST', '/admin/v1/models', {
      body: { display_name: 'chat', provider: 'openai', model_name: 'x', provider_key_id: pk },
    });
    assert.equal(dup.status, 409);
    assert.deepEqual(dup.json, { error_msg: 'name "chat" already in use by another resource' });
    const bId = String(obj(b.json).id);
    const rename = await s.admin.call('PUT', `/admin/v1/models/${bId}`, {
      body: { display_name: 'chat', provider: 'openai', model_name: 'gpt-4o', provider_key_id: pk },
    });
    assert.equal(rename.status, 409);
    const keep = await s.admin.call('PUT', `/admin/v1/models/${bId}`, {
      body: { display_name: 'chat-2', provider: 'openai', model_name: 'gpt-4.1', provider_key_id: pk },
    });
    assert.equal(keep.status, 200, keep.text);
    assert.equal(obj(obj(keep.json).value).model_name, 'gpt-4.1');
    const list = arr((await s.admin.call('GET', '/admin/v1/models')).json).map((x) => String(obj(x).id));
    assert.deepEqual(list, [...list].sort(), 'list is ascending by id');
    assert.equal(list.length, 2);
    assert.equal(await s.h.rawCount('models'), 2);
  });

  it('api key: generated key shown once, rotate, alias path, PUT keeps the hash', async () => {
    const gen = await s.admin.call('POST', '/admin/v1/api_keys', {
      body: {
        allowed_models: ['chat'],
        display_name: 'app',
        disabled: true,
        expires_at: '2099-01-01T00:00:00Z',
      },
    });
    assert.equal(gen.status, 200, gen.text);
    const g = obj(gen.json);
    const plaintext = String(g.plaintext);
    assert.match(plaintext, /^sk-/);
    const id = String(g.id);
    assert.equal(obj(g.value).key_hash, sha256(plaintext));
    assert.equal((await s.h.store.get('api_keys', id))?.value.key_hash, sha256(plaintext));
    const read = await s.admin.call('GET', `/admin/v1/api_keys/${id}`);
    assert.ok(!read.text.includes(plaintext));
    assert.equal(obj(read.json).plaintext, undefined);
    const viaAlias = await s.admin.call('GET', `/admin/v1/apikeys/${id}`);
    assert.deepEqual(viaAlias.json, read.json);

    const given = await s.admin.call('POST', '/admin/v1/api_keys', {
      body: { key_hash: sha256('sk-my-api-key-123'), allowed_models: ['*'] },
    });
    assert.equal(given.status, 200, given.text);
    assert.equal(obj(given.json).plaintext, undefined);
    const dupHash = await s.admin.call('POST', '/admin/v1/apikeys', {
      body: { key_hash: sha256('sk-my-api-key-123'), allowed_models: [] },
    });
    assert.equal(dupHash.status, 409);

    const rot = await s.admin.call('POST', `/admin/v1/api_keys/${id}/rotate`);
    assert.equal(rot.status, 200, rot.text);
    const r = obj(rot.json);
    const newPlain = String(r.plaintext);
    assert.match(newPlain, /^sk-[0-9a-f]{32}$/);
    assert.notEqual(newPlain, plaintext);
    const rv = obj(obj(r.entry).value);
    assert.equal(rv.key_hash, sha256(newPlain));
    assert.equal(rv.disabled, true, 'rotate preserves the other fields');
    assert.equal(rv.expires_at, '2099-01-01T00:00:00Z');
    assert.equal(obj(r.entry).revision, (await s.h.store.get('api_keys', id))?.revision);
    const rot2 = await s.admin.call('POST', `/admin/v1/apikeys/${id}/rotate`);
    assert.equal(rot2.status, 200);
    const latest = String(obj(rot2.json).plaintext);
    assert.equal(
      (await s.admin.call('POST', '/admin/v1/api_keys/00000000-0000-4000-8000-000000000000/rotate')).status,
      404,
    );

    const put = await s.admin.call('PUT', `/admin/v1/apikeys/${id}`, {
      body: { allowed_models: ['chat', 'chat-2'] },
    });
    assert.equal(put.status, 200, put.text);
    const stored = await s.h.store.get('api_keys', id);
    assert.equal(stored?.value.key_hash, sha256(latest), 'PUT without key_hash keeps the key');
    assert.deepEqual(stored?.value.allowed_models, ['chat', 'chat-2']);
    const listA = (await s.admin.call('GET', '/admin/v1/api_keys')).json;
    const listB = (await s.admin.call('GET', '/admin/v1/apikeys')).json;
    assert.deepEqual(listA, listB);
    assert.equal(arr(listA).length, 2);
  });

  it('extended kind (guardrails): create, conflict, replace, delete', async () => {
    const body = {
      name: 'no-secrets',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'password' }],
    };
    const c = await s.admin.call('POST', '/admin/v1/guardrails', { body });
    assert.equal(c.status, 200, c.text);
    const id = String(obj(c.json).id);
    assert.equal((await s.admin.call('POST', '/admin/v1/guardrails', { body })).status, 409);
    const p = await s.admin.call('PUT', `/admin/v1/guardrails/${id}`, {
      body: { ...body, patterns: [{ kind: 'regex', value: 'pass(word)?' }] },
    });
    assert.equal(p.status, 200, p.text);
    assert.equal((await s.h.store.get('guardrails', id))?.revision, obj(p.json).revision);
    assert.equal((await s.admin.call('DELETE', `/admin/v1/guardrails/${id}`)).status, 200);
    assert.equal(await s.h.rawCount('guardrails'), 0);
  });

  // decisions.md 10: a PUT that omits a secret, or sends the masked value back, keeps it.
  for (const [kind, body] of [
    ['mcp_servers', { name: 'tools', url: 'https://mcp.example/mcp', auth_type: 'bearer' }],
    ['a2a_agents', { name: 'helper', url: 'https://agent.example/a2a', auth_type: 'bearer' }],
  ] as const) {
    it(`${kind}: PUT keeps the stored secret (omitted or masked), a new one replaces it`, async () => {
      const secret = `${kind}-secret-4321`;
      const c = await s.admin.call('POST', `/admin/v1/${kind}`, { body: { ...body, secret } });
      assert.equal(c.status, 200, c.text);
      const id = String(obj(c.json).id);
      const masked = obj(obj(c.json).value).secret;
      assert.equal(masked, '****4321');
      const sent = await s.admin.call('PUT', `/admin/v1/${kind}/${id}`, {
        body: { ...body, secret: masked },
      });
      assert.equal(sent.status, 200, sent.text);
      assert.equal((await s.h.store.get(kind, id))?.value.secret, secret, 'masked value sent back');
      const omitted = await s.admin.call('PUT', `/admin/v1/${kind}/${id}`, { body });
      assert.equal(omitted.status, 200, omitted.text);
      assert.equal((await s.h.store.get(kind, id))?.value.secret, secret, 'secret omitted');
      const fresh = `${kind}-rotated-9999`;
      const replaced = await s.admin.call('PUT', `/admin/v1/${kind}/${id}`, {
        body: { ...body, secret: fresh },
      });
      assert.equal(replaced.status, 200, replaced.text);
      assert.equal((await s.h.store.get(kind, id))?.value.secret, fresh);
      assert.equal((await s.admin.call('DELETE', `/admin/v1/${kind}/${id}`)).status, 200);
    });
  }
});
