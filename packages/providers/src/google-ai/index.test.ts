import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PreparedRequest, PrepareInput, PrepareResult } from '../contract.js';
import { defaultRegistry } from '../index.js';
import { googleAiAdapter, googleAiBase } from './index.js';

function input(
  over: Partial<PrepareInput> & { apiBase?: string | null; apiKey?: string } = {},
): PrepareInput {
  return {
    endpoint: 'chat',
    stream: false,
    body: { model: 'alias', messages: [{ role: 'user', content: 'hi' }] },
    upstreamModel: 'gemini-2.0-flash',
    providerKey: {
      provider: 'gemini',
      api_key: over.apiKey ?? 'AIza-test-key',
      api_base: over.apiBase ?? null,
      request: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a header template, not JS
        default_headers: { 'x-team': '${request.id}', 'x-goog-api-key': 'override' },
        default_body_fields: { safetySettings: [] },
      },
    },
    requestId: 'r-9',
    inboundHeaders: { authorization: 'Bearer caller-key', 'x-trace': 't' },
    templateVars: { 'request.id': 'r-9' },
    userAgent: 'aisix/test',
    ...over,
  };
}

function prepared(r: PrepareResult): PreparedRequest {
  if (!r.ok) assert.fail(`${r.error.kind}: ${r.error.message}`);
  return r.request;
}

test('chat: native URL, x-goog-api-key only (never the caller key), header pipeline, default body fields', () => {
  const p = prepared(googleAiAdapter.prepare(input()));
  assert.equal(
    p.url.href,
    'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent',
  );
  assert.equal(p.headers['x-goog-api-key'], 'AIza-test-key');
  assert.equal(p.headers.authorization, undefined);
  assert.equal(p.headers['x-team'], 'r-9');
  assert.deepEqual(JSON.parse(p.body), {
    contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
    safetySettings: [],
  });
  const s = prepared(
    googleAiAdapter.prepare(input({ stream: true, upstreamModel: 'models/gemini-2.5-pro' })),
  );
  assert.equal(
    s.url.href,
    'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
  );
});

test('api_base: bare origin gets /v1beta, a path is kept, a pasted /models tail is cut, the OpenAI-compat base is refused', () => {
  assert.deepEqual(googleAiBase('http://127.0.0.1:8080/'), {
    ok: true,
    value: 'http://127.0.0.1:8080/v1beta',
  });
  assert.deepEqual(googleAiBase('https://gw.example/google/v1'), {
    ok: true,
    value: 'https://gw.example/google/v1',
  });
  assert.deepEqual(
    googleAiBase('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent'),
    {
      ok: true,
      value: 'https://generativelanguage.googleapis.com/v1beta',
    },
  );
  const compat = googleAiAdapter.prepare(
    input({ apiBase: 'https://generativelanguage.googleapis.com/v1beta/openai/' }),
  );
  assert.ok(
    !compat.ok && compat.error.kind === 'invalid_config' && compat.error.message.includes('adapter "openai"'),
  );
  const badModel = googleAiAdapter.prepare(input({ upstreamModel: 'gemini/../../x' }));
  assert.ok(!badModel.ok && badModel.error.kind === 'invalid_config');
  const noKey = googleAiAdapter.prepare(input({ apiKey: ' ' }));
  assert.ok(!noKey.ok && noKey.error.kind === 'invalid_credentials');
});

test('embeddings: embedContent for one input, batchEmbedContents for many, encoding noted in meta', () => {
  const one = prepared(
    googleAiAdapter.prepare(
      input({ endpoint: 'embeddings', upstreamModel: 'text-embedding-004', body: { input: 'x' } }),
    ),
  );
  assert.match(one.url.pathname, /\/models\/text-embedding-004:embedContent$/);
  assert.deepEqual(one.meta, { encoding: 'float' });
  const many = prepared(
    googleAiAdapter.prepare(
      input({
        endpoint: 'embeddings',
        upstreamModel: 'text-embedding-004',
        body: { input: ['a', 'b'], encoding_format: 'base64' },
      }),
    ),
  );
  assert.match(many.url.pathname, /:batchEmbedContents$/);
  assert.deepEqual(many.meta, { encoding: 'base64' });
  const r = googleAiAdapter.transformResponse(
    'embeddings',
    '{"embeddings":[{"values":[1]},{"values":[2]}]}',
    'e',
    many,
  );
  assert.ok(
    r.ok && typeof (JSON.parse(r.body) as { data: { embedding: unknown }[] }).data[0]?.embedding === 'string',
  );
});

test('registry: provider gemini without adapter → native; with adapter openai → OpenAI family (compat endpoint)', () => {
  assert.equal(defaultRegistry.resolve({ provider: 'gemini' })?.id, 'google-ai');
  assert.equal(defaultRegistry.resolve({ provider: 'gemini', adapter: null })?.id, 'google-ai');
  assert.notEqual(defaultRegistry.resolve({ provider: 'gemini', adapter: 'openai' })?.id, 'google-ai');
  assert.ok(defaultRegistry.resolve({ provider: 'gemini', adapter: 'openai' }));
  assert.equal(defaultRegistry.resolve({ provider: 'deepseek' }), undefined);
});
