import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anthropicAdapter } from '../anthropic/index.js';
import { azureOpenAiAdapter } from '../azure-openai/index.js';
import {
  checkPassthrough,
  isPassthroughEndpoint,
  type PassthroughInput,
  type PrepareResult,
  type ProviderKeyView,
  preparePassthrough,
} from '../contract.js';
import { openaiAdapter } from '../openai/index.js';
import { openaiCompatibleAdapter } from '../openai-compatible/index.js';
import { createOpenAiCompatibleAdapter } from './openai-base.js';

function input(pk: ProviderKeyView, over: Partial<PassthroughInput> = {}): PassthroughInput {
  return {
    endpoint: 'rerank',
    body: { model: 'alias', query: 'q', documents: ['a', 'b'] },
    upstreamModel: 'rerank-v3',
    providerKey: pk,
    requestId: 'req-1',
    inboundHeaders: {},
    templateVars: { 'request.id': 'req-1' },
    userAgent: 'aisix/test',
    ...over,
  };
}

function ok(r: PrepareResult) {
  if (!r.ok) assert.fail(`refused: ${r.error.message}`);
  return r.request;
}

test('passthrough endpoints are recognised; chat-style ones are not', () => {
  assert.equal(isPassthroughEndpoint('rerank'), true);
  assert.equal(isPassthroughEndpoint('audio_transcriptions'), true);
  assert.equal(isPassthroughEndpoint('chat'), false);
  assert.equal(isPassthroughEndpoint('embeddings'), false);
});

test('URL: <base><path>, pasted suffix stripped, bare host gets /v1, mounted paths kept', () => {
  const pk = (api_base: string): ProviderKeyView => ({
    api_key: 'k',
    provider: 'jina',
    adapter: 'openai',
    api_base,
  });
  const url = (base: string, endpoint: PassthroughInput['endpoint']) =>
    ok(preparePassthrough(openaiCompatibleAdapter, input(pk(base), { endpoint }))).url.href;
  assert.equal(url('https://api.jina.ai/v1', 'rerank'), 'https://api.jina.ai/v1/rerank');
  assert.equal(url('https://api.jina.ai/v1/rerank/', 'rerank'), 'https://api.jina.ai/v1/rerank');
  assert.equal(url('https://api.jina.ai', 'rerank'), 'https://api.jina.ai/v1/rerank');
  assert.equal(url('https://gw/v2/audio/speech', 'audio_speech'), 'https://gw/v2/audio/speech');
  assert.equal(url('https://gw/api/v4', 'images_generations'), 'https://gw/api/v4/images/generations');
  assert.equal(
    url('https://gw/v1/audio/transcriptions', 'audio_translations'),
    'https://gw/v1/audio/translations',
  );
});

test('no api_base: the OpenAI default only for OpenAI keys; a third-party key is refused', () => {
  const r = ok(preparePassthrough(openaiAdapter, input({ api_key: 'k', provider: 'openai' })));
  assert.equal(r.url.href, 'https://api.openai.com/v1/rerank');
  const refused = preparePassthrough(openaiCompatibleAdapter, input({ api_key: 'k', provider: 'cohere' }));
  assert.equal(refused.ok, false);
  assert.equal(refused.ok ? '' : refused.error.kind, 'invalid_config');
});

test('JSON body: model rewritten, fields kept, PK body overrides applied; provider key as bearer', () => {
  const pk: ProviderKeyView = {
    api_key: 'sk-up',
    api_base: 'https://x/v1',
    request: { default_body_fields: { top_n: 3 }, default_headers: { 'x-team': 't' } },
  };
  const r = ok(
    preparePassthrough(openaiAdapter, input(pk, { inboundHeaders: { authorization: 'Bearer caller' } })),
  );
  assert.deepEqual(JSON.parse(r.body), { model: 'rerank-v3', query: 'q', documents: ['a', 'b'], top_n: 3 });
  assert.equal(r.headers.authorization, 'Bearer sk-up');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['x-team'], 't');
  assert.equal(r.headers['x-aisix-request-id'], 'req-1');
});

test('multipart: empty body (the gateway sends the bytes) under the caller content type', () => {
  const ct = 'multipart/form-data; boundary=abc';
  const r = ok(
    preparePassthrough(
      openaiAdapter,
      input(
        { api_key: 'k', api_base: 'https://x/v1' },
        { endpoint: 'audio_transcriptions', body: { model: 'a' }, inboundHeaders: { 'content-type': ct } },
      ),
    ),
  );
  assert.equal(r.body, '');
  assert.equal(r.headers['content-type'], ct);
  assert.equal(r.headers.accept, '*/*');
});

test('credential problems are refused before any I/O', () => {
  const r = preparePassthrough(openaiAdapter, input({ api_key: ' ', api_base: 'https://x/v1' }));
  assert.equal(r.ok ? '' : r.error.kind, 'invalid_credentials');
});

test('capability: adapters without the hook, or with the flag off, are 501', () => {
  assert.equal(checkPassthrough(openaiAdapter, 'rerank'), undefined);
  assert.equal(checkPassthrough(anthropicAdapter, 'rerank')?.kind, 'not_implemented');
  assert.match(
    checkPassthrough(azureOpenAiAdapter, 'audio_speech')?.message ?? '',
    /does not support audio speech/,
  );
  const noAudio = createOpenAiCompatibleAdapter({ id: 'x', capabilities: { audio: false } });
  assert.equal(checkPassthrough(noAudio, 'audio_transcriptions')?.kind, 'not_implemented');
  assert.equal(checkPassthrough(noAudio, 'images_generations'), undefined);
  assert.equal(preparePassthrough(noAudio, input({ api_key: 'k' }, { endpoint: 'audio_speech' })).ok, false);
});
