import assert from 'node:assert/strict';
import { test } from 'node:test';
import { azureOpenAiAdapter } from '../azure-openai/index.js';
import { bedrockAdapter } from '../bedrock/index.js';
import type { PrepareInput, ProviderKeyView } from '../contract.js';
import { checkCapability } from '../contract.js';
import { deepseekAdapter } from '../deepseek/index.js';
import { defaultRegistry } from '../index.js';
import { openaiAdapter } from '../openai/index.js';
import { openaiCompatibleAdapter } from '../openai-compatible/index.js';
import { parseUpstreamError, truncateBytes } from './errors.js';

function input(pk: ProviderKeyView, over: Partial<PrepareInput> = {}): PrepareInput {
  return {
    endpoint: 'chat',
    stream: false,
    body: { model: 'alias', messages: [{ role: 'user', content: 'hi' }] },
    upstreamModel: 'up-model',
    providerKey: pk,
    requestId: 'req-1',
    inboundHeaders: {},
    templateVars: { 'request.id': 'req-1', 'request.api_key.name': 'team-a', 'model.id': 'm1' },
    userAgent: 'aisix/test',
    ...over,
  };
}

test('registry: vendor first, then the adapter family, else nothing', () => {
  assert.equal(defaultRegistry.resolve({ provider: 'openai' }), openaiAdapter);
  assert.equal(defaultRegistry.resolve({ provider: 'openai', adapter: 'anthropic' }), openaiAdapter);
  assert.equal(defaultRegistry.resolve({ provider: 'deepseek', adapter: 'openai' }), deepseekAdapter);
  assert.equal(defaultRegistry.resolve({ provider: 'deepseek' }), undefined);
  assert.equal(defaultRegistry.resolve({ provider: 'groq', adapter: 'openai' }), openaiCompatibleAdapter);
  assert.equal(defaultRegistry.resolve({ provider: 'groq' }), undefined);
  assert.equal(defaultRegistry.resolve({ adapter: 'bedrock' }), bedrockAdapter);
  assert.equal(defaultRegistry.resolve({ adapter: 'azure-openai' }), azureOpenAiAdapter);
  assert.equal(defaultRegistry.resolve({ adapter: 'nope' }), undefined);
});

test('capability refusal is decided in one place', () => {
  assert.equal(checkCapability(openaiAdapter, 'embeddings', false), undefined);
  assert.deepEqual(checkCapability(deepseekAdapter, 'embeddings', false), {
    kind: 'not_implemented',
    message: 'this provider does not support embeddings',
  });
});

test('prepare: URL, credentials, owned headers, body rewrite and include_usage injection', () => {
  const pk: ProviderKeyView = { provider: 'openai', api_key: 'sk-up', api_base: 'http://127.0.0.1:9/v1' };
  const r = openaiAdapter.prepare(input(pk, { stream: true }));
  assert.ok(r.ok);
  assert.equal(r.request.url.href, 'http://127.0.0.1:9/v1/chat/completions');
  assert.equal(r.request.headers.authorization, 'Bearer sk-up');
  assert.equal(r.request.headers.accept, 'text/event-stream');
  assert.equal(r.request.headers['x-aisix-request-id'], 'req-1');
  const body = JSON.parse(r.request.body);
  assert.equal(body.model, 'up-model');
  assert.equal(body.stream, true);
  assert.deepEqual(body.stream_options, { include_usage: true });
  const own = openaiAdapter.prepare(
    input(pk, { stream: true, body: { model: 'a', messages: [], stream_options: { include_usage: false } } }),
  );
  assert.ok(own.ok);
  assert.deepEqual(JSON.parse(own.request.body).stream_options, { include_usage: false });
  const nonStream = openaiAdapter.prepare(input(pk));
  assert.ok(nonStream.ok);
  assert.equal(JSON.parse(nonStream.request.body).stream, false);
  assert.equal(JSON.parse(nonStream.request.body).stream_options, undefined);
});

