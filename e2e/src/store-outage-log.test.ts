/**
 * A gateway says when it loses its config store and when it has it back (one warning each, not
 * one per retry), while it keeps serving its last configuration. Real etcd, SIGKILLed and
 * restarted on the same data dir and port.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EtcdProcess, startEtcd } from '@aisix/testkit';
import { type AisixProcess, removeDir, startAisix, tempDir, waitStatus, waitUntil } from './harness.js';

const dir = tempDir('store-outage-log');
let etcd: EtcdProcess | undefined;
let gw: AisixProcess | undefined;

after(async () => {
  await gw?.kill();
  await etcd?.stop();
  removeDir(dir);
});

const lines = (p: AisixProcess, msg: string) =>
  p
    .output()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}`));

test('one warning when the store goes away, one when it is back; serving goes on', {
  timeout: 60_000,
}, async () => {
  etcd = await startEtcd();
  gw = await startAisix({
    name: 'gw',
    dir,
    role: 'gateway',
    etcd: { endpoint: etcd.endpoint, prefix: '/aisix-outage-log' },
  });
  const p = gw;
  await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
  assert.deepEqual(lines(p, 'config store'), [], 'a reachable store at start is not news');

  await etcd.kill('SIGKILL');
  await waitUntil(
    'the unreachable warning',
    async () => lines(p, 'config store unreachable').length > 0 || undefined,
    {
      timeoutMs: 20_000,
      alive: [p],
    },
  );
  // The watch keeps retrying (1 s backoff and up); the warning is not repeated.
  await sleep(3000);
  const down = lines(p, 'config store unreachable');
  assert.equal(down.length, 1, down.join('\n'));
  const entry = JSON.parse(down[0] as string) as { level: number; err?: string };
  assert.equal(entry.level, 40, 'a warning');
  assert.equal(typeof entry.err, 'string', 'with the failure');
  assert.equal((await fetch(`${p.proxyUrl}/livez`)).status, 200, 'still serving');

  await etcd.restart();
  await waitUntil(
    'the recovery line',
    async () => lines(p, 'config store reachable again').length > 0 || undefined,
    {
      timeoutMs: 30_000,
      alive: [p],
    },
  );
  assert.equal(lines(p, 'config store reachable again').length, 1);
  assert.equal(lines(p, 'config store unreachable').length, 1);
});
