/**
 * File mode: reads come from the live file snapshot's entries; every authenticated
 * mutating request gets 409 with the file path (unauthenticated ones get 401 first), and
 * the store is never written.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { KindName } from '@aisix/core';
import { adminOnStore, arr, embeddedStoreFactory, obj } from './testing/harness.js';

const PATH = '/etc/aisix/resources.yaml';
const MSG =
  `resources are file-managed: this gateway loads its resources from ${PATH}; ` +
  'edit that file and send SIGHUP to reload instead of using the resource write API';
const PK = 'b6f0b7a2-6a5e-5a1e-9c1f-000000000001';
const MODEL = 'b6f0b7a2-6a5e-5a1e-9c1f-000000000002';

let generation = 1;
const entries = (): { kind: KindName; id: string; value: Record<string, unknown>; revision: number }[] => [
  {
    kind: 'models',
    id: MODEL,
    value: { display_name: 'chat', provider: 'openai', model_name: 'gpt-4o-mini', provider_key_id: PK },
    revision: generation,
  },
  {
    kind: 'provider_keys',
    id: PK,
    value: { display_name: 'oa', api_key: 'sk-file-secret-abcd', provider: 'openai' },
    revision: generation,
  },
];

const s = adminOnStore(embeddedStoreFactory, { mode: { type: 'file', path: PATH, entries } });

it('reads are served from the file entries, secrets masked, reloads visible', async () => {
  const list = await s.admin.call('GET', '/admin/v1/models');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json, [{ id: MODEL, value: entries()[0]?.value, revision: 1 }]);
  const pk = await s.admin.call('GET', `/admin/v1/provider_keys/${PK}`);
  assert.equal(pk.status, 200);
  assert.ok(!pk.text.includes('sk-file-secret-abcd'));
  assert.equal((await s.admin.call('GET', '/admin/v1/guardrails')).text, '[]');
  generation = 2;
  assert.equal(obj(arr((await s.admin.call('GET', '/admin/v1/models')).json)[0]).revision, 2);
  const health = obj((await s.admin.call('GET', '/admin/v1/health')).json);
  assert.deepEqual(health.models, [{ id: MODEL, name: 'chat', health: 0 }]);
  assert.equal(health.config, undefined, 'config is reported only for store-backed modes');
  const ready = await s.admin.call('GET', '/readyz', { key: null });
  assert.equal(ready.status, 200);
});

it('every authenticated write gets 409 with the file path; unauthenticated gets 401', async () => {
  const writes: [string, string, unknown?][] = [
    [
      'POST',
      '/admin/v1/models',
      { display_name: 'n', provider: 'openai', model_name: 'x', provider_key_id: PK },
    ],
    [
      'PUT',
      `/admin/v1/models/${MODEL}`,
      { display_name: 'chat', provider: 'openai', model_name: 'y', provider_key_id: PK },
    ],
    ['DELETE', `/admin/v1/models/${MODEL}`],
    ['POST', '/admin/v1/api_keys', { allowed_models: [] }],
    ['POST', `/admin/v1/api_keys/${MODEL}/rotate`],
    ['POST', '/admin/v1/apikeys', 'not even json'],
    ['DELETE', '/admin/v1/rate_limit_policies/anything'],
  ];
  for (const [method, path, body] of writes) {
    const r = await s.admin.call(method, path, typeof body === 'string' ? { raw: body } : { body });
    assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
    assert.deepEqual(r.json, { error_msg: MSG });
    const anon = await s.admin.call(method, path, {
      key: null,
      body: typeof body === 'string' ? undefined : body,
    });
    assert.equal(anon.status, 401);
    assert.ok(!anon.text.includes(PATH), 'the file path is only shown to authenticated callers');
  }
  assert.equal(await s.h.rawCount('models'), 0);
  assert.equal(await s.h.rawCount('api_keys'), 0);
});
