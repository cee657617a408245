import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { PreparedRequest, PrepareInput, PrepareResult, ProviderKeyView } from '../contract.js';
import { defaultRegistry } from '../index.js';
import { createVertexAdapter, parseVertexCredential } from './index.js';
import { type MockTokenServer, nodeHttpClient, startMockTokenServer } from './test-support.js';

const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
let mock: MockTokenServer;
before(async () => {
  mock = await startMockTokenServer(pair.publicKey);
});
after(() => mock.close());

const TOKEN_KEY = JSON.stringify({ project: 'my-proj', region: 'us-central1', access_token: 'ya29.static' });

function input(over: Partial<PrepareInput> & { apiKey?: string; apiBase?: string } = {}): PrepareInput {
  const pk: ProviderKeyView = {
    adapter: 'vertex',
    api_key: over.apiKey ?? TOKEN_KEY,
    api_base: over.apiBase ?? null,
  };
  return {
    endpoint: 'chat',
    stream: false,
    body: { model: 'alias', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5, max_tokens: 9 },
    upstreamModel: 'gemini-2.0-flash',
    providerKey: pk,
    requestId: 'req-1',
    inboundHeaders: {},
    templateVars: { 'request.id': 'req-1' },
    userAgent: 'aisix/test',
    ...over,
  };
}

function prepared(r: PrepareResult): PreparedRequest {
  if (!r.ok) assert.fail(`${r.error.kind}: ${r.error.message}`);
  return r.request;
}

const adapter = createVertexAdapter();

test('gemini publisher: regional host, generateContent / streamGenerateContent?alt=sse, Gemini body, Bearer token', () => {
  const p = prepared(adapter.prepare(input()));
  assert.equal(
    p.url.href,
    'https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent',
  );
  assert.equal(p.headers.authorization, 'Bearer ya29.static');
  assert.equal(p.headers['x-aisix-request-id'], 'req-1');
  assert.deepEqual(JSON.parse(p.body), {
    contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
    generationConfig: { temperature: 0.5, maxOutputTokens: 9 },
  });
  assert.deepEqual(p.meta, { wire: 'gemini' });
  const s = prepared(adapter.prepare(input({ stream: true, upstreamModel: 'google/gemini-2.5-pro' })));
  assert.match(s.url.href, /\/publishers\/google\/models\/gemini-2\.5-pro:streamGenerateContent\?alt=sse$/);
  assert.equal(s.headers.accept, 'text/event-stream');
  const g = prepared(
    adapter.prepare(
      input({ apiKey: JSON.stringify({ project: 'p1', region: 'global', access_token: 't' }) }),
    ),
  );
  assert.equal(g.url.origin, 'https://aiplatform.googleapis.com');
});

test('claude publisher: rawPredict / streamRawPredict, Anthropic body without model, vertex anthropic_version', () => {
  const p = prepared(adapter.prepare(input({ upstreamModel: 'claude-sonnet-4@20250514' })));
  assert.match(p.url.pathname, /\/publishers\/anthropic\/models\/claude-sonnet-4@20250514:rawPredict$/);
  const body = JSON.parse(p.body) as Record<string, unknown>;
  assert.equal(body.anthropic_version, 'vertex-2023-10-16');
  assert.equal('model' in body, false);
  assert.equal(body.max_tokens, 9);
  assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
  assert.deepEqual(p.meta, { wire: 'anthropic' });
  const s = prepared(adapter.prepare(input({ stream: true, upstreamModel: 'claude-3-5-haiku@20241022' })));
  assert.match(s.url.pathname, /:streamRawPredict$/);
  assert.equal((JSON.parse(s.body) as { stream: boolean }).stream, true);
});

test('open models go to the OpenAI-compatible shim with publisher/model; partners to rawPredict', () => {
  const p = prepared(adapter.prepare(input({ stream: true, upstreamModel: 'llama-3.3-70b-instruct-maas' })));
  assert.equal(
    p.url.pathname,
    '/v1/projects/my-proj/locations/us-central1/endpoints/openapi/chat/completions',
  );
  const body = JSON.parse(p.body) as Record<string, unknown>;
  assert.equal(body.model, 'meta/llama-3.3-70b-instruct-maas');
  assert.equal(body.stream, true);
  assert.deepEqual(body.stream_options, { include_usage: true });
  assert.deepEqual(p.meta, { wire: 'openai' });
  const q = prepared(adapter.prepare(input({ upstreamModel: 'qwen/qwen3-coder-480b-a35b-instruct-maas' })));
  assert.equal((JSON.parse(q.body) as { model: string }).model, 'qwen/qwen3-coder-480b-a35b-instruct-maas');
  const m = prepared(adapter.prepare(input({ upstreamModel: 'mistral-small-2503' })));
  assert.match(m.url.pathname, /\/publishers\/mistralai\/models\/mistral-small-2503:rawPredict$/);
  assert.equal((JSON.parse(m.body) as { model: string }).model, 'mistral-small-2503');
});

