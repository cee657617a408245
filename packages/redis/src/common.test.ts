import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  commonTls,
  hostPort,
  parseEndpoint,
  RedisTimeoutError,
  resolveOptions,
  retryUntil,
  withDeadline,
} from './common.js';

test('parseEndpoint: host:port, redis://, rediss://, IPv6, default port, no userinfo', () => {
  assert.deepEqual(parseEndpoint('10.0.0.1:7000', 6379), { host: '10.0.0.1', port: 7000, tls: false });
  assert.deepEqual(parseEndpoint(' redis://cache.local:7001 ', 6379), {
    host: 'cache.local',
    port: 7001,
    tls: false,
  });
  assert.deepEqual(parseEndpoint('rediss://cache.local', 6379), {
    host: 'cache.local',
    port: 6379,
    tls: true,
  });
  assert.deepEqual(parseEndpoint('sentinel-0', 26379), { host: 'sentinel-0', port: 26379, tls: false });
  assert.deepEqual(parseEndpoint('[::1]:26380', 26379), { host: '::1', port: 26380, tls: false });
  const e = parseEndpoint('redis://user:pw@h:1', 6379);
  assert.equal(hostPort(e), 'h:1');
  assert.equal(hostPort(parseEndpoint('[::1]:5', 6379)), '[::1]:5');
  assert.throws(() => parseEndpoint('http://h:1', 6379), /unsupported scheme http:/);
});

test('commonTls: one scheme per deployment', () => {
  assert.equal(commonTls('cluster', [parseEndpoint('a:1', 1), parseEndpoint('b:1', 1)]), false);
  assert.equal(commonTls('cluster', [parseEndpoint('rediss://a:1', 1)]), true);
  assert.throws(
    () => commonTls('cluster', [parseEndpoint('rediss://a:1', 1), parseEndpoint('b:1', 1)]),
    /mixed redis:\/\/ and rediss:\/\//,
  );
});

test('withDeadline rejects late promises and passes early ones through', async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 50, () => 'x'), 7);
  const never = new Promise<never>(() => {});
  const t0 = performance.now();
  await assert.rejects(
    withDeadline(never, 30, () => 'too slow'),
    (err: Error) => {
      return err instanceof RedisTimeoutError && err.message === 'too slow';
    },
  );
  assert.ok(performance.now() - t0 < 500);
});

test('retryUntil keeps trying until the deadline, then rethrows the last error', async () => {
  const c = resolveOptions({ reconnectMaxDelayMs: 50 });
  let n = 0;
  assert.equal(
    await retryUntil(c, Date.now() + 2000, async () => {
      if (++n < 3) throw new Error(`fail ${n}`);
      return 'ok';
    }),
    'ok',
  );
  const t0 = performance.now();
  let tries = 0;
  await assert.rejects(
    retryUntil(c, Date.now() + 200, async () => {
      tries++;
      throw new Error(`attempt ${tries}`);
    }),
    (err: Error) => err.message === `attempt ${tries}`,
  );
  const ms = performance.now() - t0;
  assert.ok(ms >= 190 && ms < 600, `gave up after ${ms} ms`);
  assert.ok(tries >= 3);
});

test('resolveOptions: defaults, and a throwing onError never escapes', () => {
  const c = resolveOptions({
    onError: () => {
      throw new Error('boom');
    },
  });
  assert.equal(c.commandTimeoutMs, 1000);
  assert.equal(c.connectTimeoutMs, 2000);
  assert.equal(c.maxDelayMs, 1000);
  c.onError(new Error('x'));
});
