import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEtcd, testEtcd } from './etcd.js';
import { startTcpProxy } from './tcp-proxy.js';

test('startEtcd runs a real etcd that survives SIGKILL + restart with its data', async () => {
  const etcd = await startEtcd();
  try {
    const put = await fetch(`${etcd.endpoint}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({
        key: Buffer.from('k').toString('base64'),
        value: Buffer.from('v').toString('base64'),
      }),
    });
    assert.equal(put.status, 200);
    await etcd.kill('SIGKILL');
    await assert.rejects(fetch(`${etcd.endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}' }));
    await etcd.restart();
    const res = await fetch(`${etcd.endpoint}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('k').toString('base64') }),
    });
    const body = (await res.json()) as { kvs?: { value: string }[] };
    assert.equal(Buffer.from(body.kvs?.[0]?.value ?? '', 'base64').toString(), 'v');
  } finally {
    await etcd.stop();
  }
});

test('testEtcd hands out distinct prefixes', async () => {
  const a = await testEtcd();
  const b = await testEtcd();
  assert.notEqual(a.prefix, b.prefix);
  assert.match(a.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('a cut TCP proxy drops connections until restored', async () => {
  const etcd = await startEtcd();
  const proxy = await startTcpProxy(etcd.clientPort);
  try {
    const ok = await fetch(`${proxy.url}/v3/maintenance/status`, { method: 'POST', body: '{}' });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    proxy.cut();
    await assert.rejects(fetch(`${proxy.url}/v3/maintenance/status`, { method: 'POST', body: '{}' }));
    proxy.restore();
    const again = await fetch(`${proxy.url}/v3/maintenance/status`, { method: 'POST', body: '{}' });
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  } finally {
    await proxy.close();
    await etcd.stop();
  }
});

test('freePort hands out distinct bindable ports below the ephemeral range', async () => {
  const { freePort, EPHEMERAL_LOW } = await import('./ports.js');
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  assert.equal(new Set(ports).size, 20);
  for (const p of ports) assert.ok(p >= 10_000 && p < Math.max(11_000, EPHEMERAL_LOW), `port ${p}`);
});
