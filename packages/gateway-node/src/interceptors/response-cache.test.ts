/**
 * The response cache through a started gateway (memory backend), driven by the openai SDK
 * against a real mock upstream (data-plane §10, control-plane §3.8, decisions.md OP-11,
 * docs/cache.md): hits and misses, which policy governs a request, scopes, TTL, the request's
 * `Cache-Control`, purge by generation, live policy changes, failed answers not stored.
 * Each test uses its own model names (the `mock/*` wildcard) and policies, so keys never mix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  type CacheRig,
  cacheHeader,
  KEY_A,
  KEY_B,
  metric,
  type Policies,
  post,
  startCacheRig,
} from '../test/cache-rig.js';
import { sha256 } from '../test/fixtures.js';
import { json, sleep } from '../test/mock-upstream.js';
import type { UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';

let rig: CacheRig;
let clientA: OpenAI;
let clientB: OpenAI;

before(async () => {
  rig = await startCacheRig();
  clientA = new OpenAI({ apiKey: KEY_A, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });
  clientB = new OpenAI({ apiKey: KEY_B, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });
});

after(() => rig.close());

interface Answer {
  readonly cache: string | null;
  readonly layer: string | null;
  readonly content: string | null | undefined;
}

/** One chat completion through the SDK: the cache headers and the answer's text. */
async function chat(
  model: string,
  opts: { key?: string; content?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const c = opts.key === KEY_B ? clientB : clientA;
  const { data, response } = await c.chat.completions
    .create(
      { model, messages: [{ role: 'user', content: opts.content ?? 'hello' }] },
      opts.headers ? { headers: opts.headers } : undefined,
    )
    .withResponse();
  return {
    cache: response.headers.get('x-aisix-cache'),
    layer: response.headers.get('x-aisix-cache-layer'),
    content: data.choices[0]?.message.content,
  };
}

const policy = (name: string, fields: Record<string, unknown> = {}) => ({ name, ...fields });

describe('hits and misses', () => {
  test('no policy matched: no x-aisix-cache header at all, every call reaches the upstream', async () => {
    rig.apply({ other: policy('only-other', { applies_to: 'model:mock/someone-else' }) });
    const n = rig.calls();
    const a = await chat('mock/none');
    const b = await chat('mock/none');
    assert.equal(a.cache, null);
    assert.equal(a.layer, null);
    assert.equal(b.cache, null);
    assert.notEqual(a.content, b.content);
    assert.equal(rig.calls() - n, 2);
    const s = await post(rig.g.base, '/v1/chat/completions', {
      model: 'mock/none',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    });
    assert.equal(s.status, 200);
    assert.equal(cacheHeader(s), null);
  });

  test('miss, then an exact hit: no upstream call, the same body byte for byte', async () => {
    rig.apply({ basic: policy('basic', { applies_to: 'model:mock/basic' }) });
    const body = { model: 'mock/basic', messages: [{ role: 'user', content: 'hi' }] };
    const n = rig.calls();
    const first = await post(rig.g.base, '/v1/chat/completions', body);
    assert.equal(first.status, 200);
    assert.equal(cacheHeader(first), 'miss');
    assert.equal(first.headers.get('x-aisix-cache-layer'), null);
    assert.equal(rig.calls() - n, 1);
    const second = await post(rig.g.base, '/v1/chat/completions', body);
    assert.equal(second.status, 200);
    assert.equal(cacheHeader(second), 'hit');
    assert.equal(second.headers.get('x-aisix-cache-layer'), 'exact');
    assert.equal(second.headers.get('x-aisix-cache-similarity'), null);
    assert.match(second.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(second.text, first.text);
    assert.equal(rig.calls() - n, 1, 'the hit made no upstream call');
    // The SDK sees the same completion.
    const viaSdk = await chat('mock/basic', { content: 'hi' });
    assert.equal(viaSdk.cache, 'hit');
    assert.equal(
      viaSdk.content,
      (JSON.parse(first.text) as { choices: { message: { content: string } }[] }).choices[0]?.message.content,
    );
    assert.equal(rig.calls() - n, 1);
  });

  test('failed answers are not stored: after an upstream 500 the next call is a miss', async () => {
    rig.apply({ err: policy('err', { applies_to: 'model:mock/err' }) });
    rig.up.handle((_req, res) => json(res, 500, { error: { message: 'boom', type: 'server_error' } }));
    const bad = await post(rig.g.base, '/v1/chat/completions', {
      model: 'mock/err',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.ok(bad.status >= 500, `status ${bad.status}`);
    rig.up.handle((req, res) =>
      json(res, 400, { error: { message: `bad ${req.url}`, type: 'invalid_request_error' } }),
    );
    const bad2 = await post(rig.g.base, '/v1/chat/completions', {
      model: 'mock/err',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(bad2.status, 400);
    assert.notEqual(cacheHeader(bad2), 'hit');
    // Restore the normal upstream; the same request now reaches it and is stored.
    rig.reset();
    const n = rig.calls();
    const ok = await chat('mock/err', { content: 'x' });
    assert.equal(ok.cache, 'miss');
    assert.equal(rig.calls() - n, 1);
    assert.equal((await chat('mock/err', { content: 'x' })).cache, 'hit');
  });
});

describe('which policy governs a request', () => {
  const outcome = (p: string, o: string) =>
    metric(rig.g, 'aisix_cache_requests_total', { policy: p, outcome: o });

  test('most specific wins: api_key:<id> over model:<alias> over all; ties go to the lowest id', async () => {
    const ps: Policies = {
      'sel-all-z': policy('sel-all-z', { applies_to: 'all' }),
      'sel-all-a': policy('sel-all-a'), // applies_to defaults to all
      'sel-model': policy('sel-model', { applies_to: 'model:mock/sel' }),
      'sel-key': policy('sel-key', { applies_to: 'api_key:k4' }),
    };
    rig.apply(ps);
    const before = {
      key: await outcome('sel-key', 'miss'),
      model: await outcome('sel-model', 'miss'),
      allA: await outcome('sel-all-a', 'miss'),
      allZ: await outcome('sel-all-z', 'miss'),
    };
    assert.equal((await chat('mock/sel', { key: KEY_A, content: 'sel-1' })).cache, 'miss');
    assert.equal((await outcome('sel-key', 'miss')) - before.key, 1, 'key k4 → its api_key policy');
    assert.equal((await chat('mock/sel', { key: KEY_B, content: 'sel-1' })).cache, 'miss');
    assert.equal(
      (await outcome('sel-model', 'miss')) - before.model,
      1,
      'key k5, model mock/sel → model policy',
    );
    assert.equal((await chat('mock/sel-other', { key: KEY_B, content: 'sel-1' })).cache, 'miss');
    assert.equal((await outcome('sel-all-a', 'miss')) - before.allA, 1, 'otherwise the lowest-id all policy');
    assert.equal((await outcome('sel-all-z', 'miss')) - before.allZ, 0);
    // Each policy has its own entries: the model policy's entry serves k5 again.
    assert.equal((await chat('mock/sel', { key: KEY_B, content: 'sel-1' })).cache, 'hit');
    assert.equal(await outcome('sel-model', 'hit_exact'), 1);
  });

  test('disabled policies are ignored; an unparseable applies_to applies to all', async () => {
    rig.apply({
      'dis-key': policy('dis-key', { applies_to: 'api_key:k5', enabled: false }),
      'dis-model': policy('dis-model', { applies_to: 'model:mock/dis', enabled: false }),
      'garbage-1': policy('garbage-1', { applies_to: 'team:t1' }),
    });
    const n = rig.calls();
    const a = await chat('mock/dis', { key: KEY_B });
    assert.equal(a.cache, 'miss');
    assert.equal((await chat('mock/dis', { key: KEY_B })).cache, 'hit');
    assert.equal(await outcome('garbage-1', 'hit_exact'), 1, 'the garbage policy governed');
    assert.equal(rig.calls() - n, 1);
    // Only disabled policies left: nothing is cached, no header.
    rig.apply({ 'dis-all': policy('dis-all', { enabled: false }) });
    assert.equal((await chat('mock/dis', { key: KEY_B })).cache, null);
    // More garbage shapes behave as all.
    for (const [i, applies] of ['model:', 'api_key:', 'ALL', 'model'].entries()) {
      rig.apply({ [`garbage-x${i}`]: policy(`garbage-x${i}`, { applies_to: applies }) });
      const m = `mock/garbage-${i}`;
      assert.equal((await chat(m)).cache, 'miss', applies);
      assert.equal((await chat(m)).cache, 'hit', applies);
    }
  });

  test('scope api_key: another caller key misses; scope env: shared by every key', async () => {
    rig.apply({
      'sc-key': policy('sc-key', { applies_to: 'model:mock/scope-k' }), // scope defaults to api_key
      'sc-env': policy('sc-env', { applies_to: 'model:mock/scope-e', scope: 'env' }),
    });
    const a = await chat('mock/scope-k', { key: KEY_A });
    assert.equal(a.cache, 'miss');
    assert.equal((await chat('mock/scope-k', { key: KEY_A })).cache, 'hit');
    const b = await chat('mock/scope-k', { key: KEY_B });
    assert.equal(b.cache, 'miss');
    assert.notEqual(b.content, a.content);
    assert.equal((await chat('mock/scope-k', { key: KEY_B })).cache, 'hit');

    const e = await chat('mock/scope-e', { key: KEY_A });
    assert.equal(e.cache, 'miss');
    const shared = await chat('mock/scope-e', { key: KEY_B });
    assert.equal(shared.cache, 'hit');
    assert.equal(shared.content, e.content);
  });

  test('a redis-backend policy on a gateway without a redis store caches nothing (no header)', async () => {
    rig.apply({ 'no-redis': policy('no-redis', { applies_to: 'model:mock/no-redis', backend: 'redis' }) });
    const n = rig.calls();
    for (let i = 0; i < 2; i++) assert.equal((await chat('mock/no-redis')).cache, null);
    assert.equal(rig.calls() - n, 2);
  });
});

describe('a hit is still a request of the caller', () => {
  test('authentication and the access checks run before the cache', async () => {
    const policies = { acl: policy('acl', { applies_to: 'model:mock/acl', scope: 'env' }) };
    rig.apply(policies);
    assert.equal((await chat('mock/acl', { key: KEY_A })).cache, 'miss');
    assert.equal((await chat('mock/acl', { key: KEY_B })).cache, 'hit');
    rig.apply(policies, { api_keys: { k5: { key_hash: sha256(KEY_B), allowed_models: ['gpt-4o-mini'] } } });
    await assert.rejects(chat('mock/acl', { key: KEY_B }), { status: 403 });
    rig.apply(policies, {
      api_keys: { k5: { key_hash: sha256(KEY_B), allowed_models: ['*'], disabled: true } },
    });
    await assert.rejects(chat('mock/acl', { key: KEY_B }), { status: 401 });
    assert.equal((await chat('mock/acl', { key: KEY_A })).cache, 'hit');
  });

  test('a routing group: the miss names the member that served, the hit names none', async () => {
    rig.apply(
      { grp: policy('grp', { applies_to: 'model:grp-cache' }) },
      {
        models: {
          gc: {
            display_name: 'grp-cache',
            routing: { strategy: 'failover', targets: [{ model: 'gpt-4o-mini' }] },
          },
        },
      },
    );
    const body = { model: 'grp-cache', messages: [{ role: 'user', content: 'g' }] };
    const miss = await post(rig.g.base, '/v1/chat/completions', body);
    assert.equal(cacheHeader(miss), 'miss');
    assert.equal(miss.headers.get('x-aisix-served-by'), 'gpt-4o-mini');
    const hit = await post(rig.g.base, '/v1/chat/completions', body);
    assert.equal(cacheHeader(hit), 'hit');
    assert.equal(hit.headers.get('x-aisix-served-by'), null);
    assert.equal(hit.text, miss.text);
  });
});

describe('lifetime and request directives', () => {
  test('an entry lives ttl_seconds: a miss after it expired, stored again', async () => {
    rig.apply({ ttl: policy('ttl', { applies_to: 'model:mock/ttl', ttl_seconds: 1 }) });
    const first = await chat('mock/ttl');
    assert.equal(first.cache, 'miss');
    assert.equal((await chat('mock/ttl')).cache, 'hit');
    await sleep(1300);
    const n = rig.calls();
    const again = await chat('mock/ttl');
    assert.equal(again.cache, 'miss');
    assert.notEqual(again.content, first.content);
    assert.equal(rig.calls() - n, 1);
    const hit = await chat('mock/ttl');
    assert.equal(hit.cache, 'hit');
    assert.equal(hit.content, again.content);
  });

  test('Cache-Control: no-cache skips the read (bypass) but stores the fresh answer', async () => {
    rig.apply({ nc: policy('nc', { applies_to: 'model:mock/no-cache' }) });
    const first = await chat('mock/no-cache');
    assert.equal(first.cache, 'miss');
    const n = rig.calls();
    const fresh = await chat('mock/no-cache', { headers: { 'cache-control': 'No-Cache' } });
    assert.equal(fresh.cache, 'bypass');
    assert.equal(rig.calls() - n, 1, 'the read was skipped');
    assert.notEqual(fresh.content, first.content);
    const next = await chat('mock/no-cache');
    assert.equal(next.cache, 'hit');
    assert.equal(next.content, fresh.content, 'the bypass answer replaced the entry');
    // A first-ever request with no-cache stores too.
    assert.equal(
      (await chat('mock/no-cache', { content: 'new', headers: { 'cache-control': 'max-age=0, no-cache' } }))
        .cache,
      'bypass',
    );
    assert.equal((await chat('mock/no-cache', { content: 'new' })).cache, 'hit');
  });

  test('Cache-Control: no-store is not written (but may be served); both: neither', async () => {
    rig.apply({ ns: policy('ns', { applies_to: 'model:mock/no-store' }) });
    const n = rig.calls();
    const a = await chat('mock/no-store', { headers: { 'cache-control': 'no-store' } });
    assert.equal(a.cache, 'miss');
    const b = await chat('mock/no-store');
    assert.equal(b.cache, 'miss', 'nothing was stored');
    assert.equal(rig.calls() - n, 2);
    // The entry b stored serves a no-store read.
    const c = await chat('mock/no-store', { headers: { 'cache-control': 'NO-STORE' } });
    assert.equal(c.cache, 'hit');
    assert.equal(c.content, b.content);
    const d = await chat('mock/no-store', { headers: { 'cache-control': 'no-cache, no-store' } });
    assert.equal(d.cache, 'bypass');
    const e = await chat('mock/no-store');
    assert.equal(e.cache, 'hit');
    assert.equal(e.content, b.content, 'the bypass + no-store answer was not written');
  });

  test('purge: bumping purge_generation makes every earlier entry a miss', async () => {
    const p = (gen: number) => ({
      purge: policy('purge', { applies_to: 'model:mock/purge', purge_generation: gen, scope: 'env' }),
    });
    rig.apply(p(0));
    const old = await chat('mock/purge');
    assert.equal(old.cache, 'miss');
    assert.equal((await chat('mock/purge', { key: KEY_B })).cache, 'hit');
    rig.apply(p(1));
    const n = rig.calls();
    const fresh = await chat('mock/purge');
    assert.equal(fresh.cache, 'miss');
    assert.notEqual(fresh.content, old.content);
    assert.equal(rig.calls() - n, 1);
    const hit = await chat('mock/purge', { key: KEY_B });
    assert.equal(hit.cache, 'hit');
    assert.equal(hit.content, fresh.content);
  });

  test('policies apply live: added, the next request caches; removed, no header and no hit', async () => {
    rig.apply({});
    assert.equal((await chat('mock/live')).cache, null);
    rig.apply({ live: policy('live', { applies_to: 'model:mock/live' }) });
    assert.equal((await chat('mock/live')).cache, 'miss');
    assert.equal((await chat('mock/live')).cache, 'hit');
    rig.apply({});
    const n = rig.calls();
    assert.equal((await chat('mock/live')).cache, null);
    assert.equal(rig.calls() - n, 1);
  });
});

describe('usage events (data-plane §10.4, §12.3)', () => {
  test('cache_status miss / hit / bypass; a hit carries the cached usage, cost 0 and the saved tokens', async () => {
    const events: UsageEvent[] = [];
    const sink: UsageSink = {
      name: 'cache-test',
      offer(es) {
        events.push(...es);
        return 0;
      },
    };
    rig.g.gw.usage.attach(sink);
    try {
      rig.apply({ ev: policy('ev', { applies_to: 'model:mock/events' }) });
      const ids: string[] = [];
      for (const headers of [undefined, undefined, { 'cache-control': 'no-cache' }]) {
        const { response } = await clientA.chat.completions
          .create(
            { model: 'mock/events', messages: [{ role: 'user', content: 'count me' }] },
            headers ? { headers } : undefined,
          )
          .withResponse();
        ids.push(response.headers.get('x-aisix-request-id') ?? '');
      }
      const deadline = Date.now() + 10_000;
      while (!ids.every((id) => events.some((e) => e.request_id === id))) {
        assert.ok(Date.now() < deadline, 'timed out waiting for usage events');
        await sleep(10);
      }
      const [miss, hit, bypass] = ids.map((id) => events.filter((e) => e.request_id === id));
      assert.equal(miss?.length, 1);
      assert.equal(hit?.length, 1);
      const m = miss?.[0] as UsageEvent;
      const h = hit?.[0] as UsageEvent;
      const b = bypass?.[0] as UsageEvent;
      assert.equal(m.cache_status, 'miss');
      assert.equal(m.cache_hit_layer, null);
      assert.equal(m.cache_hit_saved_input_tokens, 0);
      assert.equal(m.cache_hit_saved_output_tokens, 0);
      assert.ok(m.prompt_tokens > 0 && m.completion_tokens > 0);
      assert.equal(h.cache_status, 'hit');
      assert.equal(h.cache_hit_layer, 'exact');
      assert.equal(h.cache_similarity, null);
      assert.equal(h.prompt_tokens, m.prompt_tokens);
      assert.equal(h.completion_tokens, m.completion_tokens);
      assert.equal(h.cost_usd, 0);
      assert.equal(h.cache_hit_saved_input_tokens, m.prompt_tokens);
      assert.equal(h.cache_hit_saved_output_tokens, m.completion_tokens);
      assert.equal(h.upstream_latency_ms, null);
      assert.equal(b.cache_status, 'bypass');
      assert.equal(b.cache_hit_saved_input_tokens, 0);
    } finally {
      rig.g.gw.usage.detach(sink);
    }
  });
});