test('embeddings: :predict with instances; refused for non-Google publishers; completions refused', () => {
  const p = prepared(
    adapter.prepare(
      input({
        endpoint: 'embeddings',
        upstreamModel: 'text-embedding-005',
        body: { input: ['a', 'b'], encoding_format: 'base64' },
      }),
    ),
  );
  assert.match(p.url.pathname, /\/publishers\/google\/models\/text-embedding-005:predict$/);
  assert.deepEqual(JSON.parse(p.body), { instances: [{ content: 'a' }, { content: 'b' }] });
  assert.deepEqual(p.meta, { wire: 'embeddings', encoding: 'base64' });
  const r = adapter.prepare(
    input({ endpoint: 'embeddings', upstreamModel: 'claude-x', body: { input: 'a' } }),
  );
  assert.ok(!r.ok && r.error.kind === 'not_implemented');
  assert.equal(adapter.capabilities.completions, false);
});

test('credential refusals are 401 invalid_credentials and never echo secrets', () => {
  const cases: [string, RegExp][] = [
    ['', /is empty/],
    ['not json', /must be JSON/],
    [JSON.stringify({ region: 'us-central1', access_token: 'SECRET' }), /project/],
    [JSON.stringify({ project: 'p', access_token: 'SECRET' }), /region/],
    [JSON.stringify({ project: 'p', region: 'us-east5' }), /exactly one/],
    [
      JSON.stringify({ project: 'p', region: 'us-east5', access_token: 'SECRET', service_account_json: {} }),
      /exactly one/,
    ],
    [JSON.stringify({ project: 'p', region: 'us-east5', access_token: 'SEC\nRET' }), /header value/],
    [
      JSON.stringify({ project: 'p', region: 'us-east5', service_account_json: { client_email: 'a@b' } }),
      /private_key/,
    ],
    [
      JSON.stringify({
        project: 'p',
        region: 'us-east5',
        service_account_json: {
          client_email: 'a@b',
          private_key: PEM,
          token_uri: 'http://evil.example/token',
        },
      }),
      /token_uri/,
    ],
  ];
  for (const [key, re] of cases) {
    const r = adapter.prepare(input({ apiKey: key }));
    assert.ok(!r.ok, key);
    assert.equal(r.error.kind, 'invalid_credentials', key);
    assert.match(r.error.message, /^invalid upstream credentials: /);
    assert.match(r.error.message, re, key);
    assert.ok(!r.error.message.includes('SECRET') && !r.error.message.includes('PRIVATE KEY'));
  }
  // The key file may also be pasted as JSON text.
  const text = parseVertexCredential(
    JSON.stringify({
      project: 'p',
      region: 'us-east5',
      service_account_json: JSON.stringify({ client_email: 'a@b', private_key: PEM }),
    }),
  );
  assert.ok(
    text.ok &&
      'serviceAccount' in text.credential &&
      text.credential.serviceAccount.tokenUri === 'https://oauth2.googleapis.com/token',
  );
});

