/**
 * Bad documents written straight into a real etcd (as a CI job or `etcdctl put` could) reach a
 * gateway's config sync: they are reported in /status/config, never served, never stop the
 * watcher; a served key that turns bad keeps serving its last good value until it is fixed or
 * deleted; a key under a look-alike prefix is not even observed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import { type ConfigSync, startConfigSync } from '../config-sync.js';
import { createEtcdStore, type EtcdStore } from './index.js';
import { etcdDelete, etcdPut, waitFor } from './test-support.js';

let endpoint: string;
let prefix: string;
let etcd: EtcdStore;
let sync: ConfigSync;

const model = (name: string) =>
  JSON.stringify({ display_name: name, provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'pk1' });

interface StatusBody {
  state: string;
  rejected: {
    resource_kind: string;
    resource_id: string;
    last_error_kind: string;
    last_error: string;
    serving_stale_since?: string;
  }[];
  applied?: { resource_counts: Record<string, number> };
}
const status = () => sync.statusJson() as unknown as StatusBody;
const servedName = (id: string) =>
  (sync.snapshot.byId('models').get(id)?.value as { display_name?: string } | undefined)?.display_name;
const rejectedFor = (id: string) => status().rejected.find((r) => r.resource_id === id);

before(async () => {
  ({ endpoint, prefix } = await testEtcd());
  etcd = createEtcdStore({ endpoints: [endpoint], prefix });
  await etcdPut(endpoint, `${prefix}/models/good`, model('good'));
  sync = startConfigSync({ source: etcd.source });
  await sync.ready();
});

after(async () => {
  await sync.stop();
  await etcd.close();
});

test('bad documents are reported, never served, and do not stop the watcher', async () => {
  await etcdPut(endpoint, `${prefix}/models/notjson`, '{"display_name": "broken"');
  await etcdPut(
    endpoint,
    `${prefix}/models/wrongtype`,
    JSON.stringify({ display_name: 42, provider: 'openai' }),
  );
  await etcdPut(endpoint, `${prefix}/teams/t1`, JSON.stringify({ name: 'x' }));
  await etcdPut(endpoint, `${prefix}foo/models/lookalike`, model('lookalike'));
  await etcdPut(endpoint, `${prefix}/models/after`, model('after'));
  assert.ok(
    await waitFor(() => sync.snapshot.byName('models', 'after') !== undefined, 5000),
    'watcher kept applying',
  );

  const snap = sync.snapshot;
  assert.ok(snap.byName('models', 'good'));
  assert.equal(snap.byId('models').has('notjson'), false);
  assert.equal(snap.byId('models').has('wrongtype'), false);
  assert.equal(snap.byName('models', 'lookalike'), undefined, 'a look-alike prefix is never served');
  assert.equal(rejectedFor('notjson')?.last_error_kind, 'non_json');
  assert.equal(rejectedFor('wrongtype')?.last_error_kind, 'schema_failed');
  assert.equal(status().rejected.find((r) => r.resource_kind === 'teams')?.last_error_kind, 'unknown_kind');
  assert.equal(rejectedFor('lookalike'), undefined, 'outside <prefix>/ is not observed at all');
  assert.equal(status().state, 'degraded');
  assert.equal(status().applied?.resource_counts.models, 2);
});

test('a served key that turns bad keeps its last good value until it is fixed', async () => {
  await etcdPut(endpoint, `${prefix}/models/flip`, model('flip-v1'));
  assert.ok(await waitFor(() => sync.snapshot.byId('models').has('flip'), 5000));
  await etcdPut(endpoint, `${prefix}/models/flip`, JSON.stringify({ display_name: 'flip-v2', provider: 7 }));
  assert.ok(await waitFor(() => rejectedFor('flip') !== undefined, 5000));
  assert.equal(servedName('flip'), 'flip-v1');
  assert.ok(rejectedFor('flip')?.serving_stale_since, 'the pin is reported');

  await etcdPut(endpoint, `${prefix}/models/flip`, model('flip-v3'));
  assert.ok(await waitFor(() => rejectedFor('flip') === undefined, 5000));
  assert.equal(servedName('flip'), 'flip-v3');

  await etcdDelete(endpoint, `${prefix}/models/notjson`);
  assert.ok(
    await waitFor(() => rejectedFor('notjson') === undefined, 5000),
    'deleting a bad key clears its row',
  );
});
