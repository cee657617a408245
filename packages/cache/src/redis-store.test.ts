/**
 * RedisCacheStore specifics on a real redis-server (testkit; the shared contract runs in
 * contract/stores.test.ts): key layout, prefix isolation, corrupt and foreign values, and the
 * vector-search probe (Debian's redis-server has no search module: false).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { type RedisProcess, redisConn, startRedis } from '@aisix/testkit';
import { probeVectorSearch, RedisCacheStore } from './redis-store.js';
import type { CacheEntry } from './types.js';

const entry: CacheEntry = {
  kind: 'json',
  status: 200,
  contentType: 'application/json',
  body: '{"ok":true}',
  usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
  storedAt: 42,
};

describe('RedisCacheStore specifics', () => {
  let server: RedisProcess;
  let redis: RedisHandle;

  before(async () => {
    server = await startRedis();
    redis = await connectRedis(redisConn({ url: server.url }));
  });
  after(async () => {
    await redis?.close();
    await server?.stop();
  });

  it('stores under <prefix>cache:<namespace>:<fingerprint> with a PX TTL', async () => {
    const store = new RedisCacheStore(redis, { namespace: 'env-1' });
    assert.equal(store.redisKey('abc'), 'aisix:cache:env-1:abc');
    await store.set('abc', entry, 60);
    const raw = await redis.command('aisix:cache:env-1:abc', ['GET', 'aisix:cache:env-1:abc']);
    assert.equal(typeof raw, 'string');
    assert.deepEqual(JSON.parse(raw as string), {
      v: 1,
      k: 'json',
      s: 200,
      c: 'application/json',
      b: '{"ok":true}',
      u: [1, 2, 3],
      t: 42,
    });
    const pttl = await redis.command('aisix:cache:env-1:abc', ['PTTL', 'aisix:cache:env-1:abc']);
    assert.ok(typeof pttl === 'number' && pttl > 59_000 && pttl <= 60_000, `pttl ${pttl}`);
    assert.equal(new RedisCacheStore(redis).redisKey('x'), 'aisix:cache:default:x');
  });

  it('keeps prefixes apart', async () => {
    const a = new RedisCacheStore(redis, { prefix: 'one:' });
    const b = new RedisCacheStore(redis, { prefix: 'two:' });
    await a.set('k', entry, 60);
    assert.equal(await b.get('k'), undefined);
    assert.ok(await a.get('k'));
  });

  it('treats a corrupt or foreign value as a miss and deletes it', async () => {
    const store = new RedisCacheStore(redis, { namespace: 'corrupt' });
    const cases: [string, string[]][] = [
      ['not-json', ['SET', store.redisKey('c1'), '{not json', 'PX', '60000']],
      ['other-json', ['SET', store.redisKey('c2'), '{"hello":"world"}', 'PX', '60000']],
      [
        'bad-usage',
        [
          'SET',
          store.redisKey('c3'),
          '{"v":1,"k":"json","s":200,"c":"a","b":"b","t":1,"u":[1]}',
          'PX',
          '60000',
        ],
      ],
      ['no-ttl', ['SET', store.redisKey('c4'), '{"v":1,"k":"json","s":200,"c":"a","b":"b","t":1}']],
      [
        'wrong-kind',
        ['SET', store.redisKey('c5'), '{"v":1,"k":"xml","s":200,"c":"a","b":"b","t":1}', 'PX', '60000'],
      ],
    ];
    for (const [label, args] of cases) {
      const key = args[1]!;
      await redis.command(key, args);
      const fp = key.slice(store.redisKey('').length);
      assert.equal(await store.get(fp), undefined, label);
      assert.equal(await redis.command(key, ['EXISTS', key]), 0, `${label} deleted`);
    }
    // A value of another type (a list): GET errors, the store rejects (callers: a miss).
    const listKey = store.redisKey('c6');
    await redis.command(listKey, ['RPUSH', listKey, 'x']);
    await assert.rejects(store.get('c6'));
  });

  it('a rejected (oversized) overwrite removes the previous answer', async () => {
    const store = new RedisCacheStore(redis, { namespace: 'cap', maxEntryBytes: 100 });
    await store.set('k', entry, 60);
    assert.ok(await store.get('k'));
    await store.set('k', { ...entry, body: 'z'.repeat(101) }, 60);
    assert.equal(await store.get('k'), undefined);
  });

  it('probes vector search: absent on a plain redis-server', async () => {
    assert.equal(await probeVectorSearch(redis), false);
  });

  it('probes vector search through MODULE LIST or FT._LIST (fake handles)', async () => {
    const fake = (answers: Record<string, unknown>): RedisHandle =>
      ({
        async command(_k: string | undefined, args: readonly string[]) {
          const a = answers[args.join(' ')];
          if (a instanceof Error || a === undefined) throw a ?? new Error('ERR unknown command');
          return a;
        },
      }) as unknown as RedisHandle;
    const stack = [
      ['name', 'search', 'ver', 21005, 'path', '/opt/redis-stack/lib/redisearch.so', 'args', []],
    ];
    assert.equal(await probeVectorSearch(fake({ 'MODULE LIST': stack })), true);
    assert.equal(await probeVectorSearch(fake({ 'MODULE LIST': [['name', 'ReJSON', 'ver', 1]] })), false);
    assert.equal(await probeVectorSearch(fake({ 'MODULE LIST': [], 'FT._LIST': [] })), true);
    assert.equal(await probeVectorSearch(fake({ 'FT._LIST': ['idx'] })), true);
    assert.equal(await probeVectorSearch(fake({})), false);
  });
});