test('api_base: a bare origin replaces the host; anything with a path, query or userinfo is refused', () => {
  const p = prepared(adapter.prepare(input({ apiBase: 'http://127.0.0.1:9999/' })));
  assert.equal(p.url.origin, 'http://127.0.0.1:9999');
  assert.match(p.url.pathname, /^\/v1\/projects\/my-proj\//);
  for (const b of [
    'https://x.example/v1',
    'https://x.example/?a=1',
    'https://u:p@x.example',
    'ftp://x.example',
  ]) {
    const r = adapter.prepare(input({ apiBase: b }));
    assert.ok(!r.ok && r.error.kind === 'invalid_config', b);
  }
  const r = adapter.prepare(input({ upstreamModel: '../../x' }));
  assert.ok(!r.ok && r.error.kind === 'invalid_config');
});

test('authorize: service account → minted Bearer token (cached); static token passes through', async () => {
  const a = createVertexAdapter();
  const key = JSON.stringify({
    project: 'p',
    region: 'europe-west4',
    service_account_json: { client_email: 'svc@p.iam', private_key: PEM, token_uri: mock.url },
  });
  const pk: ProviderKeyView = { adapter: 'vertex', api_key: key };
  const p = prepared(a.prepare(input({ apiKey: key })));
  assert.equal(p.headers.authorization, undefined);
  const http = nodeHttpClient();
  const r1 = prepared(
    await (a.authorize?.(p, { providerKey: pk, http, now: Date.now() }) ?? Promise.reject()),
  );
  assert.match(r1.headers.authorization ?? '', /^Bearer tok-\d+$/);
  assert.deepEqual(r1.meta, p.meta);
  assert.equal(r1.body, p.body);
  const r2 = prepared(
    await (a.authorize?.(p, { providerKey: pk, http, now: Date.now() }) ?? Promise.reject()),
  );
  assert.equal(r2.headers.authorization, r1.headers.authorization);
  assert.equal(a.minter.mints, 1);
  const st = prepared(a.prepare(input()));
  const same = prepared(
    await (a.authorize?.(st, { providerKey: { api_key: TOKEN_KEY }, http, now: Date.now() }) ??
      Promise.reject()),
  );
  assert.equal(same.headers.authorization, 'Bearer ya29.static');
  assert.equal(a.minter.mints, 1);
  const badPk: ProviderKeyView = {
    api_key: JSON.stringify({
      project: 'p',
      region: 'europe-west4',
      service_account_json: {
        client_email: 'svc@p.iam',
        private_key: 'x PRIVATE KEY x',
        token_uri: mock.url,
      },
    }),
  };
  const bad = await (a.authorize?.(p, { providerKey: badPk, http, now: Date.now() }) ?? Promise.reject());
  assert.ok(!bad.ok && bad.error.kind === 'invalid_credentials');
});

test('responses and streams are decoded by the wire prepare chose', () => {
  const meta = (wire: string): PreparedRequest => ({
    url: new URL('https://x'),
    headers: {},
    body: '',
    meta: { wire },
  });
  const anth = adapter.transformResponse(
    'chat',
    JSON.stringify({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'hello' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 3, output_tokens: 1 },
    }),
    'a',
    meta('anthropic'),
  );
  assert.ok(
    anth.ok &&
      (JSON.parse(anth.body) as { choices: { message: { content: string } }[] }).choices[0]?.message
        .content === 'hello',
  );
  const oai = adapter.transformResponse(
    'chat',
    JSON.stringify({
      id: 'c',
      object: 'chat.completion',
      model: 'meta/llama',
      choices: [],
      usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
    }),
    'alias',
    meta('openai'),
  );
  assert.ok(
    oai.ok && (JSON.parse(oai.body) as { model: string }).model === 'alias' && oai.usage.total_tokens === 3,
  );
  const gem = adapter.transformResponse(
    'chat',
    '{"candidates":[{"content":{"parts":[{"text":"g"}]},"finishReason":"STOP"}]}',
    'a',
    meta('gemini'),
  );
  assert.ok(gem.ok && gem.body.includes('"content":"g"'));
  const s = adapter.createStreamTranslator({
    endpoint: 'chat',
    alias: 'a',
    forwardUsageChunk: false,
    request: meta('anthropic'),
  });
  const out = s.push(
    Buffer.from(
      'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":2,"output_tokens":0}}}\n\n' +
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hey"}}\n\n',
    ),
  );
  assert.ok(out.includes('"content":"hey"'), out);
  const g = adapter.createStreamTranslator({
    endpoint: 'chat',
    alias: 'a',
    forwardUsageChunk: false,
    request: meta('gemini'),
  });
  assert.ok(
    g
      .push(Buffer.from('data: {"candidates":[{"content":{"parts":[{"text":"yo"}]}}]}\n\n'))
      .includes('"content":"yo"'),
  );
});

test('errors: Google envelope with gRPC status codes; Anthropic-shaped rawPredict errors recognised', () => {
  const g = adapter.parseError(
    429,
    '{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}',
  );
  assert.deepEqual(g, {
    message: 'Quota exceeded',
    kind: 'RESOURCE_EXHAUSTED',
    code: 'rate_limit_exceeded',
    status: 429,
  });
  const a = adapter.parseError(
    529,
    '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
  );
  assert.deepEqual(a, { message: 'Overloaded', kind: 'overloaded_error', code: 'overloaded' });
});

test('registry: adapter vertex → this adapter, with or without a vendor', () => {
  assert.equal(defaultRegistry.resolve({ adapter: 'vertex' })?.id, 'vertex');
  assert.equal(defaultRegistry.resolve({ adapter: 'vertex', provider: 'google' })?.id, 'vertex');
  assert.equal(defaultRegistry.resolve({ adapter: 'vertex', provider: 'gemini' })?.id, 'vertex');
});
