import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedis } from './redis.js';
import { startRedisCluster } from './redis-cluster.js';
import { RespError, redisCall } from './redis-resp.js';
import { startRedisSentinel } from './redis-sentinel.js';

const down = (port: number) =>
  redisCall(port, ['PING'], 500).then(
    () => false,
    (e: unknown) => !(e instanceof RespError),
  );

test('startRedis: PING, requirepass, kill + restart on the same port, stop', async () => {
  const r = await startRedis({ args: ['--requirepass', 'pw'] });
  try {
    await assert.rejects(redisCall(r.port, ['PING']), /NOAUTH/);
    assert.equal(await redisCall(r.port, ['PING'], 1000, 'pw'), 'PONG');
    assert.equal(await redisCall(r.port, ['ECHO', 'a\r\nb'], 1000, 'pw'), 'a\r\nb');
    await r.kill();
    assert.equal(await down(r.port), true);
    await r.restart();
    assert.equal(await redisCall(r.port, ['PING'], 1000, 'pw'), 'PONG');
  } finally {
    await r.stop();
  }
  assert.equal(await down(r.port), true);
});

test('startRedisCluster: 3 masters covering every slot; stop kills them all', async () => {
  const c = await startRedisCluster();
  try {
    assert.equal(c.nodes.length, 3);
    for (const p of c.ports)
      assert.match(String(await redisCall(p, ['CLUSTER', 'INFO'])), /cluster_slots_assigned:16384/);
    const owners = new Set(await Promise.all(['{a}', '{b}', '{c}', '{d}', '{e}'].map((k) => c.ownerOf(k))));
    assert.ok(owners.size >= 2);
  } finally {
    await c.stop();
  }
  for (const p of c.ports) assert.equal(await down(p), true);
});

test('startRedisSentinel: the sentinel knows the master; killMaster leads to a failover', async () => {
  const s = await startRedisSentinel({ downAfterMs: 500 });
  const sentinelPort = Number(s.sentinels[0]?.split(':')[1]);
  try {
    const master = Number(new URL(s.masterUrl).port);
    assert.equal(await s.currentMasterPort(), master);
    assert.equal(await s.killMaster(), master);
    assert.equal(await s.waitFailover(master), Number(new URL(s.replicaUrl).port));
  } finally {
    await s.stop();
  }
  assert.equal(await down(sentinelPort), true);
});
