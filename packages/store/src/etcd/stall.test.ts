/**
 * A watch stream that stays open but stops delivering (a frozen connection) must end with an
 * error once etcd has events the stream did not send, while an idle stream must not.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testEtcd } from '@aisix/testkit';
import { createEtcdStore } from './index.js';
import { etcdPut } from './test-support.js';

/** A proxy whose existing connections can be frozen: bytes from etcd stop, sockets stay open. */
async function freezableProxy(targetPort: number) {
  const frozen = new Set<Socket>();
  const live = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    live.add(client);
    live.add(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      if (!frozen.has(upstream)) client.write(d);
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Freezes the connections open right now; new ones flow normally. */
    freeze() {
      for (const s of live) frozen.add(s);
    },
    async close() {
      for (const s of live) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('a frozen watch stream is detected as stalled; an idle one is not', { timeout: 20_000 }, async () => {
  const { endpoint, prefix } = await testEtcd();
  const proxy = await freezableProxy(Number(new URL(endpoint).port));
  const s = createEtcdStore({ endpoints: [proxy.url], prefix, watchIdleProbeMs: 300 });
  try {
    const { revision } = await s.source.load();
    const ac = new AbortController();
    let events = 0;
    const ended = s.source.watch(revision + 1, (e) => (events += e.length), ac.signal);
    // Idle for several probe periods: the stream stays up.
    const idle = await Promise.race([ended, sleep(1500).then(() => 'still open')]);
    assert.equal(idle, 'still open');
    await etcdPut(endpoint, `${prefix}/models/a`, '{}');
    await sleep(200);
    assert.equal(events, 1);
    proxy.freeze();
    await etcdPut(endpoint, `${prefix}/models/b`, '{}');
    const t0 = Date.now();
    const end = await ended;
    assert.equal(end.reason, 'error');
    assert.match(end.reason === 'error' ? end.error.message : '', /stalled/);
    assert.equal(events, 1);
    assert.ok(Date.now() - t0 < 6000, `detected after ${Date.now() - t0} ms`);
  } finally {
    await s.close();
    await proxy.close();
  }
});