test('prepare: credential and config refusals never echo the secret', () => {
  const empty = openaiAdapter.prepare(input({ provider: 'openai', api_key: '' }));
  assert.ok(!empty.ok);
  assert.equal(empty.error.kind, 'invalid_credentials');
  const bad = openaiAdapter.prepare(input({ provider: 'openai', api_key: 'sk-secret\nx' }));
  assert.ok(!bad.ok);
  assert.equal(bad.error.kind, 'invalid_credentials');
  assert.ok(!bad.error.message.includes('sk-secret'));
  const noBase = openaiCompatibleAdapter.prepare(input({ provider: 'groq', adapter: 'openai', secret: 'k' }));
  assert.ok(!noBase.ok);
  assert.equal(noBase.error.kind, 'invalid_config');
});

test('prepare: header pipeline precedence and forwarding rules', () => {
  const pk: ProviderKeyView = {
    provider: 'x',
    adapter: 'openai',
    api_key: 'k',
    api_base: 'http://h/v1',
    request: {
      default_headers: {
        // Header templates use `${...}` literally (not JS templates).
        'X-Team': `team=${'$'}{request.api_key.name}`,
        'X-Missing': `${'$'}{request.api_key.team_id}`,
        'X-Unknown': `${'$'}{nope}`,
        Authorization: 'Bearer evil',
        'X-Fwd': 'operator',
      },
      forward_client_headers: ['x-fwd', 'x-client-*', 'authorization', 'x-aisix-*', 'content-type'],
    },
  };
  const r = openaiCompatibleAdapter.prepare(
    input(pk, {
      inboundHeaders: {
        'x-fwd': 'client',
        'x-client-a': ['one', 'two'],
        authorization: 'Bearer caller',
        'x-aisix-routing-tags': 'a',
        'content-type': 'text/plain',
        'x-other': 'no',
      },
    }),
  );
  assert.ok(r.ok);
  const h = r.request.headers;
  assert.equal(h['x-team'], 'team=team-a');
  assert.equal(h['x-missing'], undefined);
  assert.equal(h['x-unknown'], undefined);
  assert.equal(h.authorization, 'Bearer k');
  assert.equal(h['x-fwd'], 'operator');
  assert.equal(h['x-client-a'], 'one');
  assert.equal(h['x-aisix-routing-tags'], undefined);
  assert.equal(h['content-type'], 'application/json');
  assert.equal(h['x-other'], undefined);
});

test('prepare: body overrides run in order', () => {
  const pk: ProviderKeyView = {
    provider: 'openai',
    api_key: 'k',
    request: {
      param_renames: { max_tokens: 'max_completion_tokens' },
      param_constraints: { temperature_min: 0, temperature_max: 1 },
      default_body_fields: { seed: 7, temperature: 0.5 },
    },
    response: { content_list_to_string: true },
  };
  const r = openaiAdapter.prepare(
    input(pk, {
      body: {
        model: 'a',
        max_tokens: 5,
        temperature: 1.7,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] },
        ],
      },
    }),
  );
  assert.ok(r.ok);
  const b = JSON.parse(r.request.body);
  assert.equal(b.max_tokens, undefined);
  assert.equal(b.max_completion_tokens, 5);
  assert.equal(b.temperature, 1);
  assert.equal(b.seed, 7);
  assert.equal(b.messages[0].content, 'ab');
  assert.deepEqual(b.messages[1].content, [{ type: 'image_url', image_url: { url: 'x' } }]);
});

