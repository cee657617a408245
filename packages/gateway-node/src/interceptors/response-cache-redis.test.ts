/**
 * The Redis backend of the response cache on a real `redis-server` (data-plane §10.2/§10.4,
 * control-plane §1.8, docs/cache.md "Backends"): entries shared by every gateway on one Redis
 * and namespace, never across namespaces, semantic settings on a redis policy ignored (exact
 * only, said once in the log), and a Redis outage is a miss, counted, never a failed request;
 * caching resumes once Redis is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryCacheStore, RedisCacheStore } from '@aisix/cache';
import type { RedisHandle } from '@aisix/redis';
import { type RedisProcess, startRedis } from '@aisix/testkit';
import { pino } from 'pino';
import {
  type CacheRig,
  cacheDocs,
  cacheHeader,
  connectTestRedis,
  metric,
  type Policies,
  post,
  startCacheRig,
} from '../test/cache-rig.js';
import { buildSnapshot, type Started, startTestGateway } from '../test/fixtures.js';
import { sleep } from '../test/mock-upstream.js';

const POLICIES: Policies = {
  shared: { name: 'shared', applies_to: 'model:mock/r-shared', backend: 'redis', scope: 'env' },
  local: { name: 'local', applies_to: 'model:mock/r-local', scope: 'env' },
  outage: { name: 'outage', applies_to: 'model:mock/r-outage', backend: 'redis' },
  sem: {
    name: 'sem-on-redis',
    applies_to: 'model:mock/r-sem',
    backend: 'redis',
    semantic: { embedding_model: 'emb', threshold: 0.5 },
  },
};

let server: RedisProcess;
const handles: RedisHandle[] = [];
let rig: CacheRig; // gateway 1: namespace env-a, logs captured
let g2: Started; // gateway 2: same Redis, same namespace
let g3: Started; // gateway 3: same Redis, namespace env-b
const logLines: Record<string, unknown>[] = [];

async function redisStore(namespace: string): Promise<RedisCacheStore> {
  const h = await connectTestRedis(server.url);
  handles.push(h);
  return new RedisCacheStore(h, { namespace });
}

async function peer(namespace: string): Promise<Started> {
  const stores = { memory: new MemoryCacheStore(), redis: await redisStore(namespace) };
  return startTestGateway(buildSnapshot(cacheDocs(rig.up.url, rig.anth.url, POLICIES)), undefined, {
    cacheStores: stores,
  });
}

before(async () => {
  server = await startRedis();
  const write = (s: string) => {
    for (const line of s.split('\n')) if (line.trim() !== '') logLines.push(JSON.parse(line));
  };
  const logger = pino({ level: 'warn' }, { write });
  rig = await startCacheRig({
    policies: POLICIES,
    gateway: { logger, cacheStores: { memory: new MemoryCacheStore(), redis: await redisStore('env-a') } },
  });
  g2 = await peer('env-a');
  g3 = await peer('env-b');
});

after(async () => {
  await g2?.gw.close();
  await g3?.gw.close();
  await rig?.close();
  for (const h of handles) await h.close();
  await server?.stop();
});

const body = (model: string, content = 'hello') => ({ model, messages: [{ role: 'user', content }] });
const chat = (g: Started, model: string, content?: string) =>
  post(g.base, '/v1/chat/completions', body(model, content));

describe('shared entries', () => {
  test('two gateways on one Redis share entries; memory policies stay per process', async () => {
    const n = rig.calls();
    const a = await chat(rig.g, 'mock/r-shared');
    assert.equal(cacheHeader(a), 'miss');
    const b = await chat(g2, 'mock/r-shared');
    assert.equal(cacheHeader(b), 'hit');
    assert.equal(b.headers.get('x-aisix-cache-layer'), 'exact');
    assert.equal(b.text, a.text);
    assert.equal(rig.calls() - n, 1);
    // The same on a streamed request.
    const s = { ...body('mock/r-shared', 'stream'), stream: true };
    const s1 = await post(g2.base, '/v1/chat/completions', s);
    const s2 = await post(rig.g.base, '/v1/chat/completions', s);
    assert.equal(cacheHeader(s1), 'miss');
    assert.equal(cacheHeader(s2), 'hit');
    assert.equal(s2.text, s1.text);
    // A memory-backend policy: each gateway has its own entries.
    assert.equal(cacheHeader(await chat(rig.g, 'mock/r-local')), 'miss');
    assert.equal(cacheHeader(await chat(g2, 'mock/r-local')), 'miss');
    assert.equal(cacheHeader(await chat(g2, 'mock/r-local')), 'hit');
  });

  test('entries live under aisix:cache:<namespace>: with the policy TTL, set by Redis', async () => {
    const h = handles[0] as RedisHandle;
    const scan = async (ns: string) =>
      (await h.command(undefined, ['KEYS', `aisix:cache:${ns}:*`])) as string[];
    const before = new Set(await scan('env-a'));
    assert.equal(cacheHeader(await chat(rig.g, 'mock/r-shared', 'layout')), 'miss');
    const added = (await scan('env-a')).filter((k) => !before.has(k));
    assert.equal(added.length, 1);
    const key = added[0] as string;
    assert.match(key, /^aisix:cache:env-a:[0-9a-f]{64}$/);
    const pttl = (await h.command(key, ['PTTL', key])) as number;
    assert.ok(pttl > 3_590_000 && pttl <= 3_600_000, `PTTL ${pttl}`); // ttl_seconds default 3600
  });

  test('another namespace on the same Redis never sees the entries', async () => {
    const a = await chat(rig.g, 'mock/r-shared', 'ns');
    assert.equal(cacheHeader(a), 'miss');
    assert.equal(cacheHeader(await chat(g2, 'mock/r-shared', 'ns')), 'hit');
    const other = await chat(g3, 'mock/r-shared', 'ns');
    assert.equal(cacheHeader(other), 'miss');
    assert.notEqual(other.text, a.text);
    // And the other way round: env-b's entry is not env-a's.
    assert.equal(cacheHeader(await chat(g3, 'mock/r-shared', 'ns')), 'hit');
    const c = await chat(g3, 'mock/r-shared', 'ns-b');
    assert.equal(cacheHeader(c), 'miss');
    assert.equal(cacheHeader(await chat(g2, 'mock/r-shared', 'ns-b')), 'miss');
  });

  test('semantic settings on a redis policy: exact only, and the log says so once', async () => {
    rig.emb.vectors.set('user: what is the capital of France?', [1, 0, 0]);
    rig.emb.vectors.set("user: what's France's capital?", [1, 0, 0]);
    const embeds = rig.calls('/embeddings');
    const a = await chat(rig.g, 'mock/r-sem', 'what is the capital of France?');
    assert.equal(cacheHeader(a), 'miss');
    const para = await chat(rig.g, 'mock/r-sem', "what's France's capital?");
    assert.equal(cacheHeader(para), 'miss', 'no semantic layer on the redis backend');
    assert.equal(para.headers.get('x-aisix-cache-similarity'), null);
    const again = await chat(rig.g, 'mock/r-sem', 'what is the capital of France?');
    assert.equal(cacheHeader(again), 'hit');
    assert.equal(again.headers.get('x-aisix-cache-layer'), 'exact');
    assert.equal(rig.calls('/embeddings'), embeds, 'nothing was embedded');
    rig.apply(POLICIES); // a new snapshot with the same policy: no second warning
    await chat(rig.g, 'mock/r-sem', 'once more');
    const warns = logLines.filter(
      (l) =>
        l.level === 40 &&
        typeof l.msg === 'string' &&
        l.msg.includes('sem-on-redis') &&
        /semantic/i.test(l.msg),
    );
    assert.equal(warns.length, 1, JSON.stringify(warns));
  });
});

describe('a Redis outage', () => {
  test('requests still succeed as misses, failures are counted; caching resumes after restart', async () => {
    const failures = (op: string) => metric(rig.g, 'aisix_redis_failures_total', { operation: op });
    const getBefore = await failures('cache_get');
    const setBefore = await failures('cache_set');
    assert.equal(cacheHeader(await chat(rig.g, 'mock/r-outage')), 'miss');
    assert.equal(cacheHeader(await chat(rig.g, 'mock/r-outage')), 'hit');

    await server.kill();
    const n = rig.calls();
    for (let i = 0; i < 4; i++) {
      const r = await chat(rig.g, 'mock/r-outage');
      assert.equal(r.status, 200, r.text);
      assert.equal(cacheHeader(r), 'miss');
      const s = await post(rig.g.base, '/v1/chat/completions', { ...body('mock/r-outage'), stream: true });
      assert.equal(s.status, 200);
      assert.ok(s.text.endsWith('data: [DONE]\n\n'));
    }
    assert.equal(rig.calls() - n, 8, 'every request reached the upstream');
    await sleep(20);
    assert.ok((await failures('cache_get')) - getBefore >= 8, 'reads counted');
    assert.ok((await failures('cache_set')) - setBefore >= 1, 'writes counted');
    const said = logLines.filter((l) => typeof l.msg === 'string' && l.msg.includes('response cache store'));
    assert.ok(said.length >= 1, 'the outage is logged');
    assert.ok(said.length < 8, `throttled: ${said.length} lines`);

    await server.restart();
    // The handle reconnects in the background; once it has, entries are stored and served again.
    const recovers = async (g: Started, content: string) => {
      for (let i = 0; i < 60; i++) {
        await chat(g, 'mock/r-outage', content);
        if (cacheHeader(await chat(g, 'mock/r-outage', content)) === 'hit') return true;
        await sleep(50);
      }
      return false;
    };
    assert.ok(await recovers(rig.g, 'after'), 'caching works again after the restart');
    // The other gateway's connection recovers too (its own reconnect), and shares entries again.
    assert.ok(await recovers(g2, 'after-2'));
    assert.equal(cacheHeader(await chat(rig.g, 'mock/r-outage', 'after-2')), 'hit');
  });
});
