/**
 * The etcd read path against a real etcd: watch order, compaction, abort, paged load, auth.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { startEtcd, testEtcd } from '@aisix/testkit';
import { StoreError, type WatchEnd, type WatchEvent } from '../types.js';
import { createEtcdStore } from './index.js';
import { currentRevision, etcdCall, etcdCompact, etcdDelete, etcdPut, waitFor } from './test-support.js';

const stores: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
});

function open(endpoint: string, prefix: string, extra: Partial<Parameters<typeof createEtcdStore>[0]> = {}) {
  const s = createEtcdStore({
    endpoints: [endpoint],
    prefix,
    requestTimeoutMs: 3000,
    dialTimeoutMs: 1000,
    ...extra,
  });
  stores.push(s);
  return s;
}

test('watch delivers puts and deletes in revision order, nothing outside the prefix', async () => {
  const { endpoint, prefix } = await testEtcd();
  const { source } = open(endpoint, prefix);
  const loaded = await source.load();
  const got: WatchEvent[] = [];
  const ac = new AbortController();
  const ended = source.watch(loaded.revision + 1, (evs) => got.push(...evs), ac.signal);
  const r1 = await etcdPut(endpoint, `${prefix}/models/a`, '{"n":1}');
  const r2 = await etcdPut(endpoint, `${prefix}/models/b`, '{"n":2}');
  await etcdPut(endpoint, `${prefix}x/models/c`, '{"outside":true}');
  const r3 = await etcdDelete(endpoint, `${prefix}/models/a`);
  assert.ok(await waitFor(() => got.length >= 3, 5000), `got ${got.length} events`);
  ac.abort();
  assert.deepEqual(await ended, { reason: 'aborted' });
  assert.deepEqual(
    got.map((e) => [e.type, e.key, e.revision]),
    [
      ['put', `${prefix}/models/a`, r1],
      ['put', `${prefix}/models/b`, r2],
      ['delete', `${prefix}/models/a`, r3],
    ],
  );
  const first = got[0];
  assert.ok(first?.type === 'put');
  assert.equal(Buffer.from(first.value).toString(), '{"n":1}');
});

test('abort before and during a watch resolves "aborted"', async () => {
  const { endpoint, prefix } = await testEtcd();
  const { source } = open(endpoint, prefix);
  const pre = new AbortController();
  pre.abort();
  assert.deepEqual(await source.watch(1, () => {}, pre.signal), { reason: 'aborted' });
  const ac = new AbortController();
  const { revision } = await source.load();
  const p = source.watch(revision + 1, () => {}, ac.signal);
  setTimeout(() => ac.abort(), 200);
  const t0 = Date.now();
  assert.deepEqual(await p, { reason: 'aborted' });
  assert.ok(Date.now() - t0 < 2000);
});

test('load pages through a big prefix at one revision, sorted by key', async () => {
  const { endpoint, prefix } = await testEtcd();
  const { source } = open(endpoint, prefix, { loadPageSize: 7 });
  const want = new Map<string, number>();
  for (let i = 0; i < 50; i++) {
    const key = `${prefix}/models/k${String(i).padStart(3, '0')}`;
    want.set(key, await etcdPut(endpoint, key, `{"i":${i}}`));
  }
  // Writes racing the load land after its revision: none of them may show up.
  let racing = true;
  const racer = (async () => {
    for (let i = 0; racing; i++)
      await etcdPut(endpoint, `${prefix}/models/k${String(i % 50).padStart(3, '0')}`, '{}');
  })();
  const res = await source.load();
  racing = false;
  await racer;
  assert.equal(res.entries.length, 50);
  assert.deepEqual(
    res.entries.map((e) => e.key),
    [...want.keys()].sort(),
  );
  for (const e of res.entries) assert.ok(e.revision <= res.revision, 'entry newer than the load revision');
  const first = res.entries[0];
  assert.ok(first);
  assert.ok(first.revision >= (want.get(first.key) ?? Infinity));
});

test('a compaction past the watch start revision ends the watch with "compacted"', async () => {
  const etcd = await startEtcd();
  try {
    const prefix = '/compact';
    const { source } = open(etcd.endpoint, prefix);
    const { revision } = await source.load();
    for (let i = 0; i < 10; i++) await etcdPut(etcd.endpoint, `${prefix}/models/k${i}`, `{"i":${i}}`);
    const now = await currentRevision(etcd.endpoint);
    await etcdCompact(etcd.endpoint, now);
    const events: WatchEvent[] = [];
    const end: WatchEnd = await source.watch(
      revision + 1,
      (e) => events.push(...e),
      new AbortController().signal,
    );
    assert.deepEqual(end, { reason: 'compacted', compactRevision: now });
    assert.equal(events.length, 0);
  } finally {
    await etcd.stop();
  }
});

test('user/password auth works; a wrong password fails cleanly without leaking it', async () => {
  const etcd = await startEtcd();
  try {
    const ep = etcd.endpoint;
    const password = 'S3cret-pw-xyz';
    await etcdCall(ep, '/v3/auth/user/add', { name: 'root', password });
    await etcdCall(ep, '/v3/auth/role/add', { name: 'root' });
    await etcdCall(ep, '/v3/auth/user/grant', { user: 'root', role: 'root' });
    await etcdCall(ep, '/v3/auth/enable', {});
    const prefix = '/auth';

    const good = open(ep, prefix, { user: 'root', password });
    const w = await good.store.create(
      'models',
      'm1',
      { display_name: 'x' },
      { field: 'display_name', value: 'x' },
    );
    const loaded = await good.source.load();
    assert.equal(loaded.entries.length, 1);
    assert.equal(loaded.entries[0]?.revision, w.revision);
    const got: WatchEvent[] = [];
    const ac = new AbortController();
    const p = good.source.watch(loaded.revision + 1, (e) => got.push(...e), ac.signal);
    const r2 = await good.store.replace('models', 'm1', { display_name: 'y' });
    assert.ok(await waitFor(() => got.length === 1, 5000));
    assert.equal(got[0]?.revision, r2.revision);
    ac.abort();
    await p;

    const bad = open(ep, prefix, { user: 'root', password: 'wrong-pw-123' });
    const err = await bad.store.get('models', 'm1').then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, 'unavailable');
    assert.ok(!err.message.includes('wrong-pw-123'), err.message);
    const loadErr = await bad.source.load().then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e as Error,
    );
    assert.match(loadErr.message, /authentication failed/);
    assert.ok(!loadErr.message.includes('wrong-pw-123'), loadErr.message);

    const anon = open(ep, prefix);
    await assert.rejects(anon.source.load());
  } finally {
    await etcd.stop();
  }
});

test('request timeouts apply to reads and writes; an unreachable endpoint fails over', async () => {
  const { endpoint, prefix } = await testEtcd();
  // A server that accepts connections and never answers: only our deadlines end the calls.
  const held = new Set<Socket>();
  const silent = createServer((sock) => {
    held.add(sock);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as AddressInfo).port;
  try {
    const s = open(`http://127.0.0.1:${port}`, prefix, { requestTimeoutMs: 300, dialTimeoutMs: 300 });
    let t0 = Date.now();
    await assert.rejects(s.source.load(), /timed out after 300 ms/);
    assert.ok(Date.now() - t0 < 2000, `load took ${Date.now() - t0} ms`);
    t0 = Date.now();
    await assert.rejects(
      s.store.get('models', 'x'),
      (e: unknown) => e instanceof StoreError && e.code === 'unavailable',
    );
    assert.ok(Date.now() - t0 < 3000, `get took ${Date.now() - t0} ms`);

    const multi = open(`http://127.0.0.1:${port}`, prefix, { requestTimeoutMs: 300 });
    const multi2 = createEtcdStore({
      endpoints: [`http://127.0.0.1:${port}`, endpoint],
      prefix,
      requestTimeoutMs: 300,
    });
    stores.push(multi2);
    await etcdPut(endpoint, `${prefix}/models/z`, '{}');
    assert.equal((await multi2.source.load()).entries.length, 1);
    await assert.rejects(multi.source.load());
  } finally {
    for (const sock of held) sock.destroy();
    silent.close();
  }
});

test('bad options are rejected at construction with what to use instead', () => {
  assert.throws(() => createEtcdStore({ endpoints: [], prefix: '/a' }), /at least one URL/);
  assert.throws(() => createEtcdStore({ endpoints: ['127.0.0.1:2379'], prefix: '/a' }), /http:\/\//);
  assert.throws(() => createEtcdStore({ endpoints: ['http://x:1'], prefix: '/a/' }), /trailing|end with/);
  assert.throws(() => createEtcdStore({ endpoints: ['https://x:1'], prefix: '/a' }), /caCert/);
});