test('transformResponse: whole body kept, model rewritten, usage read', () => {
  const text =
    '{"id":"c1","model":"gpt-4o-2024","choices":[{"index":0},{"index":1}],"system_fingerprint":"fp","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":1}}}';
  const r = openaiAdapter.transformResponse('chat', text, 'alias');
  assert.ok(r.ok);
  const b = JSON.parse(r.body);
  assert.equal(b.model, 'alias');
  assert.equal(b.choices.length, 2);
  assert.equal(b.system_fingerprint, 'fp');
  assert.equal(r.usage.total_tokens, 5);
  assert.equal(r.usage.cached_prompt_tokens, 1);
  const emb = openaiAdapter.transformResponse('embeddings', '{"model":"text-emb-3","data":[]}', 'alias');
  assert.ok(emb.ok);
  assert.equal(JSON.parse(emb.body).model, 'text-emb-3');
  assert.equal(openaiAdapter.transformResponse('chat', 'not json', 'a').ok, false);
});

test('error parsing per wire, with truncation', () => {
  assert.deepEqual(
    parseUpstreamError(
      'openai',
      '{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key","param":null}}',
    ),
    {
      message: 'bad key',
      kind: 'invalid_request_error',
      code: 'invalid_api_key',
    },
  );
  // providers.md §8 / data-plane §7.4: an HTTP error body's code is kept, a number stringified
  // (OpenRouter answers {"code":402}); a status-like one is also the embedded status.
  assert.deepEqual(parseUpstreamError('openai', '{"error":{"message":"slow","code":429}}'), {
    message: 'slow',
    code: '429',
    status: 429,
  });
  assert.deepEqual(parseUpstreamError('openai', '{"error":{"message":"credits","code":402}}'), {
    message: 'credits',
    code: '402',
    status: 402,
  });
  // A numeric code that is not a status is accepted and stringified.
  assert.deepEqual(
    parseUpstreamError(
      'openai',
      '{"error":{"message":"num code","type":"invalid_request_error","code":1234}}',
    ),
    { message: 'num code', kind: 'invalid_request_error', code: '1234' },
  );
  assert.deepEqual(
    parseUpstreamError('anthropic', '{"type":"error","error":{"type":"rate_limit_error","message":"busy"}}'),
    {
      message: 'busy',
      kind: 'rate_limit_error',
      code: 'rate_limit_exceeded',
    },
  );
  assert.deepEqual(
    parseUpstreamError('vertex', '{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED"}}'),
    {
      message: 'q',
      kind: 'RESOURCE_EXHAUSTED',
      code: 'rate_limit_exceeded',
    },
  );
  assert.deepEqual(parseUpstreamError('openai', 'plain text failure'), { message: 'plain text failure' });
  const long = truncateBytes('é'.repeat(2000));
  assert.ok(Buffer.byteLength(long) <= 1024 + 3);
  assert.ok(long.endsWith('…'));
  assert.ok(!long.includes('\uFFFD'));
});

