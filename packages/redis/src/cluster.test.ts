import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort, type RedisClusterProcess, redisCall, redisConn, startRedisCluster } from '@aisix/testkit';
import { connectRedis, luaScript, type RedisHandle } from './index.js';
import { assertFailsFast, timed, untilWorks } from './testing.js';

let cluster: RedisClusterProcess;
let h: RedisHandle;
const errors: Error[] = [];

before(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  // Seeds given both ways the config allows: bare host:port and redis:// URLs.
  const nodes = [cluster.nodes[0] ?? '', cluster.urls[1] ?? '', ' '];
  h = await connectRedis(redisConn({ mode: 'cluster', nodes }), {
    commandTimeoutMs: 500,
    onError: (e) => errors.push(e),
  });
});
after(async () => {
  await h?.close();
  await cluster?.stop();
});

/** Keys (one per master) whose hash slots live on three different masters. */
async function keysOnDistinctMasters(): Promise<Map<number, string>> {
  const byOwner = new Map<number, string>();
  for (const tag of 'abcdefghijklmnopqrstuvwxyz') {
    const key = `{${tag}}k`;
    const owner = await cluster.ownerOf(key);
    if (!byOwner.has(owner)) byOwner.set(owner, key);
    if (byOwner.size === 3) break;
  }
  assert.equal(byOwner.size, 3, 'hash tags a..z should cover all three masters');
  return byOwner;
}

test('cluster: describe, routing by key across masters', async () => {
  assert.match(h.describe, /^cluster 2 seed nodes \(127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\)$/);
  assert.equal(h.ready, true);
  const keys = await keysOnDistinctMasters();
  for (const [owner, key] of keys) {
    assert.equal(await h.command(key, ['SET', key, `on-${owner}`]), 'OK');
    assert.equal(await h.command(key, ['GET', key]), `on-${owner}`);
    // The value really lives on that master (no MOVED, no copy elsewhere).
    assert.equal(await redisCall(cluster.ports[owner] ?? 0, ['GET', key]), `on-${owner}`);
  }
  // Multi-key commands work within one slot (hash tag).
  assert.equal(await h.command('{a}1', ['MSET', '{a}1', 'x', '{a}2', 'y']), 'OK');
  assert.deepEqual(await h.command('{a}1', ['MGET', '{a}1', '{a}2']), ['x', 'y']);
  await h.ping();
  await h.ping('{b}y');
});

test('cluster: EVALSHA falls back to EVAL on each master that lacks the script', async () => {
  const s = luaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  const keys = [...(await keysOnDistinctMasters()).values()].map((k) => `${k}:n`);
  for (const key of keys) {
    // First use on each master: NOSCRIPT there, then EVAL caches it there.
    assert.equal(await h.script(s, [key], ['2']), 2);
    assert.equal(await h.script(s, [key], ['3']), 5);
  }
  for (const port of cluster.ports) {
    assert.deepEqual(await redisCall(port, ['SCRIPT', 'EXISTS', s.sha1]), [1]);
    assert.equal(await redisCall(port, ['SCRIPT', 'FLUSH']), 'OK');
  }
  for (const key of keys) assert.equal(await h.script(s, [key], ['1']), 6);
  // Multiple keys in one slot: routed by the first.
  const two = luaScript('return {KEYS[1], KEYS[2]}');
  assert.deepEqual(await h.script(two, ['{z}1', '{z}2'], []), ['{z}1', '{z}2']);
});

test('cluster: a killed master fails its slots fast; the restarted master is used again', async (t) => {
  const keys = await keysOnDistinctMasters();
  const [victim, key] = [...keys.entries()][0] ?? [0, ''];
  assert.equal(await h.command(key, ['SET', key, 'before']), 'OK');
  errors.length = 0;
  const t0 = performance.now();
  await cluster.kill(victim);
  // Issued right after the kill, before the client noticed: bounded by commandTimeoutMs.
  const first = await timed(h.command(key, ['GET', key]));
  assert.ok(first.ms < 600, `first call after the kill took ${first.ms} ms`);
  const worst = await assertFailsFast(() => h.command(key, ['GET', key]), h);
  t.diagnostic(
    `killed master: first call ${first.rejected ? 'rejected' : 'answered'} in ${first.ms.toFixed(1)} ms, then slowest call ${worst.toFixed(2)} ms (noticed ${(performance.now() - t0).toFixed(0)} ms after kill)`,
  );
  assert.ok(
    errors.some((e) => e.message.includes(cluster.nodes[victim] ?? '?')),
    'onError named the node',
  );
  // The node rejoins with its slots but not its data (persistence is off). Polled while the
  // restart runs: the handle works once the node is up and the cluster agrees it is back.
  const t1 = performance.now();
  const restarted = cluster.restart(victim).then(() => performance.now() - t1);
  const works = await untilWorks(() => h.command(key, ['SET', key, 'after']), 10_000, 'the restarted master');
  t.diagnostic(
    `restarted master: handle working ${works.toFixed(0)} ms after the restart began (all nodes cluster_state:ok after ${(await restarted).toFixed(0)} ms)`,
  );
  assert.equal(await h.command(key, ['GET', key]), 'after');
  assert.equal(h.ready, true);
  for (const k of keys.values()) await h.command(k, ['GET', k]);
});

test('cluster: boot fails within connectTimeoutMs, naming the seeds but not the password', async () => {
  const [a, b] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const err = await connectRedis(
    redisConn({
      mode: 'cluster',
      nodes: [`127.0.0.1:${a}`, `redis://u:inline-pw@127.0.0.1:${b}`],
      password: 'cl-Secret-9',
    }),
    { connectTimeoutMs: 300 },
  ).then(
    () => assert.fail('connected to closed ports'),
    (e: Error) => e,
  );
  const ms = performance.now() - t0;
  assert.match(
    err.message,
    new RegExp(`^redis cluster 127\\.0\\.0\\.1:${a},127\\.0\\.0\\.1:${b}: cannot connect within 300 ms`),
  );
  assert.ok(!err.message.includes('cl-Secret-9') && !err.message.includes('inline-pw'), err.message);
  assert.ok(ms >= 150 && ms < 1500, `rejected after ${ms} ms`);
  await assert.rejects(connectRedis(redisConn({ mode: 'cluster', nodes: ['  '] })), /no nodes configured/);
});
