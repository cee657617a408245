/**
 * No secret leaks: across a scenario of successes and failures, the provider credential
 * and the admin key appear in no response body and no log line, and a generated caller
 * key appears exactly once: in the response that created (or rotated) it.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ADMIN_KEY, adminOnStore, embeddedStoreFactory, obj } from './testing/harness.js';

const s = adminOnStore(embeddedStoreFactory);

const count = (hay: readonly string[], needle: string): number =>
  hay.reduce((n, s) => n + s.split(needle).length - 1, 0);

it('secrets never appear in responses or logs (plaintext keys once)', async () => {
  const upstream = 'sk-proj-UPSTREAM-9f8e7d6c5b4a';
  const pk = await s.admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'oa', api_key: upstream, provider: 'openai' },
  });
  assert.equal(pk.status, 200, pk.text);
  const pkId = String(obj(pk.json).id);
  await s.admin.call('GET', `/admin/v1/provider_keys/${pkId}`);
  await s.admin.call('GET', '/admin/v1/provider_keys');
  await s.admin.call('PUT', `/admin/v1/provider_keys/${pkId}`, {
    body: { display_name: 'oa', provider: 'openai' },
  });
  // Failures carrying the secret in the body.
  await s.admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'oa', api_key: upstream, provider: 'openai' },
  }); // 409
  await s.admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'x', api_key: upstream, nope: 1 },
  });
  await s.admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'y', api_key: upstream, secret: upstream },
  });
  await s.admin.call('POST', '/admin/v1/provider_keys', { body: { display_name: 7, api_key: upstream } });
  await s.admin.call('POST', '/admin/v1/provider_keys', { body: { display_name: 'z', api_key: 42 } });
  await s.admin.call('POST', '/admin/v1/provider_keys', {
    raw: `{"display_name":"x","api_key":"${upstream}",}`,
    headers: { 'content-type': 'application/json' },
  });
  await s.admin.call('PUT', `/admin/v1/provider_keys/${pkId}`, {
    body: { display_name: '', api_key: upstream },
  });
  // Wrong admin keys that resemble the real one.
  await s.admin.call('GET', '/admin/v1/models', { key: `${ADMIN_KEY}-typo` });
  await s.admin.call('GET', '/admin/v1/models', { key: null, headers: { 'x-api-key': ADMIN_KEY } });

  const model = await s.admin.call('POST', '/admin/v1/models', {
    body: { display_name: 'chat', provider: 'openai', model_name: 'gpt-4o', provider_key_id: pkId },
  });
  assert.equal(model.status, 200, model.text);
  const created = await s.admin.call('POST', '/admin/v1/api_keys', { body: { allowed_models: ['chat'] } });
  assert.equal(created.status, 200, created.text);
  const plaintext = String(obj(created.json).plaintext);
  const keyId = String(obj(created.json).id);
  await s.admin.call('GET', `/admin/v1/api_keys/${keyId}`);
  await s.admin.call('GET', '/admin/v1/apikeys');
  await s.admin.call('PUT', `/admin/v1/api_keys/${keyId}`, { body: { allowed_models: ['chat', 'gpt-*'] } });
  const rotated = await s.admin.call('POST', `/admin/v1/api_keys/${keyId}/rotate`);
  assert.equal(rotated.status, 200, rotated.text);
  const rotatedPlain = String(obj(rotated.json).plaintext);
  await s.admin.call('GET', `/admin/v1/api_keys/${keyId}`);
  await s.admin.call('GET', '/admin/v1/api_keys');
  await s.admin.call('GET', '/admin/v1/health');

  assert.equal(count(s.admin.bodies, upstream), 0, 'provider credential in a response');
  assert.equal(count(s.admin.bodies, ADMIN_KEY), 0, 'admin key in a response');
  assert.equal(count(s.admin.bodies, plaintext), 1, 'generated key shown exactly once');
  assert.equal(count(s.admin.bodies, rotatedPlain), 1, 'rotated key shown exactly once');
  assert.ok(s.admin.logs.length >= s.admin.bodies.length, 'one log line per request');
  for (const needle of [upstream, ADMIN_KEY, plaintext, rotatedPlain, 'UPSTREAM']) {
    assert.equal(count(s.admin.logs, needle), 0, `log contains ${needle.slice(0, 6)}...`);
  }
  // The log line has the route template, not the id-bearing path.
  assert.ok(s.admin.logs.some((l) => l.includes('"route":"/admin/v1/api_keys/:id/rotate"')));
  assert.ok(!s.admin.logs.some((l) => l.includes(keyId)));
});
