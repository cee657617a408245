/**
 * The first-traffic path of the user docs (docs/admin-api.md), with the request bodies
 * verbatim: provider key, a model alias pointing at it, a caller key allowed to use the
 * alias, then listing models with the admin key. Runs on real etcd, the cluster setup the
 * docs describe.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { adminOnStore, arr, etcdStoreFactory, obj } from './testing/harness.js';

const s = adminOnStore(etcdStoreFactory, { adminKeys: ['change-me'], mode: { type: 'etcd' } });

it('user docs path: provider key -> model alias -> caller key -> list models', async () => {
  const auth = { key: null, headers: { authorization: 'Bearer change-me' } } as const;
  const pk = await s.admin.call('POST', '/admin/v1/provider_keys', {
    ...auth,
    raw: '{"display_name":"oa","api_key":"sk-up","provider":"openai","adapter":"openai"}',
    headers: { ...auth.headers, 'content-type': 'application/json' },
  });
  assert.equal(pk.status, 200, pk.text);
  const pkId = String(obj(pk.json).id);

  const model = await s.admin.call('POST', '/admin/v1/models', {
    ...auth,
    raw: `{"display_name":"chat","provider":"openai","model_name":"gpt-4o-mini","provider_key_id":"${pkId}"}`,
    headers: { ...auth.headers, 'content-type': 'application/json' },
  });
  assert.equal(model.status, 200, model.text);

  const callerKey = 'sk-my-api-key-123';
  const hash = createHash('sha256').update(callerKey).digest('hex');
  assert.equal(hash, '91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c');
  const key = await s.admin.call('POST', '/admin/v1/api_keys', {
    ...auth,
    raw: `{"key_hash":"${hash}","allowed_models":["chat"]}`,
    headers: { ...auth.headers, 'content-type': 'application/json' },
  });
  assert.equal(key.status, 200, key.text);
  assert.equal(obj(key.json).plaintext, undefined, 'a client-computed hash gets no generated key');

  const models = await s.admin.call('GET', '/admin/v1/models', auth);
  assert.equal(models.status, 200);
  const list = arr(models.json);
  assert.equal(list.length, 1);
  const entry = obj(list[0]);
  assert.equal(obj(entry.value).display_name, 'chat');
  assert.equal(obj(entry.value).provider_key_id, pkId);
  // The same key via x-api-key works when no Authorization header is sent.
  const viaHeader = await s.admin.call('GET', '/admin/v1/models', {
    key: null,
    headers: { 'x-api-key': 'change-me' },
  });
  assert.deepEqual(viaHeader.json, models.json);
  // Everything the docs wrote is in etcd under the configured prefix.
  assert.equal(await s.h.rawCount('provider_keys'), 1);
  assert.equal(await s.h.rawCount('models'), 1);
  assert.equal(await s.h.rawCount('api_keys'), 1);
});
