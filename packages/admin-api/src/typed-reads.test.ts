/**
 * Reads return the stored document as the gateway types it (control-plane §4.5): a document
 * another tool wrote (etcdctl, the reference) reads back with defaults filled, the provider-key
 * `secret` alias as `api_key` (masked), MCP/A2A `display_name` as `name`; a list skips a value
 * that does not decode (§2.4) while a GET still shows it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminOnStore, arr, embeddedStoreFactory, obj } from './testing/harness.js';

const s = adminOnStore(embeddedStoreFactory);

test('documents written straight to the store read back typed and masked', async () => {
  // As a direct writer stores them: no defaults, aliases as written.
  await s.h.store.create('provider_keys', 'pk-seeded', {
    display_name: 'seeded',
    secret: 'sk-seeded-secret-8888',
    provider: 'openai',
  });
  await s.h.store.create('mcp_servers', 'mcp-seeded', {
    display_name: 'tools',
    url: 'https://mcp.example/mcp',
  });
  const pk = obj(obj((await s.admin.call('GET', '/admin/v1/provider_keys/pk-seeded')).json).value);
  assert.equal(pk.api_key, '****8888');
  assert.equal(pk.secret, undefined);
  assert.ok(Array.isArray(pk.strip_headers), 'defaults filled');
  assert.deepEqual(pk.telemetry_tags, { featured: false });
  const mcp = obj(obj((await s.admin.call('GET', '/admin/v1/mcp_servers/mcp-seeded')).json).value);
  assert.equal(mcp.name, 'tools');
  assert.equal(mcp.display_name, undefined);
  assert.equal(mcp.auth_type, 'none');
  const list = arr((await s.admin.call('GET', '/admin/v1/provider_keys')).json).map(obj);
  assert.deepEqual(
    list.map((e) => obj(e.value).api_key),
    ['****8888'],
  );
});

test('a value that does not decode: left out of the list, shown as stored by a GET', async () => {
  await s.h.store.create('models', 'm-good', {
    display_name: 'good',
    provider: 'openai',
    model_name: 'x',
    provider_key_id: 'pk-seeded',
  });
  await s.h.store.create('models', 'm-bad', {
    display_name: 'bad',
    provider: 'openai',
    model_name: 'x',
    provider_key_id: 'pk-seeded',
    timeout: -5,
  });
  const list = arr((await s.admin.call('GET', '/admin/v1/models')).json).map(obj);
  assert.deepEqual(
    list.map((e) => e.id),
    ['m-good'],
  );
  const bad = await s.admin.call('GET', '/admin/v1/models/m-bad');
  assert.equal(bad.status, 200);
  assert.equal(obj(obj(bad.json).value).timeout, -5);
});
