/**
 * Semantic routing (agents-and-jobs §8.2) through a started gateway and the official openai SDK:
 * an embeddings mock returns vectors the test controls (so routing is deterministic), chat mocks
 * record what they served. Matching prompt → the route's target with `x-aisix-route`; unrelated
 * → `default` without it; embedding failure → `default`, `{target}` or 503 (`fail`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Docs, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { chatJson, chatSse, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { cosine, lastUserText, pickRoute } from './semantic.js';

let chat: MockUpstream;
let emb: MockUpstream;
let badEmb: MockUpstream;
let g: Started;
let client: OpenAI;
let docs: Docs;

/** Texts about contracts or lawsuits point one way, code another, anything else a third. */
function vectorFor(text: string): number[] {
  // Points away from "anything else": a cosine of -1 with it.
  if (/antiweather/i.test(text)) return [-0.05, 0, -1];
  if (/contract|lawsuit/i.test(text)) return [1, 0.05, 0];
  if (/code|bug/i.test(text)) return [0, 1, 0.05];
  return [0.05, 0, 1];
}

const direct = (name: string, pk = 'pk1', extra: Record<string, unknown> = {}) => ({
  display_name: name,
  provider: 'openai',
  model_name: `${name}-up`,
  provider_key_id: pk,
  ...extra,
});

const routes = [
  { name: 'legal', target: 'legal-model', examples: ['review this contract', 'lawsuit advice'] },
  { name: 'code', target: 'code-model', examples: ['fix my code'], threshold: 0.95 },
];

const semantic = (embedding_model: string, extra: Record<string, unknown> = {}) => ({
  embedding_model,
  default: 'general-model',
  match: { threshold: 0.8 },
  routes,
  ...extra,
});

before(async () => {
  chat = await startMockUpstream(chatJson());
  chat.handle((req, res) => {
    if (req.json?.stream === true) return chatSse({ words: ['lo', 'cal'] })(req, res);
    return chatJson(`served by ${String(req.json?.model)}`)(req, res);
  });
  emb = await startMockUpstream((req, res) => {
    const input = req.json?.input as string[];
    // Another embedding model: the same meanings in another vector space (axes rotated).
    const v2 = req.json?.model === 'embedder-v2-up';
    const vector = (t: string) => {
      const [x, y, z] = vectorFor(t) as [number, number, number];
      return v2 ? [z, x, y] : [x, y, z];
    };
    json(res, 200, {
      object: 'list',
      model: 'emb-up',
      data: input.map((t, index) => ({ object: 'embedding', index, embedding: vector(t) })),
      usage: { prompt_tokens: 1, total_tokens: 1 },
    });
  });
  badEmb = await startMockUpstream((_req, res) => json(res, 500, { error: { message: 'down' } }));
  docs = standardDocs(chat.url, {
    provider_keys: {
      pke: { display_name: 'e', api_key: 'ke', provider: 'openai', api_base: `${emb.url}/v1` },
      pkbad: { display_name: 'bad', api_key: 'kb', provider: 'openai', api_base: `${badEmb.url}/v1` },
    },
    models: {
      embedder: direct('embedder', 'pke', { embedding: { dimensions: 3 } }),
      'bad-embedder': direct('bad-embedder', 'pkbad', { embedding: { dimensions: 3 } }),
      'legal-model': direct('legal-model'),
      'code-model': direct('code-model'),
      'general-model': direct('general-model'),
      // rpm 0 allows nothing (decisions.md 12).
      'limited-model': direct('limited-model', 'pk1', { rate_limit: { rpm: 0 } }),
      router: { display_name: 'router', semantic: semantic('embedder') },
      'router-limited': {
        display_name: 'router-limited',
        semantic: semantic('embedder', {
          routes: [{ name: 'legal', target: 'limited-model', examples: ['review this contract'] }],
        }),
      },
      'router-anti': {
        display_name: 'router-anti',
        semantic: semantic('embedder', {
          routes: [{ name: 'anti', target: 'code-model', examples: ['antiweather'], threshold: 0 }],
        }),
      },
      'router-down': { display_name: 'router-down', semantic: semantic('bad-embedder') },
      'router-fail': {
        display_name: 'router-fail',
        semantic: semantic('bad-embedder', { on_embedding_failure: 'fail' }),
      },
      'router-to': {
        display_name: 'router-to',
        semantic: semantic('bad-embedder', { on_embedding_failure: { target: 'code-model' } }),
      },
      // A u64 past what a timer holds (control-plane §3.2): "practically none", not "expired".
      'router-long': {
        display_name: 'router-long',
        semantic: semantic('embedder', { embedding_timeout_ms: 5_000_000_000, on_embedding_failure: 'fail' }),
      },
      'router-chat-emb': {
        display_name: 'router-chat-emb',
        // Not an embedding Model → the failure policy.
        semantic: semantic('general-model', { on_embedding_failure: 'fail' }),
      },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await Promise.all([chat.close(), emb.close(), badEmb.close()]);
});

async function ask(model: string, content: string) {
  const { data, response } = await client.chat.completions
    .create({
      model,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content },
      ],
    })
    .withResponse();
  return {
    content: data.choices[0]?.message.content,
    model: data.model,
    route: response.headers.get('x-aisix-route'),
    servedBy: response.headers.get('x-aisix-served-by'),
  };
}

test('a matching prompt goes to the route target; examples are embedded once per process', async () => {
  const before = emb.requests.length;
  const r = await ask('router', 'Can you check this contract clause?');
  assert.deepEqual(r, {
    content: 'served by legal-model-up',
    model: 'router',
    route: 'legal',
    servedBy: 'legal-model',
  });
  // One batched call: the prompt first, then every example, float vectors of the Model's size.
  const first = emb.requests[before]?.json;
  assert.deepEqual(first?.input, [
    'Can you check this contract clause?',
    'review this contract',
    'lawsuit advice',
    'fix my code',
  ]);
  assert.equal(first?.encoding_format, 'float');
  assert.equal(first?.dimensions, 3);
  const again = await ask('router', 'A lawsuit was filed');
  assert.equal(again.route, 'legal');
  assert.deepEqual(emb.requests.at(-1)?.json?.input, ['A lawsuit was filed']);
  assert.equal(emb.requests.length, before + 2);
});

test('an unrelated prompt falls through to default without x-aisix-route; per-route threshold applies', async () => {
  const r = await ask('router', 'What is the weather like?');
  assert.deepEqual(r, {
    content: 'served by general-model-up',
    model: 'router',
    route: null,
    servedBy: 'general-model',
  });
  // cos([0,1,.05],[0,1,.05]) = 1 ≥ 0.95: the code route matches.
  assert.equal((await ask('router', 'there is a bug in my code')).route, 'code');
});

test('a route score is the real cosine: a negative similarity stays below a threshold of 0', async () => {
  // cos = -1 < 0: no route matches, the prompt falls through to default.
  const r = await ask('router-anti', 'What is the weather like?');
  assert.deepEqual([r.servedBy, r.route], ['general-model', null]);
});

test('an empty last user message routes to default without embedding', async () => {
  const before = emb.requests.length;
  const r = await ask('router', '');
  assert.equal(r.servedBy, 'general-model');
  assert.equal(r.route, null);
  assert.equal(emb.requests.length, before);
});

test('embedding failure: default → the default model, {target} → that alias, fail → 503', async () => {
  const d = await ask('router-down', 'Can you check this contract clause?');
  assert.deepEqual([d.servedBy, d.route], ['general-model', null]);
  const t = await ask('router-to', 'Can you check this contract clause?');
  assert.deepEqual([t.servedBy, t.route], ['code-model', null]);
  for (const model of ['router-fail', 'router-chat-emb']) {
    await assert.rejects(ask(model, 'Can you check this contract clause?'), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 503);
      assert.equal((e.error as { type?: string }).type, 'provider_unavailable');
      return true;
    });
  }
});

