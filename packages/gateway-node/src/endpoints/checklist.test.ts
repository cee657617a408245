/**
 * data-plane §13 checklist items without a test of their own elsewhere: 1 (a 12-message history
 * reaches the upstream unchanged, `model` rewritten), 2 (no cap by default: a 12 MiB body reaches
 * the upstream), 5-6 (`Server` and a fresh UUID request id on every model endpoint, answered
 * and 401), 9 (upstream 4xx from Anthropic, Gemini's OpenAI-compatible endpoint and DeepSeek
 * normalized to the OpenAI envelope, status kept, the upstream reason in `message`), 15
 * (`response_format`, vision parts and exact usage pass through). Official openai SDK.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, sha256, standardDocs, startTestGateway } from '../test/fixtures.js';
import { anthropicError } from '../test/mock-anthropic.js';
import { chatJson, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

const KEY = 'sk-checklist';
let up: MockUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startMockUpstream(chatJson());
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkant: { display_name: 'ant', provider: 'anthropic', api_key: 'sk-a', api_base: up.url },
      pkds: {
        display_name: 'ds',
        provider: 'deepseek',
        adapter: 'openai',
        api_key: 'sk-d',
        api_base: up.url,
      },
      pkgem: {
        display_name: 'gem',
        provider: 'google',
        adapter: 'openai',
        api_key: 'sk-g',
        api_base: `${up.url}/v1beta/openai`,
      },
    },
    models: {
      ant: {
        display_name: 'claude',
        provider: 'anthropic',
        model_name: 'claude-x',
        provider_key_id: 'pkant',
      },
      ds: {
        display_name: 'deepseek',
        provider: 'deepseek',
        model_name: 'deepseek-chat',
        provider_key_id: 'pkds',
      },
      gem: {
        display_name: 'gemini',
        provider: 'google',
        model_name: 'gemini-2.0-flash',
        provider_key_id: 'pkgem',
      },
    },
    api_keys: { kc: { key_hash: sha256(KEY), allowed_models: ['*'] } },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('§13.1: a 12-message history reaches the upstream with every role and content unchanged', async () => {
  up.handle(chatJson());
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: 'be terse' }];
  for (let i = 0; i < 11; i++)
    messages.push(
      i % 2 === 0 ? { role: 'user', content: `u${i} ünï "q"` } : { role: 'assistant', content: `a${i}` },
    );
  await client.chat.completions.create({ model: 'mock/turns', messages });
  const seen = up.requests.at(-1)?.json;
  assert.equal(seen?.model, 'up-turns', 'model rewritten to the upstream id');
  assert.deepEqual(seen?.messages, messages);
});

test('§13.2: without a cap a 12 MiB body reaches the upstream', async () => {
  up.handle(chatJson());
  const big = 'x'.repeat(12 * 1024 * 1024);
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: big }],
  });
  assert.equal(r.choices[0]?.message.content, 'Hello!');
  const seen = up.requests.at(-1)?.json as { messages: { content: string }[] };
  assert.equal(seen.messages[0]?.content.length, big.length);
});

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, String(e));
    return e;
  }
  assert.fail('expected an API error');
}

const ask = (model: string) =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });

test('§13.9: an Anthropic 4xx becomes the OpenAI envelope, status kept, reason in message', async () => {
  up.handle((_req, res) =>
    anthropicError(res, 400, 'invalid_request_error', 'max_tokens: must be at most 8192'),
  );
  const e = await apiError(ask('claude'));
  assert.equal(e.status, 400);
  assert.match(e.message, /max_tokens: must be at most 8192/);
  const body = e.error as { type?: string; message?: string };
  assert.equal(typeof body.type, 'string');
  assert.doesNotMatch(String(body.message), /"type":"error"/, 'not the raw upstream JSON');
});

test("§13.9: Gemini's OpenAI-compatible endpoint answers errors as a JSON array; normalized", async () => {
  up.handle((_req, res) =>
    json(res, 400, [
      {
        error: {
          code: 400,
          message: 'API key not valid. Please pass a valid API key.',
          status: 'INVALID_ARGUMENT',
        },
      },
    ]),
  );
  const e = await apiError(ask('gemini'));
  assert.equal(e.status, 400);
  assert.match(e.message, /API key not valid/);
  assert.doesNotMatch(e.message, /^\[|"status"/, 'not the raw upstream JSON');
  assert.equal(up.requests.at(-1)?.url, '/v1beta/openai/chat/completions');
});

test('§13.9: a DeepSeek 4xx is normalized, status kept, reason in message', async () => {
  up.handle((_req, res) =>
    json(res, 422, {
      error: {
        message: 'Failed to deserialize the JSON body',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_request_error',
      },
    }),
  );
  const e = await apiError(ask('deepseek'));
  assert.equal(e.status, 422);
  assert.match(e.message, /Failed to deserialize the JSON body/);
});

test('§13.15: response_format, vision parts (remote and data URLs, detail, order) and exact usage pass through', async () => {
  const usage = { prompt_tokens: 1234, completion_tokens: 56, total_tokens: 1290 };
  up.handle((req, res) =>
    json(res, 200, {
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: String(req.json?.model),
      choices: [{ index: 0, message: { role: 'assistant', content: '{"a":1}' }, finish_reason: 'stop' }],
      usage,
    }),
  );
  const content: OpenAI.ChatCompletionContentPart[] = [
    { type: 'text', text: 'compare' },
    { type: 'image_url', image_url: { url: 'https://img.example/a.png', detail: 'high' } },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
    { type: 'text', text: 'which is bigger?' },
  ];
  const response_format = {
    type: 'json_schema' as const,
    json_schema: {
      name: 'answer',
      strict: true,
      schema: { type: 'object', properties: { a: { type: 'integer' } } },
    },
  };
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content }],
    response_format,
  });
  const seen = up.requests.at(-1)?.json as { messages: { content: unknown }[]; response_format: unknown };
  assert.deepEqual(seen.messages[0]?.content, content);
  assert.deepEqual(seen.response_format, response_format);
  assert.deepEqual(r.usage, usage);
  await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'json please' }],
    response_format: { type: 'json_object' },
  });
  assert.deepEqual(up.requests.at(-1)?.json?.response_format, { type: 'json_object' });
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('§13.5-6: Server and a UUID x-aisix-request-id on every model endpoint, answered and short-circuited 401', async () => {
  up.handle((req, res) => {
    const p = req.url;
    if (p.endsWith('/responses'))
      return json(res, 200, { id: 'r', object: 'response', output: [], status: 'completed' });
    if (p.endsWith('/rerank')) return json(res, 200, { results: [] });
    if (p.endsWith('/embeddings'))
      return json(res, 200, { object: 'list', data: [], usage: { prompt_tokens: 1, total_tokens: 1 } });
    if (p.endsWith('/chat/completions')) return chatJson()(req, res);
    json(res, 200, {
      id: 'c',
      object: 'text_completion',
      choices: [{ index: 0, text: 'x', finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
  });
  const cases: [string, Record<string, unknown>][] = [
    ['/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }],
    ['/v1/completions', { model: 'gpt-4o-mini', prompt: 'x' }],
    ['/v1/embeddings', { model: 'emb', input: 'x' }],
    ['/v1/rerank', { model: 'gpt-4o-mini', query: 'q', documents: ['a'] }],
    ['/v1/responses', { model: 'gpt-4o-mini', input: 'x' }],
    ['/v1/messages', { model: 'gpt-4o-mini', max_tokens: 4, messages: [{ role: 'user', content: 'x' }] }],
  ];
  const seen = new Set<string>();
  for (const [path, body] of cases) {
    for (const auth of [true, false]) {
      const r = await fetch(`${g.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${KEY}` } : {}) },
        body: JSON.stringify(body),
      });
      await r.text();
      assert.equal(r.status, auth ? 200 : 401, path);
      assert.match(r.headers.get('server') ?? '', /^AISIX\/\d+\.\d+\.\d+$/, path);
      const id = r.headers.get('x-aisix-request-id') ?? '';
      assert.match(id, UUID, path);
      seen.add(id);
    }
  }
  assert.equal(seen.size, cases.length * 2, 'a fresh id per request');
});
