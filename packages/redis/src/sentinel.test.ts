import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  freePort,
  type RedisSentinelProcess,
  redisCall,
  redisConn,
  startRedisSentinel,
} from '@aisix/testkit';
import { connectRedis, luaScript, type RedisHandle } from './index.js';
import { assertFailsFast, timed, untilWorks } from './testing.js';

let sentinel: RedisSentinelProcess;
let h: RedisHandle;
const errors: Error[] = [];

before(async () => {
  sentinel = await startRedisSentinel({ masterName: 'gw-main' });
  h = await connectRedis(
    redisConn({
      mode: 'sentinel',
      sentinels: [`redis://${sentinel.sentinels[0]}`],
      master_name: 'gw-main',
      database: 3,
    }),
    { commandTimeoutMs: 500, onError: (e) => errors.push(e) },
  );
});
after(async () => {
  await h?.close();
  await sentinel?.stop();
});

const masterPort = (url: string) => Number(new URL(url).port);

test('sentinel: discovers the master; set/get in the configured database', async () => {
  assert.equal(h.describe, `sentinel gw-main via ${sentinel.sentinels[0]}`);
  assert.equal(h.ready, true);
  assert.equal(await h.command('k', ['SET', 'k', 'v']), 'OK');
  assert.equal(await h.command('k', ['GET', 'k']), 'v');
  await h.ping();
  // Written to the master, in db 3.
  const port = masterPort(sentinel.masterUrl);
  assert.equal(await redisCall(port, ['GET', 'k']), null);
  const info = await redisCall(port, ['INFO', 'keyspace']);
  assert.match(String(info), /db3:keys=1/);
});

test('sentinel: EVALSHA falls back to EVAL after SCRIPT FLUSH', async () => {
  const s = luaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  await h.command('n', ['DEL', 'n']);
  assert.equal(await h.script(s, ['n'], ['4']), 4);
  assert.equal(await redisCall(masterPort(sentinel.masterUrl), ['SCRIPT', 'FLUSH']), 'OK');
  assert.equal(await h.script(s, ['n'], ['1']), 5);
});

test('sentinel: a killed master fails calls fast; the handle follows the failover', async (t) => {
  errors.length = 0;
  const t0 = performance.now();
  const old = await sentinel.killMaster();
  const first = await timed(h.command('k', ['GET', 'k']));
  assert.ok(first.ms < 600, `first call after the kill took ${first.ms} ms`);
  const worst = await assertFailsFast(() => h.command('k', ['GET', 'k']), h);
  const switched = sentinel.waitFailover(old, 15_000).then((port) => ({ port, at: performance.now() - t0 }));
  await untilWorks(() => h.command('k', ['SET', 'k', 'after-failover']), 15_000, 'the promoted replica');
  const followedAt = performance.now() - t0;
  const sw = await switched;
  t.diagnostic(
    `killed master: slowest call while down ${worst.toFixed(2)} ms; sentinel switched to :${sw.port} ${sw.at.toFixed(0)} ms after the kill; handle working ${followedAt.toFixed(0)} ms after the kill`,
  );
  assert.notEqual(sw.port, old);
  assert.equal(sw.port, masterPort(sentinel.replicaUrl));
  // Adopted within one fast poll (250 ms) of the sentinel announcing it, plus slack.
  assert.ok(
    followedAt - sw.at < 1500,
    `handle followed ${(followedAt - sw.at).toFixed(0)} ms after the switch`,
  );
  assert.equal(await h.command('k', ['GET', 'k']), 'after-failover');
  assert.equal(await redisCall(sw.port, ['ROLE']).then((r) => (Array.isArray(r) ? r[0] : r)), 'master');
  assert.ok(
    errors.some((e) => e.message.includes(`:${old}`)),
    'onError named the old master',
  );
  assert.equal(h.ready, true);
});

test('sentinel: boot fails naming the sentinels but not the password; unknown master names too', async () => {
  const port = await freePort();
  const t0 = performance.now();
  const err = await connectRedis(
    redisConn({
      mode: 'sentinel',
      sentinels: [`127.0.0.1:${port}`],
      master_name: 'gw-main',
      password: 'sn-Secret-3',
    }),
    { connectTimeoutMs: 300 },
  ).then(
    () => assert.fail('connected to a closed port'),
    (e: Error) => e,
  );
  const ms = performance.now() - t0;
  assert.match(
    err.message,
    new RegExp(`^redis sentinel gw-main via 127\\.0\\.0\\.1:${port}: cannot discover the master`),
  );
  assert.match(err.message, /ECONNREFUSED/);
  assert.ok(!err.message.includes('sn-Secret-3'), err.message);
  assert.ok(ms >= 150 && ms < 1500, `rejected after ${ms} ms`);
  await assert.rejects(
    connectRedis(redisConn({ mode: 'sentinel', sentinels: [...sentinel.sentinels], master_name: 'nope' }), {
      connectTimeoutMs: 300,
    }),
    /does not know master nope/,
  );
});

test('sentinel: password-protected sentinel and data nodes (NOAUTH, then AUTH)', async () => {
  const pw = 'sn-Pass-7';
  const secured = await startRedisSentinel({ masterName: 'gw-auth', password: pw });
  try {
    const s = await connectRedis(
      redisConn({
        mode: 'sentinel',
        sentinels: [...secured.sentinels],
        master_name: 'gw-auth',
        password: pw,
      }),
    );
    try {
      assert.ok(!s.describe.includes(pw));
      assert.equal(await s.command('k', ['SET', 'k', 'authed']), 'OK');
      assert.equal(await redisCall(masterPort(secured.masterUrl), ['GET', 'k'], 1000, pw), 'authed');
    } finally {
      await s.close();
    }
    // Wrong password: the sentinel refuses, so discovery fails, without echoing it.
    await assert.rejects(
      connectRedis(
        redisConn({
          mode: 'sentinel',
          sentinels: [...secured.sentinels],
          master_name: 'gw-auth',
          password: 'bad-pw-1',
        }),
        { connectTimeoutMs: 300 },
      ),
      (err: Error) => /cannot discover the master/.test(err.message) && !err.message.includes('bad-pw-1'),
    );
  } finally {
    await secured.stop();
  }
});