test('embedding_timeout_ms past the timer range: the prompt is embedded and routed, not failed', async () => {
  const r = await ask('router-long', 'Can you check this contract clause?');
  assert.deepEqual([r.servedBy, r.route], ['legal-model', 'legal']);
});

test('the chosen target keeps its own rate limit, as a one-target routing group member (§8.2 step 6)', async () => {
  const before = chat.requests.length;
  await assert.rejects(ask('router-limited', 'Can you check this contract clause?'), (e: unknown) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 429);
    assert.equal((e.error as { type?: string }).type, 'rate_limit_exceeded');
    return true;
  });
  assert.equal(chat.requests.length, before, 'the over-limit target is never called');
});

test('streaming is served by the chosen target with the route headers', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'router', stream: true, messages: [{ role: 'user', content: 'contract question' }] })
    .withResponse();
  assert.equal(response.headers.get('x-aisix-route'), 'legal');
  assert.equal(response.headers.get('x-aisix-served-by'), 'legal-model');
  let text = '';
  for await (const c of data) {
    assert.equal(c.model, 'router');
    text += c.choices[0]?.delta.content ?? '';
  }
  assert.equal(text, 'local');
  assert.equal(chat.requests.at(-1)?.json?.model, 'legal-model-up');
});

test('an embedding Model switched to another upstream model: its example vectors are not reused', async () => {
  assert.equal((await ask('router', 'Can you check this contract clause?')).route, 'legal');
  // Same Model id and dimensions, another upstream model (an admin PUT of `model_name`).
  const embedder = { ...docs.models?.embedder, model_name: 'embedder-v2' };
  g.source.set(buildSnapshot({ ...docs, models: { ...docs.models, embedder } }, 2));
  try {
    const before = emb.requests.length;
    const r = await ask('router', 'Can you check this contract clause?');
    assert.deepEqual([r.servedBy, r.route], ['legal-model', 'legal']);
    assert.deepEqual(emb.requests[before]?.json?.input, [
      'Can you check this contract clause?',
      'review this contract',
      'lawsuit advice',
      'fix my code',
    ]);
  } finally {
    g.source.set(buildSnapshot(docs, 3));
  }
});

test('other endpoints answer 400 for a semantic model', async () => {
  await assert.rejects(client.embeddings.create({ model: 'router', input: 'x' }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 400);
    assert.match(e.message, /is a semantic model; only \/v1\/chat\/completions is supported/);
    return true;
  });
});

test('scoring: cosine edge cases, thresholds and ties', () => {
  assert.equal(cosine(Float32Array.of(1, 0), Float32Array.of(1, 0, 0)), 0);
  assert.equal(cosine(Float32Array.of(0, 0), Float32Array.of(1, 0)), 0);
  assert.ok(Math.abs(cosine(Float32Array.of(1, 1), Float32Array.of(2, 2)) - 1) < 1e-9);
  const rs = [
    { name: 'a', target: 'x', examples: ['e'] },
    { name: 'b', target: 'y', examples: ['e'], threshold: 0.5 },
  ];
  assert.equal(pickRoute(rs, [0.9, 0.9], 0.8), 0, 'ties keep the earlier route');
  assert.equal(pickRoute(rs, [0.7, 0.6], 0.8), 1, 'a route threshold overrides match.threshold');
  assert.equal(pickRoute(rs, [0.7, 0.4], 0.8), -1);
  assert.equal(
    lastUserText([
      { role: 'user', content: 'old' },
      { role: 'user', content: [{ type: 'text', text: 'new' }] },
      { role: 'assistant', content: 'a' },
    ]),
    'new',
  );
});
