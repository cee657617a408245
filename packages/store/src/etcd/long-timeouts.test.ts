/**
 * `etcd.dial_timeout_ms` / `etcd.request_timeout_ms` are u64 (control-plane §1.3, implemented
 * per decisions.md 6). A value past a Node timer's range (2^31-1 ms) means "practically no
 * deadline": before, node turned it into a 1 ms timer and every etcd call timed out at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import { createEtcdStore } from './index.js';

test('dial/request timeouts past the timer range: writes, reads and loads succeed', {
  timeout: 20_000,
}, async () => {
  const overflows: string[] = [];
  const onWarning = (w: Error): void => {
    if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
  };
  process.on('warning', onWarning);
  const { endpoint, prefix } = await testEtcd();
  const s = createEtcdStore({
    endpoints: [endpoint],
    prefix,
    dialTimeoutMs: 3_000_000_000,
    requestTimeoutMs: 3_000_000_000,
  });
  try {
    const w = await s.store.create('models', 'm1', { display_name: 'long' });
    assert.ok(w.revision > 0);
    assert.deepEqual((await s.store.get('models', 'm1'))?.value, { display_name: 'long' });
    const loaded = await s.source.load();
    assert.equal(loaded.entries.length, 1);
    assert.deepEqual(overflows, [], 'no etcd timer overflowed into a 1 ms one');
  } finally {
    process.off('warning', onWarning);
    await s.close();
  }
});
