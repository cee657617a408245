import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort, type RedisProcess, redisCall, redisConn, startRedis } from '@aisix/testkit';
import { connectRedis, luaScript, type RedisHandle } from './index.js';
import { assertFailsFast, timed, until, untilWorks } from './testing.js';

const PASSWORD = 'pw-Sekr1t-do-not-print';
let server: RedisProcess;
let secured: RedisProcess;

before(async () => {
  [server, secured] = await Promise.all([startRedis(), startRedis({ args: ['--requirepass', PASSWORD] })]);
});
after(async () => {
  await Promise.all([server?.stop(), secured?.stop()]);
});

const plain = () => redisConn({ url: server.url });
const auth = () => redisConn({ url: secured.url, password: PASSWORD });

test('single: set/get, database, describe without credentials', async () => {
  const h = await connectRedis({
    ...auth(),
    url: `redis://:${PASSWORD}@127.0.0.1:${secured.port}`,
    database: 2,
  });
  try {
    assert.equal(h.describe, `single redis://127.0.0.1:${secured.port}`);
    assert.ok(!h.describe.includes(PASSWORD));
    assert.equal(h.ready, true);
    assert.equal(await h.command('k', ['SET', 'k', 'v']), 'OK');
    assert.equal(await h.command('k', ['GET', 'k']), 'v');
    assert.equal(await h.command('k', ['INCRBY', 'n', '5']), 5);
    assert.equal(await h.command('k', ['GET', 'missing']), null);
    assert.deepEqual(await h.command(undefined, ['MGET', 'k', 'missing']), ['v', null]);
    await h.ping();
    // `database: 2` selected db 2: db 0 does not have the key.
    const other = await connectRedis(auth());
    assert.equal(await other.command('k', ['GET', 'k']), null);
    await other.close();
  } finally {
    await h.close();
  }
  await assert.rejects(h.command('k', ['GET', 'k']));
});

test('single: EVALSHA falls back to EVAL after SCRIPT FLUSH', async () => {
  const h = await connectRedis(plain());
  try {
    const s = luaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    await h.command('sk', ['DEL', 'sk']);
    assert.equal(await h.script(s, ['sk'], ['2']), 2);
    assert.equal(await h.script(s, ['sk'], ['3']), 5);
    await h.command(undefined, ['SCRIPT', 'FLUSH']);
    assert.deepEqual(await h.command(undefined, ['SCRIPT', 'EXISTS', s.sha1]), [0]);
    assert.equal(await h.script(s, ['sk'], ['1']), 6);
    assert.deepEqual(await h.command(undefined, ['SCRIPT', 'EXISTS', s.sha1]), [1]);
    // Script errors are errors, not NOSCRIPT retries.
    await assert.rejects(
      h.script(luaScript("return redis.call('NOPE')"), [], []),
      /Unknown Redis command|NOPE/i,
    );
  } finally {
    await h.close();
  }
});

test('single: a stalled server costs commandTimeoutMs, never more', async (t) => {
  const h = await connectRedis(plain(), { commandTimeoutMs: 200 });
  try {
    // CLIENT PAUSE holds every client's commands server-side: the socket stays up, no reply.
    assert.equal(await redisCall(server.port, ['CLIENT', 'PAUSE', '800', 'ALL']), 'OK');
    const r = await timed(h.command('k', ['GET', 'k']));
    t.diagnostic(`stalled call rejected after ${r.ms.toFixed(0)} ms (commandTimeoutMs 200)`);
    assert.equal(r.rejected, true);
    assert.ok(r.ms >= 150 && r.ms < 400, `took ${r.ms} ms`);
    await untilWorks(() => h.ping(), 3000, 'the pause to end');
  } finally {
    await h.close();
  }
});

test('single: a killed server fails calls fast; a restarted one is used again', async (t) => {
  const errors: Error[] = [];
  const h = await connectRedis(plain(), { commandTimeoutMs: 3000, onError: (e) => errors.push(e) });
  try {
    assert.equal(await h.command('k', ['SET', 'k', 'before']), 'OK');
    // In flight when the server dies: rejected with the socket error, not after 3 s.
    const blocked = timed(h.command('q', ['BLPOP', 'q', '10']));
    await until(
      async () => String(await redisCall(server.port, ['CLIENT', 'LIST'])).includes('cmd=blpop'),
      2000,
      'BLPOP to reach the server',
    );
    const t0 = performance.now();
    await server.kill();
    const inflight = await blocked;
    const killedToReject = performance.now() - t0;
    assert.equal(inflight.rejected, true);
    assert.ok(killedToReject < 200, `in-flight call rejected ${killedToReject} ms after the kill`);
    const worst = await assertFailsFast(() => h.command('k', ['GET', 'k']), h);
    t.diagnostic(
      `down: in-flight rejected ${killedToReject.toFixed(1)} ms after kill; slowest call ${worst.toFixed(2)} ms`,
    );
    assert.ok(errors.length > 0, 'onError saw the outage');

    await server.restart();
    const t1 = performance.now();
    await untilWorks(() => h.command('k', ['SET', 'k', 'after']), 5000, 'recovery');
    t.diagnostic(`recovered ${(performance.now() - t1).toFixed(0)} ms after the restart`);
    assert.equal(await h.command('k', ['GET', 'k']), 'after');
    assert.equal(h.ready, true);
  } finally {
    await h.close();
  }
});

test('single: boot fails within connectTimeoutMs, naming the address but not the password', async () => {
  const port = await freePort();
  const t0 = performance.now();
  const err = await connectRedis(
    redisConn({ url: `redis://:${PASSWORD}@127.0.0.1:${port}`, password: PASSWORD }),
    {
      connectTimeoutMs: 300,
    },
  ).then(
    () => assert.fail('connected to a closed port'),
    (e: Error) => e,
  );
  const ms = performance.now() - t0;
  assert.match(
    err.message,
    new RegExp(`^redis single redis://127\\.0\\.0\\.1:${port}: cannot connect within 300 ms`),
  );
  assert.match(err.message, /ECONNREFUSED/);
  assert.ok(!err.message.includes(PASSWORD), err.message);
  assert.ok(ms >= 200 && ms < 1500, `rejected after ${ms} ms`);
  // A wrong password is a boot failure too (retried until the deadline), without echoing it.
  const bad = await connectRedis(redisConn({ url: secured.url, password: 'wrong-pw-xyz' }), {
    connectTimeoutMs: 300,
  }).then(
    () => assert.fail('connected with a wrong password'),
    (e: Error) => e,
  );
  assert.match(bad.message, /WRONGPASS|invalid/i);
  assert.ok(!bad.message.includes('wrong-pw-xyz'));
  await assert.rejects(connectRedis(redisConn({ url: 'http://127.0.0.1:1' })), /unsupported scheme http:/);
});

test('single: ready tracks the connection; close() is idempotent', async () => {
  const h: RedisHandle = await connectRedis(plain());
  assert.equal(h.ready, true);
  await h.close();
  await h.close();
  assert.equal(h.ready, false);
  await assert.rejects(h.ping());
});
