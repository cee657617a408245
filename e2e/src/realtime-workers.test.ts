/**
 * `/v1/realtime` with `proxy.workers: 2` (issue 12): the node:cluster workers share the proxy
 * port and each accepts and relays the upgrades it receives; concurrent sessions all relay both
 * ways and close cleanly. One `aisix` process reading a resources file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type AisixProcess,
  killAll,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';
import { type FileKey, keysEnv, watchLog, writeGatewayConfig, writeResources } from './limits-harness.js';
import { dial } from './realtime-client.js';
import { type RealtimeUpstream, startRealtimeUpstream, USAGE } from './realtime-upstream.js';

const caller: FileKey = { name: 'rt', plaintext: 'sk-e2e-realtime-workers-000000' };
const SESSIONS = 8;

describe('realtime relay with proxy.workers: 2', () => {
  const dir = tempDir('rt-workers');
  let up: RealtimeUpstream;
  let pod: AisixProcess;

  before(async () => {
    up = await startRealtimeUpstream();
    const resources = writeResources(dir, up.apiBase, [caller]);
    const config = writeGatewayConfig(dir, 'pod', resources, 'proxy:\n  workers: 2\n');
    pod = await startAisix({ name: 'pod', dir, role: 'gateway', configPath: config, env: keysEnv([caller]) });
    await watchLog(pod).waitFor('all gateway workers started', 30_000);
    await waitStatus(pod, `${pod.proxyUrl}/readyz`, 200);
  });

  after(async () => {
    await killAll([pod]);
    await up?.close();
    removeDir(dir);
  });

  test(`${SESSIONS} concurrent sessions each relay both ways and close cleanly`, async () => {
    const url = `ws://127.0.0.1:${pod.ports.proxy}/v1/realtime?model=chat`;
    const auth = { authorization: `Bearer ${caller.plaintext}` };
    const clients = await waitUntil(
      `${SESSIONS} sessions open`,
      async () => {
        const ds = await Promise.all(Array.from({ length: SESSIONS }, () => dial(url, [], auth)));
        if (ds.every((d) => d.ok)) return ds.map((d) => (d.ok ? d.client : undefined));
        for (const d of ds) if (d.ok) d.client.ws.terminate();
        return undefined;
      },
      { timeoutMs: 15_000, alive: [pod] },
    );
    await Promise.all(
      clients.map(async (c, i) => {
        assert.ok(c);
        c.ws.send(JSON.stringify({ type: 'response.create' }));
        const done = JSON.parse((await c.next()).data.toString()) as { response: { usage: unknown } };
        assert.deepEqual(done.response.usage, USAGE);
        const bytes = Buffer.from([i, 255 - i]);
        c.ws.send(bytes);
        assert.deepEqual((await c.next()).data, bytes);
        c.ws.close(4000 + i, `bye ${i}`);
        await c.closed;
      }),
    );
    // Every upstream session saw its own client's close code.
    const codes = await Promise.all(up.sessions.slice(-SESSIONS).map((s) => s.closed.then((x) => x.code)));
    assert.deepEqual(
      codes.sort((a, b) => a - b),
      Array.from({ length: SESSIONS }, (_, i) => 4000 + i),
    );
    assert.ok(up.handshakes.every((h) => h.headers.authorization === 'Bearer sk-upstream-e2e'));
  });
});
