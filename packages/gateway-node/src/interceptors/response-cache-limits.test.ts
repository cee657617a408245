/**
 * Cache hits and rate limits (data-plane §9.3 "Cache hits: commit 0", §2: the rate-limit
 * reservation comes before the cache gate; docs/cache.md: "No tokens are counted against rate
 * limits; request limits still count the request"). A caller key with inline limits and a cache
 * policy of its own, through a started gateway and the openai SDK.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { type CacheRig, post, startCacheRig } from '../test/cache-rig.js';
import { sha256 } from '../test/fixtures.js';
import { sleep, USAGE } from '../test/mock-upstream.js';

const TOKENS_KEY = 'sk-tokens';
const REQUESTS_KEY = 'sk-requests';

let rig: CacheRig;

before(async () => {
  rig = await startCacheRig();
  rig.apply(
    {
      'lim-tokens': { name: 'lim-tokens', applies_to: 'api_key:k6' },
      'lim-requests': { name: 'lim-requests', applies_to: 'api_key:k7' },
    },
    {
      api_keys: {
        k6: { key_hash: sha256(TOKENS_KEY), allowed_models: ['*'], rate_limit: { tpm: 30 } },
        k7: { key_hash: sha256(REQUESTS_KEY), allowed_models: ['*'], rate_limit: { rpm: 3 } },
      },
    },
  );
});

after(() => rig.close());

/** Counters are fixed one-minute windows: start a test well inside one. */
async function freshWindowRoom(): Promise<void> {
  const s = (Date.now() / 1000) % 60;
  if (s > 54) await sleep((60 - s + 0.3) * 1000);
}

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });

async function chat(c: OpenAI, content: string) {
  const { response } = await c.chat.completions
    .create({ model: 'mock/limits', messages: [{ role: 'user', content }] })
    .withResponse();
  return {
    cache: response.headers.get('x-aisix-cache'),
    remainingTokens: response.headers.get('x-ratelimit-remaining-tokens'),
  };
}

test('hits commit 0 tokens: only misses (JSON and streamed) spend tpm', async () => {
  await freshWindowRoom();
  const c = client(TOKENS_KEY);
  const per = USAGE.total_tokens; // 12 per upstream answer; tpm 30
  const a = await chat(c, 'a');
  assert.equal(a.cache, 'miss');
  assert.equal(a.remainingTokens, String(30 - per));
  for (let i = 0; i < 5; i++) {
    const hit = await chat(c, 'a');
    assert.equal(hit.cache, 'hit');
    assert.equal(hit.remainingTokens, String(30 - per), 'a hit spent no tokens');
  }
  // A streamed miss spends its usage at the end; its replays spend nothing.
  const streamBody = { model: 'mock/limits', messages: [{ role: 'user', content: 's' }], stream: true };
  const s1 = await post(rig.g.base, '/v1/chat/completions', streamBody, { key: TOKENS_KEY });
  assert.equal(s1.headers.get('x-aisix-cache'), 'miss');
  for (let i = 0; i < 3; i++) {
    const s = await post(rig.g.base, '/v1/chat/completions', streamBody, { key: TOKENS_KEY });
    assert.equal(s.status, 200);
    assert.equal(s.headers.get('x-aisix-cache'), 'hit');
  }
  const stillA = await chat(c, 'a');
  assert.equal(stillA.cache, 'hit');
  assert.equal(
    stillA.remainingTokens,
    String(30 - 2 * per),
    'the streamed miss spent its usage, its hits none',
  );
  // 24 ≤ 30: one more miss is admitted and crosses the limit (36).
  const b = await chat(c, 'b');
  assert.equal(b.cache, 'miss');
  assert.equal(b.remainingTokens, '0');
  // Over the limit: refused before the cache is even asked, hit or not.
  await assert.rejects(chat(c, 'c'), { status: 429 });
  await assert.rejects(chat(c, 'a'), { status: 429 });
});

test('request limits count every request, hits included (checked before the cache)', async () => {
  await freshWindowRoom();
  const c = client(REQUESTS_KEY);
  const n = rig.calls();
  const seen: (string | null)[] = [];
  const remaining: (string | null)[] = [];
  for (let i = 0; i < 3; i++) {
    const { response } = await c.chat.completions
      .create({ model: 'mock/limits', messages: [{ role: 'user', content: 'r' }] })
      .withResponse();
    seen.push(response.headers.get('x-aisix-cache'));
    remaining.push(response.headers.get('x-ratelimit-remaining-requests'));
  }
  assert.deepEqual(seen, ['miss', 'hit', 'hit']);
  assert.deepEqual(remaining, ['2', '1', '0']);
  await assert.rejects(
    c.chat.completions.create({ model: 'mock/limits', messages: [{ role: 'user', content: 'r' }] }),
    { status: 429 },
  );
  assert.equal(rig.calls() - n, 1);
});
