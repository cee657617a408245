/**
 * A store that cannot be reached: reads and writes answer 500 with the store envelope, the
 * detail carries no credential, and the server keeps serving (probes, OpenAPI).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createEtcdStore, type EtcdStore } from '@aisix/store';
import { freePort } from '@aisix/testkit';
import { obj, startTestAdmin, type TestAdmin } from './testing/harness.js';

const PASSWORD = 'etcd-pass-DO-NOT-LEAK';
let etcd: EtcdStore;
let admin: TestAdmin;
before(async () => {
  // Nothing listens on this port: every store call fails fast with a connection error.
  const port = await freePort();
  etcd = await createEtcdStore({
    endpoints: [`http://127.0.0.1:${port}`],
    prefix: '/aisix',
    user: 'root',
    password: PASSWORD,
    dialTimeoutMs: 300,
    requestTimeoutMs: 500,
  });
  admin = await startTestAdmin({ store: etcd.store, mode: { type: 'etcd' } });
});
after(async () => {
  await admin?.close();
  await etcd?.close();
});

it('store failures are 500 with the store envelope and no secrets', async () => {
  const secret = 'sk-upstream-NOLEAK-1234';
  const calls = [
    await admin.call('GET', '/admin/v1/models'),
    await admin.call('GET', '/admin/v1/models/00000000-0000-4000-8000-000000000000'),
    await admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 'x', api_key: secret, provider: 'openai' },
    }),
    await admin.call('DELETE', '/admin/v1/models/00000000-0000-4000-8000-000000000000'),
  ];
  for (const r of calls) {
    assert.equal(r.status, 500, r.text);
    assert.match(String(obj(r.json).error_msg), /^store error: store backend failure: /);
    assert.ok(!r.text.includes(PASSWORD) && !r.text.includes(secret), r.text);
  }
  for (const line of admin.logs) assert.ok(!line.includes(PASSWORD) && !line.includes(secret), line);
  assert.ok(admin.logs.some((l) => l.includes('admin request failed')));
  const live = await admin.call('GET', '/livez', { key: null });
  assert.equal(live.status, 200);
  const health = await admin.call('GET', '/admin/v1/health');
  assert.equal(health.status, 500);
});
