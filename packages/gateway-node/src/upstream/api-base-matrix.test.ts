/**
 * `api_base` shapes (data-plane §5.3, checklist §13 item 13) on every endpoint family: one
 * gateway, one provider key per shape, and a mock upstream that records the request path each
 * family reaches. Clients are the official SDKs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { buildSnapshot, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { anthropicJson } from '../test/mock-anthropic.js';
import { wav } from '../test/mock-raw.js';
import { responsesJson } from '../test/mock-responses.js';
import { chatJson, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

const KEY = 'sk-api-base';
let up: MockUpstream;
let g: Started;

/** Answers with a plausible body for whichever endpoint the path ends in. */
function byPath(): Parameters<typeof startMockUpstream>[0] {
  return (req, res) => {
    const p = req.url.split('?')[0] ?? '';
    if (p.endsWith('/chat/completions')) return chatJson('ok')(req, res);
    if (p.endsWith('/completions'))
      return json(res, 200, {
        id: 'cmpl-1',
        object: 'text_completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, text: 'ok', finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    if (p.endsWith('/embeddings'))
      return json(res, 200, {
        object: 'list',
        model: 'm',
        data: [{ object: 'embedding', index: 0, embedding: [0.5] }],
        usage: { prompt_tokens: 1, total_tokens: 1 },
      });
    if (p.endsWith('/responses')) return responsesJson('ok')(req, res);
    if (p.endsWith('/messages/count_tokens')) return json(res, 200, { input_tokens: 4 });
    if (p.endsWith('/messages')) return anthropicJson('ok')(req, res);
    if (p.endsWith('/rerank')) return json(res, 200, { results: [{ index: 0, relevance_score: 0.9 }] });
    if (p.endsWith('/images/generations'))
      return json(res, 200, { created: 1, data: [{ url: 'https://i/x.png' }] });
    if (p.endsWith('/audio/speech')) {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      return void res.end(Buffer.from([1, 2, 3]));
    }
    if (p.endsWith('/audio/transcriptions') || p.endsWith('/audio/translations'))
      return json(res, 200, { text: 'ok' });
    json(res, 404, { error: { message: `mock: no such path ${p}`, type: 'invalid_request_error' } });
  };
}

/** OpenAI-family shapes: the api_base (the mock origin is `@`) and the prefix every endpoint gets;
 * `chat` is the chat-completions bridge's own prefix where it differs (OP-2). */
const OPENAI_SHAPES = [
  { id: 'v1', base: '@/v1', prefix: '/v1' },
  { id: 'padded', base: '  @/v1/  ', prefix: '/v1' },
  { id: 'bare', base: '@', prefix: '/v1', chat: '' },
  { id: 'bare-slash', base: '@/', prefix: '/v1', chat: '' },
  { id: 'deep', base: '@/api/paas/v4', prefix: '/api/paas/v4' },
  { id: 'v1beta', base: '@/v1beta/openai/', prefix: '/v1beta/openai' },
  { id: 'pasted-chat', base: '@/v2/chat/completions', prefix: '/v2' },
  { id: 'pasted-responses', base: '@/v2/responses/', prefix: '/v2' },
  { id: 'pasted-embeddings', base: '@/gw/v1/embeddings', prefix: '/gw/v1' },
  { id: 'pasted-bare', base: '@/chat/completions', prefix: '/v1', chat: '' },
  // A query string (a tenant or api-version parameter) stays a query after the endpoint path.
  { id: 'query', base: '@/gw/v1?tenant=a&x=%2F', prefix: '/gw/v1', query: '?tenant=a&x=%2F' },
  // A fragment never reaches a server; it must not swallow the endpoint path.
  { id: 'fragment', base: '@/gw/v1#docs', prefix: '/gw/v1' },
  { id: 'query-pasted', base: '@/gw/v1/chat/completions/?tenant=a', prefix: '/gw/v1', query: '?tenant=a' },
] as const;

const ANTHROPIC_SHAPES = [
  { id: 'a-bare', base: '@', prefix: '' },
  { id: 'a-v1', base: '@/v1', prefix: '' },
  { id: 'a-pasted', base: '@/v1/messages', prefix: '' },
  { id: 'a-mounted', base: '@/anthropic', prefix: '/anthropic' },
  { id: 'a-mounted-v1', base: '@/anthropic/v1/', prefix: '/anthropic' },
  { id: 'a-mounted-pasted', base: '@/anthropic/v1/messages', prefix: '/anthropic' },
  { id: 'a-query', base: '@/anthropic/v1?tenant=a', prefix: '/anthropic', query: '?tenant=a' },
] as const;

before(async () => {
  up = await startMockUpstream(byPath());
  const provider_keys: Record<string, Record<string, unknown>> = {};
  const models: Record<string, Record<string, unknown>> = {};
  for (const s of OPENAI_SHAPES) {
    provider_keys[`pk-${s.id}`] = {
      display_name: `pk-${s.id}`,
      api_key: 'sk-up',
      provider: 'openai',
      api_base: s.base.replace('@', up.url),
    };
    models[`m-${s.id}`] = {
      display_name: s.id,
      provider: 'openai',
      model_name: 'up',
      provider_key_id: `pk-${s.id}`,
    };
  }
  for (const s of ANTHROPIC_SHAPES) {
    provider_keys[`pk-${s.id}`] = {
      display_name: `pk-${s.id}`,
      api_key: 'sk-up',
      provider: 'anthropic',
      api_base: s.base.replace('@', up.url),
    };
    models[`m-${s.id}`] = {
      display_name: s.id,
      provider: 'anthropic',
      model_name: 'claude-up',
      provider_key_id: `pk-${s.id}`,
    };
  }
  g = await startTestGateway(
    buildSnapshot({
      provider_keys,
      models,
      api_keys: { k: { key_hash: sha256(KEY), allowed_models: ['*'] } },
    }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const openai = () => new OpenAI({ apiKey: KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: KEY, baseURL: g.base, maxRetries: 0 });

/** The path of the one upstream request `call` caused. */
async function pathOf(call: () => Promise<unknown>): Promise<string> {
  const before = up.requests.length;
  await call();
  assert.equal(up.requests.length, before + 1, 'exactly one upstream request');
  return up.requests.at(-1)?.url ?? '';
}

const OPENAI_FAMILIES: readonly {
  name: string;
  endpoint: string;
  call: (model: string) => Promise<unknown>;
  chatBridge?: boolean;
}[] = [
  {
    name: 'chat',
    endpoint: '/chat/completions',
    chatBridge: true,
    call: (model) => openai().chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
  },
  {
    name: 'messages (bridged to chat)',
    endpoint: '/chat/completions',
    chatBridge: true,
    call: (model) =>
      anthropic().messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
  },
  {
    name: 'completions',
    endpoint: '/completions',
    call: (model) => openai().completions.create({ model, prompt: 'hi' }),
  },
  {
    name: 'embeddings',
    endpoint: '/embeddings',
    call: (model) => openai().embeddings.create({ model, input: 'hi' }),
  },
  {
    name: 'responses',
    endpoint: '/responses',
    call: (model) => openai().responses.create({ model, input: 'hi' }),
  },
  {
    name: 'rerank',
    endpoint: '/rerank',
    call: (model) => openai().post('/rerank', { body: { model, query: 'q', documents: ['a', 'b'] } }),
  },
  {
    name: 'images',
    endpoint: '/images/generations',
    call: (model) => openai().images.generate({ model, prompt: 'a cat' }),
  },
  {
    name: 'audio speech',
    endpoint: '/audio/speech',
    call: async (model) =>
      (await openai().audio.speech.create({ model, input: 'hi', voice: 'alloy' })).arrayBuffer(),
  },
  {
    name: 'audio transcriptions',
    endpoint: '/audio/transcriptions',
    call: async (model) =>
      openai().audio.transcriptions.create({ model, file: await toFile(wav(50), 'a.wav') }),
  },
  {
    name: 'audio translations',
    endpoint: '/audio/translations',
    call: async (model) =>
      openai().audio.translations.create({ model, file: await toFile(wav(50), 'a.wav') }),
  },
];

for (const s of OPENAI_SHAPES) {
  for (const f of OPENAI_FAMILIES) {
    const prefix = f.chatBridge === true && 'chat' in s ? s.chat : s.prefix;
    const want = `${prefix}${f.endpoint}${'query' in s ? s.query : ''}`;
    test(`api_base ${JSON.stringify(s.base)} (openai), ${f.name} -> ${want}`, async () => {
      assert.equal(await pathOf(() => f.call(s.id)), want);
    });
  }
}

for (const s of ANTHROPIC_SHAPES) {
  const q = 'query' in s ? s.query : '';
  test(`api_base ${JSON.stringify(s.base)} (anthropic), messages -> ${s.prefix}/v1/messages`, async () => {
    const path = await pathOf(() =>
      anthropic().messages.create({
        model: s.id,
        max_tokens: 8,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    );
    assert.equal(path, `${s.prefix}/v1/messages${q}`);
  });
  test(`api_base ${JSON.stringify(s.base)} (anthropic), chat bridged -> ${s.prefix}/v1/messages`, async () => {
    const path = await pathOf(() =>
      openai().chat.completions.create({ model: s.id, messages: [{ role: 'user', content: 'hi' }] }),
    );
    assert.equal(path, `${s.prefix}/v1/messages${q}`);
  });
  test(`api_base ${JSON.stringify(s.base)} (anthropic), count_tokens -> ${s.prefix}/v1/messages/count_tokens`, async () => {
    const path = await pathOf(() =>
      anthropic().messages.countTokens({ model: s.id, messages: [{ role: 'user', content: 'hi' }] }),
    );
    assert.equal(path, `${s.prefix}/v1/messages/count_tokens${q}`);
  });
}
