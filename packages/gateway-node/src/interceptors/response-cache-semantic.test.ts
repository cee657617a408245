/**
 * The semantic layer (data-plane §10.4/§10.5, docs/cache.md "Semantic layer") through a started
 * gateway: the embedding model is a model of the snapshot served by the mock upstream's
 * `/v1/embeddings`, whose vectors the tests choose per embedded text (`role: content` lines).
 * A close paraphrase is served from the earlier answer (`x-aisix-cache-layer: semantic` and the
 * similarity to 4 decimals), a far one is not, partitions are respected, non-plain-text
 * conversations stay exact-only, and embedding failures or timeouts degrade to exact-only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type CacheRig,
  cacheHeader,
  KEY_B,
  metric,
  type Policies,
  post,
  startCacheRig,
  vec,
} from '../test/cache-rig.js';
import { sleep } from '../test/mock-upstream.js';

let rig: CacheRig;

const sem = (model: string, threshold: number, extra: Record<string, unknown> = {}) => ({
  name: `sem ${model}`,
  applies_to: `model:${model}`,
  ...extra,
  semantic: { embedding_model: 'emb', threshold, ...(extra.semantic as object | undefined) },
});

const POLICIES: Policies = {
  s1: sem('mock/sem', 0.9),
  s2: sem('mock/sem-edge', 0.8),
  s3: sem('mock/sem-fail', 0.9, { semantic: { embedding_timeout_ms: 200 } }),
  s4: sem('mock/sem-ttl', 0.9, { ttl_seconds: 3 }),
  s5: sem('mock/sem-max', 0.9, { semantic: { max_entries: 1 } }),
  // A u64 past what a timer holds (control-plane §3.8): "practically none", not "expired".
  s6: sem('mock/sem-long', 0.9, { semantic: { embedding_timeout_ms: 5_000_000_000 } }),
};

const CAPITAL = 'what is the capital of France?';
const PARAPHRASE = "tell me France's capital";
const FAR = 'how do I bake bread?';
const line = (content: string) => `user: ${content}`;

before(async () => {
  rig = await startCacheRig({ policies: POLICIES });
  rig.emb.vectors.set(line(CAPITAL), vec(1, 0, 0));
  rig.emb.vectors.set(line(PARAPHRASE), vec(0.96, 0.28, 0)); // cosine 0.96
  rig.emb.vectors.set(line(FAR), vec(0, 0, 1)); // cosine 0
});

after(() => rig.close());

const ask = (model: string, content: string, over: Record<string, unknown> = {}, key?: string) =>
  post(
    rig.g.base,
    '/v1/chat/completions',
    { model, messages: [{ role: 'user', content }], ...over },
    key ? { key } : {},
  );

describe('semantic hits', () => {
  test('a close paraphrase is served from the earlier answer; a far question is not', async () => {
    const chats = rig.calls('/chat/completions');
    const first = await ask('mock/sem', CAPITAL);
    assert.equal(cacheHeader(first), 'miss');
    const para = await ask('mock/sem', PARAPHRASE);
    assert.equal(para.status, 200);
    assert.equal(cacheHeader(para), 'hit');
    assert.equal(para.headers.get('x-aisix-cache-layer'), 'semantic');
    assert.equal(para.headers.get('x-aisix-cache-similarity'), '0.9600');
    assert.equal(para.text, first.text);
    assert.equal(rig.calls('/chat/completions') - chats, 1, 'the paraphrase made no chat call');
    // The embedding model was called with its own provider key, never the caller's.
    const embedCall = rig.up.requests.filter((r) => r.url.endsWith('/embeddings')).at(-1);
    assert.equal(embedCall?.headers.authorization, 'Bearer sk-upstream-secret');
    assert.equal(embedCall?.json?.model, 'text-embedding-3-small');
    assert.equal(
      await metric(rig.g, 'aisix_cache_requests_total', { policy: 'sem mock/sem', outcome: 'hit_semantic' }),
      1,
    );
    // The semantic hit was copied to the exact layer.
    const again = await ask('mock/sem', PARAPHRASE);
    assert.equal(cacheHeader(again), 'hit');
    assert.equal(again.headers.get('x-aisix-cache-layer'), 'exact');
    assert.equal(again.headers.get('x-aisix-cache-similarity'), null);
    assert.equal(again.text, first.text);
    const far = await ask('mock/sem', FAR);
    assert.equal(cacheHeader(far), 'miss');
    assert.notEqual(far.text, first.text);
    assert.equal(rig.calls('/chat/completions') - chats, 2);
  });

  test('only inside one partition: another temperature or caller key (scope api_key) does not match', async () => {
    const base = await ask('mock/sem', CAPITAL, { temperature: 0.3 });
    assert.equal(cacheHeader(base), 'miss');
    assert.equal(cacheHeader(await ask('mock/sem', PARAPHRASE, { temperature: 0.4 })), 'miss');
    assert.equal(cacheHeader(await ask('mock/sem', PARAPHRASE, { temperature: 0.3 }, KEY_B)), 'miss');
    const ok = await ask('mock/sem', PARAPHRASE, { temperature: 0.3 });
    assert.equal(ok.headers.get('x-aisix-cache-layer'), 'semantic');
    assert.equal(ok.text, base.text);
  });

  test('similarity equal to the threshold is a hit; a streamed paraphrase replays the stream', async () => {
    rig.emb.vectors.set(line('edge question'), vec(1, 0));
    rig.emb.vectors.set(line('edge paraphrase'), vec(0.8, 0.6)); // cosine 0.8 = threshold
    rig.emb.vectors.set(line('edge below'), vec(0.79, 0.6131));
    const first = await ask('mock/sem-edge', 'edge question');
    assert.equal(cacheHeader(first), 'miss');
    const at = await ask('mock/sem-edge', 'edge paraphrase');
    assert.equal(at.headers.get('x-aisix-cache-layer'), 'semantic');
    assert.equal(at.headers.get('x-aisix-cache-similarity'), '0.8000');
    assert.equal(at.text, first.text);
    // Just below the threshold (the paraphrase's semantic hit added no vector of its own).
    assert.equal(cacheHeader(await ask('mock/sem-edge', 'edge below')), 'miss');
    const s1 = await ask('mock/sem-edge', 'edge question', { stream: true });
    assert.equal(cacheHeader(s1), 'miss');
    const s2 = await ask('mock/sem-edge', 'edge paraphrase', { stream: true });
    assert.equal(s2.headers.get('x-aisix-cache-layer'), 'semantic');
    assert.match(s2.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(s2.text, s1.text);
  });

  test('Cache-Control: no-cache skips the semantic read too', async () => {
    rig.emb.vectors.set(line('nc question'), vec(0, 1));
    rig.emb.vectors.set(line('nc paraphrase'), vec(0, 1));
    assert.equal(cacheHeader(await ask('mock/sem', 'nc question')), 'miss');
    const r = await post(
      rig.g.base,
      '/v1/chat/completions',
      { model: 'mock/sem', messages: [{ role: 'user', content: 'nc paraphrase' }] },
      { headers: { 'cache-control': 'no-cache' } },
    );
    assert.equal(cacheHeader(r), 'bypass');
  });
});

describe('bounds', () => {
  test('max_entries bounds the vectors of a policy: the oldest is forgotten', async () => {
    rig.emb.vectors.set(line('max one'), vec(0, 0, 0, 0, 0, 0, 1));
    rig.emb.vectors.set(line('max one again'), vec(0, 0, 0, 0, 0, 0, 1));
    rig.emb.vectors.set(line('max two'), vec(0, 0, 0, 0, 0, 0, 0, 1));
    rig.emb.vectors.set(line('max two again'), vec(0, 0, 0, 0, 0, 0, 0, 1));
    assert.equal(cacheHeader(await ask('mock/sem-max', 'max one')), 'miss');
    assert.equal(cacheHeader(await ask('mock/sem-max', 'max two')), 'miss');
    assert.equal((await ask('mock/sem-max', 'max two again')).headers.get('x-aisix-cache-layer'), 'semantic');
    assert.equal(cacheHeader(await ask('mock/sem-max', 'max one again')), 'miss', 'its vector was evicted');
    // The exact entry itself is still there.
    assert.equal((await ask('mock/sem-max', 'max one')).headers.get('x-aisix-cache-layer'), 'exact');
  });
});

describe('purge', () => {
  test('bumping purge_generation also ends semantic matches with earlier answers', async () => {
    rig.emb.vectors.set(line('purge question'), vec(0, 0, 0, 0, 0, 1));
    rig.emb.vectors.set(line('purge paraphrase'), vec(0, 0, 0, 0, 0, 1));
    const first = await ask('mock/sem', 'purge question');
    assert.equal(cacheHeader(first), 'miss');
    rig.apply({ ...POLICIES, s1: { ...POLICIES.s1, purge_generation: 1 } });
    try {
      const para = await ask('mock/sem', 'purge paraphrase');
      assert.equal(cacheHeader(para), 'miss');
      assert.notEqual(para.text, first.text);
    } finally {
      rig.apply(POLICIES);
    }
  });
});

describe('exact-only cases', () => {
  test('conversations that are not plain text (parts, names, tools) are never embedded', async () => {
    const embeds = rig.calls('/embeddings');
    const shapes: Record<string, unknown>[][] = [
      [{ role: 'user', content: [{ type: 'text', text: CAPITAL }] }],
      [{ role: 'user', content: CAPITAL, name: 'bob' }],
      [
        { role: 'user', content: CAPITAL },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'Paris' },
      ],
    ];
    for (const messages of shapes) {
      const a = await post(rig.g.base, '/v1/chat/completions', { model: 'mock/sem', messages });
      assert.equal(cacheHeader(a), 'miss');
      assert.equal(a.headers.get('x-aisix-cache-layer'), null);
      const b = await post(rig.g.base, '/v1/chat/completions', { model: 'mock/sem', messages });
      assert.equal(b.headers.get('x-aisix-cache-layer'), 'exact');
    }
    assert.equal(rig.calls('/embeddings'), embeds);
  });

  test('an embedding failure or timeout degrades to exact-only; the request is served', async () => {
    rig.emb.vectors.set(line('fail question'), vec(0, 0, 0, 1));
    rig.emb.vectors.set(line('fail paraphrase'), vec(0, 0, 0, 1));
    rig.emb.mode = 'fail';
    try {
      const embeds = rig.calls('/embeddings');
      const a = await ask('mock/sem-fail', 'fail question');
      assert.equal(a.status, 200);
      assert.equal(cacheHeader(a), 'miss');
      assert.ok(rig.calls('/embeddings') > embeds, 'the embedder was asked');
      assert.equal(cacheHeader(await ask('mock/sem-fail', 'fail paraphrase')), 'miss');
      assert.equal((await ask('mock/sem-fail', 'fail question')).headers.get('x-aisix-cache-layer'), 'exact');
      rig.emb.mode = 'slow';
      const t0 = performance.now();
      const slow = await ask('mock/sem-fail', 'slow question');
      const ms = performance.now() - t0;
      assert.equal(slow.status, 200);
      assert.equal(cacheHeader(slow), 'miss');
      assert.ok(ms < 1200, `the embedding deadline (200 ms) bounded the wait: ${ms.toFixed(0)} ms`);
      assert.equal((await ask('mock/sem-fail', 'slow question')).headers.get('x-aisix-cache-layer'), 'exact');
    } finally {
      rig.emb.mode = 'ok';
    }
  });

  test('embedding_timeout_ms past the timer range: the embedder is waited for and a paraphrase hits', async () => {
    rig.emb.vectors.set(line('long question'), vec(0, 0, 0, 0, 0, 1));
    rig.emb.vectors.set(line('long paraphrase'), vec(0, 0, 0, 0, 0, 1));
    const first = await ask('mock/sem-long', 'long question');
    assert.equal(cacheHeader(first), 'miss');
    const para = await ask('mock/sem-long', 'long paraphrase');
    assert.equal(para.headers.get('x-aisix-cache-layer'), 'semantic');
    assert.equal(para.text, first.text);
  });

  test('a semantic copy never outlives the entry it copies', async () => {
    rig.emb.vectors.set(line('ttl question'), vec(0, 0, 0, 0, 1));
    rig.emb.vectors.set(line('ttl paraphrase'), vec(0, 0, 0, 0, 1));
    const t0 = Date.now();
    const first = await ask('mock/sem-ttl', 'ttl question'); // ttl 3 s
    assert.equal(cacheHeader(first), 'miss');
    await sleep(1200);
    const late = await ask('mock/sem-ttl', 'ttl paraphrase');
    assert.equal(late.headers.get('x-aisix-cache-layer'), 'semantic');
    assert.equal(late.text, first.text);
    // The original has expired; a copy given the policy's full TTL at 1.2 s would live to 4.2 s.
    await sleep(Math.max(0, t0 + 3300 - Date.now()));
    const after = await ask('mock/sem-ttl', 'ttl paraphrase');
    assert.equal(cacheHeader(after), 'miss');
    assert.notEqual(after.text, first.text);
  });
});
