/**
 * No secret leaks: across a scenario of successes and failures, the provider credential
 * and the admin key appear in no response body and no log line, and a generated caller
 * key appears exactly once: in the response that created (or rotated) it.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import {
  ADMIN_KEY,
  embeddedStoreFactory,
  obj,
  type StoreHandle,
  startTestAdmin,
  type TestAdmin,
} from './testing/harness.js';

let h: StoreHandle;
let admin: TestAdmin;
before(async () => {
  h = await embeddedStoreFactory();
  admin = await startTestAdmin({ store: h.store });
});
after(async () => {
  await admin?.close();
  await h?.close();
});

const count = (hay: readonly string[], needle: string): number =>
  hay.reduce((n, s) => n + s.split(needle).length - 1, 0);

it('secrets never appear in responses or logs (plaintext keys once)', async () => {
  const upstream = 'sk-proj-UPSTREAM-9f8e7d6c5b4a';
  const pk = await admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'oa', api_key: upstream, provider: 'openai' },
  });
  assert.equal(pk.status, 200, pk.text);
  const pkId = String(obj(pk.json).id);
  await admin.call('GET', `/admin/v1/provider_keys/${pkId}`);
  await admin.call('GET', '/admin/v1/provider_keys');
  await admin.call('PUT', `/admin/v1/provider_keys/${pkId}`, {
    body: { display_name: 'oa', provider: 'openai' },
  });
  // Failures carrying the secret in the body.
  await admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'oa', api_key: upstream, provider: 'openai' },
  }); // 409
  await admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'x', api_key: upstream, nope: 1 },
  });
  await admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'y', api_key: upstream, secret: upstream },
  });
  await admin.call('POST', '/admin/v1/provider_keys', { body: { display_name: 7, api_key: upstream } });
  await admin.call('POST', '/admin/v1/provider_keys', { body: { display_name: 'z', api_key: 42 } });
  await admin.call('POST', '/admin/v1/provider_keys', {
    raw: `{"display_name":"x","api_key":"${upstream}",}`,
    headers: { 'content-type': 'application/json' },
  });
  await admin.call('PUT', `/admin/v1/provider_keys/${pkId}`, {
    body: { display_name: '', api_key: upstream },
  });
  // Wrong admin keys that resemble the real one.
  await admin.call('GET', '/admin/v1/models', { key: `${ADMIN_KEY}-typo` });
  await admin.call('GET', '/admin/v1/models', { key: null, headers: { 'x-api-key': ADMIN_KEY } });

  const model = await admin.call('POST', '/admin/v1/models', {
    body: { display_name: 'chat', provider: 'openai', model_name: 'gpt-4o', provider_key_id: pkId },
  });
  assert.equal(model.status, 200, model.text);
  const created = await admin.call('POST', '/admin/v1/api_keys', { body: { allowed_models: ['chat'] } });
  assert.equal(created.status, 200, created.text);
  const plaintext = String(obj(created.json).plaintext);
  const keyId = String(obj(created.json).id);
  await admin.call('GET', `/admin/v1/api_keys/${keyId}`);
  await admin.call('GET', '/admin/v1/apikeys');
  await admin.call('PUT', `/admin/v1/api_keys/${keyId}`, { body: { allowed_models: ['chat', 'gpt-*'] } });
  const rotated = await admin.call('POST', `/admin/v1/api_keys/${keyId}/rotate`);
  assert.equal(rotated.status, 200, rotated.text);
  const rotatedPlain = String(obj(rotated.json).plaintext);
  await admin.call('GET', `/admin/v1/api_keys/${keyId}`);
  await admin.call('GET', '/admin/v1/api_keys');
  await admin.call('GET', '/admin/v1/health');

  assert.equal(count(admin.bodies, upstream), 0, 'provider credential in a response');
  assert.equal(count(admin.bodies, ADMIN_KEY), 0, 'admin key in a response');
  assert.equal(count(admin.bodies, plaintext), 1, 'generated key shown exactly once');
  assert.equal(count(admin.bodies, rotatedPlain), 1, 'rotated key shown exactly once');
  assert.ok(admin.logs.length >= admin.bodies.length, 'one log line per request');
  for (const needle of [upstream, ADMIN_KEY, plaintext, rotatedPlain, 'UPSTREAM']) {
    assert.equal(count(admin.logs, needle), 0, `log contains ${needle.slice(0, 6)}...`);
  }
  // The log line has the route template, not the id-bearing path.
  assert.ok(admin.logs.some((l) => l.includes('"route":"/admin/v1/api_keys/:id/rotate"')));
  assert.ok(!admin.logs.some((l) => l.includes(keyId)));
});
