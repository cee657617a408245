/**
 * The etcd write path against a real etcd: atomic name uniqueness under concurrency
 * (decision 2) and real write revisions (decision 1).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import { auditPrefixFor } from '../audit-keys.js';
import { StoreError } from '../types.js';
import { createEtcdStore, type EtcdStore } from './index.js';
import { etcdPut, etcdRange } from './test-support.js';

const stores: EtcdStore[] = [];
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
});

async function fresh() {
  const { endpoint, prefix } = await testEtcd();
  const s = createEtcdStore({ endpoints: [endpoint], prefix });
  stores.push(s);
  return { endpoint, prefix, store: s.store };
}

test('20 concurrent creates of one unique name: exactly one wins, the rest conflict', async (t) => {
  const { endpoint, prefix, store } = await fresh();
  const unique = { field: 'display_name', value: 'gpt-x' };
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) =>
      store.create('models', `id-${i}`, { display_name: 'gpt-x', i }, unique),
    ),
  );
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.diagnostic(`winners=${ok.length} conflicts=${failed.length}`);
  assert.equal(ok.length, 1);
  for (const f of failed) {
    assert.ok(f.reason instanceof StoreError, String(f.reason));
    assert.equal(f.reason.code, 'conflict');
    assert.equal(f.reason.conflictValue, 'gpt-x');
  }
  const { rows } = await etcdRange(endpoint, `${prefix}/models/`);
  assert.equal(rows.size, 1);
  const [key, row] = [...rows][0] ?? assert.fail('no key');
  const winner = ok[0];
  assert.ok(winner?.status === 'fulfilled');
  assert.equal(key, `${prefix}/models/${winner.value.id}`);
  assert.equal(row.revision, winner.value.revision);
});

test('replace keeps its own name, cannot take another one; revisions are etcd mod_revisions', async () => {
  const { endpoint, prefix, store } = await fresh();
  const u = (value: string) => ({ field: 'display_name', value });
  const a = await store.create('models', 'a', { display_name: 'A' }, u('A'));
  const b = await store.create('models', 'b', { display_name: 'B' }, u('B'));
  assert.ok(b.revision > a.revision);

  const a2 = await store.replace('models', 'a', { display_name: 'A', extra: 1 }, u('A'));
  await assert.rejects(
    store.replace('models', 'a', { display_name: 'B' }, u('B')),
    (e: unknown) => e instanceof StoreError && e.code === 'conflict',
  );
  await assert.rejects(
    store.replace('models', 'nope', { display_name: 'C' }, u('C')),
    (e: unknown) => e instanceof StoreError && e.code === 'not_found',
  );
  await assert.rejects(
    store.create('models', 'a', { display_name: 'Z' }, u('Z')),
    (e: unknown) => e instanceof StoreError && e.code === 'exists',
  );
  await assert.rejects(
    store.create('models', 'a', { display_name: 'Z' }),
    (e: unknown) => e instanceof StoreError && e.code === 'exists',
  );
  await assert.rejects(
    store.replace('models', 'nope', { display_name: 'Z' }),
    (e: unknown) => e instanceof StoreError && e.code === 'not_found',
  );
  // Same name in another kind is no conflict: uniqueness is per kind.
  await store.create('guardrails', 'g', { display_name: 'A' }, u('A'));

  const { rows } = await etcdRange(endpoint, `${prefix}/models/`);
  assert.equal(rows.get(`${prefix}/models/a`)?.revision, a2.revision);
  assert.equal(rows.get(`${prefix}/models/b`)?.revision, b.revision);
  assert.deepEqual(await store.get('models', 'a'), {
    id: 'a',
    value: { display_name: 'A', extra: 1 },
    revision: a2.revision,
  });

  const del = await store.delete('models', 'a');
  assert.ok(del.revision > a2.revision);
  await assert.rejects(
    store.delete('models', 'a'),
    (e: unknown) => e instanceof StoreError && e.code === 'not_found',
  );
  assert.equal(await store.get('models', 'a'), null);
  // The freed name can be taken again.
  await store.create('models', 'c', { display_name: 'A' }, u('A'));
  assert.deepEqual(
    (await store.list('models')).map((d) => [d.id, d.value.display_name]),
    [
      ['b', 'B'],
      ['c', 'A'],
    ],
  );
});

test('an environment audit record sits beside the root prefix, outside every gateway range', async () => {
  const { endpoint, prefix: root } = await testEtcd();
  const envPrefix = `${root}/dev`;
  const s = createEtcdStore({
    endpoints: [endpoint],
    prefix: envPrefix,
    auditPrefix: auditPrefixFor(root, 'dev'),
  });
  stores.push(s);
  await s.store.create('models', 'm1', { display_name: 'a' }, undefined, {
    audit: { at: Date.now(), doc: { action: 'create' } },
  });
  // A gateway without env_id watches `<root>/`: only the resource is there.
  const { rows } = await etcdRange(endpoint, `${root}/`);
  assert.deepEqual([...rows.keys()], [`${envPrefix}/models/m1`]);
  const audit = await etcdRange(endpoint, `${root}.audit/dev/`);
  assert.equal(audit.rows.size, 1);
  const found = await s.store.audit?.query({ limit: 10 });
  assert.equal(found?.records.length, 1);
});

test('a write over etcd --max-request-bytes is refused before it is sent (too_large), nothing written', async () => {
  const { endpoint, prefix, store } = await fresh();
  const big = { display_name: 'big', blob: 'x'.repeat(1_600_000) };
  await assert.rejects(store.create('models', 'big', big), (e: unknown) => {
    assert.ok(e instanceof StoreError, String(e));
    assert.equal(e.code, 'too_large');
    assert.match(e.message, /at most 1572864 bytes per write/);
    return true;
  });
  const audit = { at: Date.now(), doc: { note: 'y'.repeat(1_000_000) } };
  const half = { display_name: 'half', blob: 'x'.repeat(700_000) };
  await assert.rejects(store.create('models', 'half', half, undefined, { audit }), /at most/);
  const { rows } = await etcdRange(endpoint, `${prefix}/models/`);
  assert.equal(rows.size, 0);
  // Just under the bound goes through.
  await store.create('models', 'ok', { display_name: 'ok', blob: 'x'.repeat(1_500_000) });
});

test("a size refusal from etcd itself (gRPC RESOURCE_EXHAUSTED) does not open the client's circuit breaker", async () => {
  const { endpoint, prefix } = await testEtcd();
  // A bound above etcd's real one, so the request reaches etcd and gRPC refuses it.
  const s = createEtcdStore({ endpoints: [endpoint], prefix, maxRequestBytes: 8 * 1024 * 1024 });
  stores.push(s);
  const started = Date.now();
  await assert.rejects(s.store.create('models', 'huge', { blob: 'x'.repeat(2_200_000) }), (e: unknown) => {
    assert.ok(e instanceof StoreError, String(e));
    assert.match(e.message, /larger than max|too large/);
    return true;
  });
  // Without the fix the failure was retried 3 times and the breaker then refused every call for ~5 s.
  for (let i = 0; i < 3; i++) await s.store.create('models', `after-${i}`, { display_name: `n${i}` });
  assert.equal((await s.store.get('models', 'after-0'))?.value.display_name, 'n0');
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
});

test('a kind holding more than 4 MiB (gRPC default) still lists, and its unique writes still commit', async () => {
  const { endpoint, prefix, store } = await fresh();
  // Four documents of 1.2 MB each, as a direct writer (or four admin writes) may store.
  const big = 'x'.repeat(1_200_000);
  for (const id of ['a', 'b', 'c', 'd'])
    await etcdPut(endpoint, `${prefix}/provider_keys/${id}`, JSON.stringify({ display_name: id, blob: big }));
  const listed = await store.list('provider_keys');
  assert.deepEqual(
    listed.map((d) => d.id),
    ['a', 'b', 'c', 'd'],
  );
  // Every unique write reads the whole kind first.
  const created = await store.create(
    'provider_keys',
    'e',
    { display_name: 'e' },
    { field: 'display_name', value: 'e' },
  );
  assert.ok(created.revision > 0);
  await assert.rejects(
    store.create('provider_keys', 'f', { display_name: 'a' }, { field: 'display_name', value: 'a' }),
    (e: unknown) => e instanceof StoreError && e.code === 'conflict',
  );
});
