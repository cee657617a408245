/** Job API requests per adapter: URL (base rules, query), credential and header pipeline. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type JobInput, type ProviderKeyView, prepareJobCall } from '../contract.js';
import { anthropicAdapter, azureOpenAiAdapter, openaiAdapter, openaiCompatibleAdapter } from '../index.js';

function input(pk: ProviderKeyView, over: Partial<JobInput> = {}): JobInput {
  return {
    method: 'GET',
    path: '/files/file-1',
    query: '',
    contentType: '',
    providerKey: pk,
    requestId: 'req-1',
    inboundHeaders: { 'x-trace': 't1', authorization: 'Bearer caller' },
    templateVars: { 'request.id': 'req-1' },
    userAgent: 'aisix/test',
    ...over,
  };
}

function ok(r: ReturnType<typeof prepareJobCall>) {
  assert.ok(r.ok, JSON.stringify(r));
  return r.request;
}

test('OpenAI family: api_base rules, the query appended, the PK bearer', () => {
  const pk = { api_key: 'sk-up', provider: 'openai', api_base: 'http://up:8080/v1/chat/completions' };
  const r = ok(prepareJobCall(openaiAdapter, input(pk, { path: '/files', query: 'purpose=batch&limit=2' })));
  assert.equal(r.url.href, 'http://up:8080/v1/files?purpose=batch&limit=2');
  assert.equal(r.headers.authorization, 'Bearer sk-up');
  assert.equal(r.headers['x-aisix-request-id'], 'req-1');
  assert.equal(r.headers['content-type'], undefined);
  assert.equal(r.body, '');
  // A bare host gets /v1; a base query stays in front of the forwarded one.
  const bare = ok(
    prepareJobCall(openaiCompatibleAdapter, input({ api_key: 'k', adapter: 'openai', api_base: 'http://h' })),
  );
  assert.equal(bare.url.href, 'http://h/v1/files/file-1');
  const q = ok(
    prepareJobCall(
      openaiCompatibleAdapter,
      input({ api_key: 'k', adapter: 'openai', api_base: 'http://h/v1?tenant=a' }, { query: 'x=1' }),
    ),
  );
  assert.equal(q.url.href, 'http://h/v1/files/file-1?tenant=a&x=1');
  const upload = ok(
    prepareJobCall(
      openaiAdapter,
      input(pk, { method: 'POST', path: '/files', contentType: 'multipart/form-data; boundary=b' }),
    ),
  );
  assert.equal(upload.headers['content-type'], 'multipart/form-data; boundary=b');
});

test('default headers never override gateway-owned ones; forwarded client headers follow the globs', () => {
  const pk: ProviderKeyView = {
    api_key: 'sk-up',
    provider: 'openai',
    api_base: 'http://up/v1',
    request: {
      default_headers: { 'X-Team': 'alpha', 'x-aisix-request-id': 'forged', authorization: 'Bearer nope' },
      forward_client_headers: ['x-trace', 'authorization'],
    },
  };
  const r = ok(prepareJobCall(openaiAdapter, input(pk)));
  assert.equal(r.headers['x-team'], 'alpha');
  assert.equal(r.headers['x-aisix-request-id'], 'req-1');
  assert.equal(r.headers.authorization, 'Bearer sk-up');
  assert.equal(r.headers['x-trace'], 't1');
});

test('Azure: <origin>/openai<path> with api-version unless the query has one; api-key header', () => {
  const pk = { api_key: 'az-key', adapter: 'azure-openai', api_base: 'https://res.openai.azure.com/openai' };
  const r = ok(prepareJobCall(azureOpenAiAdapter, input(pk, { path: '/batches', query: 'limit=1' })));
  assert.equal(r.url.href, 'https://res.openai.azure.com/openai/batches?limit=1&api-version=2024-10-21');
  assert.equal(r.headers['api-key'], 'az-key');
  assert.equal(r.headers.authorization, undefined);
  const own = ok(
    prepareJobCall(azureOpenAiAdapter, input(pk, { path: '/files', query: 'api-version=2025-01-01' })),
  );
  assert.equal(own.url.href, 'https://res.openai.azure.com/openai/files?api-version=2025-01-01');
  const name = ok(
    prepareJobCall(azureOpenAiAdapter, input({ api_key: 'k', adapter: 'azure-openai', api_base: 'res2' })),
  );
  assert.equal(name.url.href, 'https://res2.openai.azure.com/openai/files/file-1?api-version=2024-10-21');
});

test('refusals: other families, an empty secret, no base for a third-party vendor', () => {
  const no = (r: ReturnType<typeof prepareJobCall>, kind: string, re: RegExp) => {
    assert.ok(!r.ok);
    assert.equal(r.error.kind, kind);
    assert.match(r.error.message, re);
  };
  no(
    prepareJobCall(anthropicAdapter, input({ api_key: 'k', provider: 'anthropic' })),
    'invalid_config',
    /adapter openai or azure-openai/,
  );
  no(
    prepareJobCall(openaiAdapter, input({ api_key: ' ', provider: 'openai' })),
    'invalid_credentials',
    /empty api_key/,
  );
  no(
    prepareJobCall(openaiCompatibleAdapter, input({ api_key: 'k', provider: 'groq', adapter: 'openai' })),
    'invalid_config',
    /no upstream base URL/,
  );
  no(
    prepareJobCall(azureOpenAiAdapter, input({ api_key: 'k', adapter: 'azure-openai' })),
    'invalid_config',
    /no upstream base URL/,
  );
});
