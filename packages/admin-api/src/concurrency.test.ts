/**
 * Name uniqueness under concurrency: 20 simultaneous creates of one display_name produce
 * exactly one 200 and nineteen 409s, and etcd (read directly through its JSON gateway,
 * not through our store client) holds exactly one key.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { adminOnStore, etcdStoreFactory } from './testing/harness.js';

const s = adminOnStore(etcdStoreFactory, { mode: { type: 'etcd' } });

it('20 concurrent POSTs of one display_name: one 200, nineteen 409, one key in etcd', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      s.admin.call('POST', '/admin/v1/provider_keys', {
        body: { display_name: 'same-name', api_key: `sk-race-${i}`, provider: 'openai' },
      }),
    ),
  );
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(
    statuses,
    [200, ...Array(19).fill(409)],
    results.map((r) => `${r.status} ${r.text}`).join('\n'),
  );
  for (const r of results.filter((x) => x.status === 409)) {
    assert.deepEqual(r.json, { error_msg: 'name "same-name" already in use by another resource' });
  }
  assert.equal(await s.h.rawCount('provider_keys'), 1);
});