test("the caller's own body text goes upstream when only `stream` needs writing", () => {
  const pk: ProviderKeyView = { provider: 'openai', api_key: 'sk-x', api_base: 'https://api.openai.com/v1' };
  // Key order, spacing and number spelling the caller chose; a serializer would change all three.
  const text = ' {"messages": [{"role":"user","content":"hi"}], "model":"up-model", "seed": 1.0e2}';
  const body = JSON.parse(text) as Record<string, unknown>;
  const raw = { body, text };
  const sent = (over: Partial<PrepareInput>) => {
    const r = openaiAdapter.prepare(input(pk, { body, raw, ...over }));
    assert.ok(r.ok);
    return r.request.body;
  };
  assert.equal(
    sent({}),
    ` {"stream":false,"messages": [{"role":"user","content":"hi"}], "model":"up-model", "seed": 1.0e2}`,
  );
  const streaming = { ...body, stream: true };
  const streamText = text.replace('"seed"', '"stream":true, "seed"');
  assert.equal(
    sent({ body: streaming, raw: { body: streaming, text: streamText }, stream: true }),
    ` {"stream_options":{"include_usage":true},${streamText.slice(2)}`,
  );
  const own = { ...streaming, stream_options: { include_usage: false } };
  const ownText = streamText.replace('"seed"', '"stream_options":{"include_usage":false}, "seed"');
  assert.equal(sent({ body: own, raw: { body: own, text: ownText }, stream: true }), ownText);
  const explicit = { ...body, stream: false };
  const explicitText = text.replace('"seed"', '"stream":false, "seed"');
  assert.equal(sent({ body: explicit, raw: { body: explicit, text: explicitText } }), explicitText);
  assert.equal(sent({ endpoint: 'embeddings' }), text);
  // Serialized again: a model to rewrite, a translated body, a key with body overrides.
  const reserialized = (over: Partial<PrepareInput>, key = pk) => {
    const r = openaiAdapter.prepare(input(key, { body, raw, ...over }));
    assert.ok(r.ok);
    assert.notEqual(r.request.body, text);
    return JSON.parse(r.request.body) as Record<string, unknown>;
  };
  assert.equal(reserialized({ upstreamModel: 'other' }).model, 'other');
  assert.equal(reserialized({ body: { ...body } }).stream, false);
  assert.equal(reserialized({}, { ...pk, request: { default_body_fields: { user: 'u' } } }).user, 'u');
  assert.equal(reserialized({}, { ...pk, request: { param_renames: { seed: 's' } } }).s, 100);
  assert.deepEqual(reserialized({}, { ...pk, response: { content_list_to_string: true } }).messages, [
    { role: 'user', content: 'hi' },
  ]);
});

test('transformResponse hands on its parse only when it equals a parse of the body it returns', () => {
  const same = (text: string, endpoint: 'chat' | 'embeddings' = 'chat') => {
    const r = openaiAdapter.transformResponse(endpoint, text, 'alias');
    assert.ok(r.ok);
    return r;
  };
  for (const text of [
    '{"id":"c1","model":"gpt-4o-2024","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1}}',
    '{"id":"c1","model":"alias","choices":[]}',
    '{"id":"c1","model":null,"choices":[]}',
    '{"id":"c1","choices":[]}',
  ]) {
    const r = same(text);
    assert.ok(r.value !== undefined, text);
    assert.deepEqual(r.value, JSON.parse(r.body), text);
  }
  const emb = same('{"model":"text-emb-3","data":[{"embedding":[0.5]}]}', 'embeddings');
  assert.deepEqual(emb.value, JSON.parse(emb.body));
  // The rewritten key is not the top-level one: no value (the reader parses the body itself).
  const nested = same('{"choices":[{"model":"inner"}],"model":"outer"}');
  assert.equal(nested.value, undefined);
});

test('an answer without `model` gets the alias stamped in; the parse mirrors it', () => {
  const r = openaiAdapter.transformResponse(
    'chat',
    '{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}',
    'my-alias',
  );
  assert.ok(r.ok);
  assert.equal(
    r.body,
    '{"model":"my-alias","id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}',
  );
  assert.equal((r.value as { model?: string }).model, 'my-alias');
  const empty = openaiAdapter.transformResponse('completions', ' { } ', 'a');
  assert.ok(empty.ok);
  assert.deepEqual(JSON.parse(empty.body), { model: 'a' });
});

test('prepare: a streamed call carries the key reasoning_field to the stream translator, never upstream', () => {
  const pk: ProviderKeyView = {
    provider: 'openai',
    api_key: 'sk-x',
    api_base: 'https://api.openai.com/v1',
    response: { reasoning_field: 'delta.thinking' },
  };
  const streamed = openaiAdapter.prepare(input(pk, { stream: true }));
  assert.ok(streamed.ok);
  assert.deepEqual(streamed.request.meta, { reasoning_field: 'delta.thinking' });
  assert.ok(!streamed.request.body.includes('thinking'));
  const unary = openaiAdapter.prepare(input(pk));
  assert.ok(unary.ok);
  assert.equal(unary.request.meta, undefined);
});
