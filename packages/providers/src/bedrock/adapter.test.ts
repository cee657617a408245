import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { AdapterHttpClient, PrepareInput, ProviderKeyView } from '../contract.js';
import { checkCapability } from '../contract.js';
import { baseModelId, publisherOf } from './config.js';
import { bedrockAdapter } from './index.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../src/bedrock/fixtures/${name}`, import.meta.url), 'utf8');

const CREDS = {
  access_key_id: 'AKIDEXAMPLE',
  secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  session_token: 'FwoGZXIvYXdzEXAMPLE',
  region: 'eu-west-1',
};

const PK: ProviderKeyView = { adapter: 'bedrock', api_key: JSON.stringify(CREDS) };
const noHttp: AdapterHttpClient = {
  request: () => Promise.reject(new Error('bedrock must not do I/O while signing')),
};

function input(over: Partial<PrepareInput> = {}): PrepareInput {
  return {
    endpoint: 'chat',
    stream: false,
    body: { model: 'alias', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5 },
    upstreamModel: 'meta.llama3-70b-instruct-v1:0',
    providerKey: PK,
    requestId: 'req-1',
    inboundHeaders: {},
    templateVars: { 'request.id': 'req-1' },
    userAgent: 'aisix/test',
    ...over,
  };
}

test('publisher detection ignores cross-region prefixes and ARNs', () => {
  assert.equal(publisherOf('anthropic.claude-3-5-sonnet-20240620-v1:0'), 'anthropic');
  assert.equal(publisherOf('us.anthropic.claude-3-5-haiku-20241022-v1:0'), 'anthropic');
  assert.equal(publisherOf('us-gov.anthropic.claude-3-haiku'), 'anthropic');
  assert.equal(publisherOf('global.anthropic.claude-sonnet-4'), 'anthropic');
  assert.equal(publisherOf('apac.meta.llama3'), 'meta');
  assert.equal(publisherOf('eu.mistral.mistral-large'), 'mistral');
  assert.equal(publisherOf('amazon.nova-pro-v1:0'), 'amazon');
  assert.equal(publisherOf('cohere.command-r-v1:0'), 'cohere');
  assert.equal(publisherOf('ai21.jamba-1-5-large-v1:0'), 'ai21');
  assert.equal(publisherOf('deepseek.r1-v1:0'), 'other');
  assert.equal(
    baseModelId('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku'),
    'anthropic.claude-3-haiku',
  );
});

test('prepare: routes Converse / ConverseStream / Anthropic invoke / embeddings invoke', () => {
  const conv = bedrockAdapter.prepare(input());
  assert.ok(conv.ok);
  assert.equal(
    conv.request.url.href,
    'https://bedrock-runtime.eu-west-1.amazonaws.com/model/meta.llama3-70b-instruct-v1%3A0/converse',
  );
  assert.deepEqual(conv.request.meta, { mode: 'converse' });
  assert.deepEqual(JSON.parse(conv.request.body).inferenceConfig, { temperature: 0.5 });

  const claude = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
  const inv = bedrockAdapter.prepare(input({ upstreamModel: claude }));
  assert.ok(inv.ok);
  assert.match(
    inv.request.url.pathname,
    /^\/model\/us\.anthropic\.claude-3-5-haiku-20241022-v1%3A0\/invoke$/,
  );
  const ib = JSON.parse(inv.request.body);
  assert.equal(ib.anthropic_version, 'bedrock-2023-05-31');
  assert.equal(ib.model, undefined);
  assert.equal(ib.stream, undefined);
  assert.equal(ib.max_tokens, 4096);
  assert.deepEqual(ib.messages, [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);

  const st = bedrockAdapter.prepare(input({ upstreamModel: claude, stream: true }));
  assert.ok(st.ok);
  assert.match(st.request.url.pathname, /\/converse-stream$/);
  assert.equal(st.request.headers.accept, 'application/vnd.amazon.eventstream');

  const emb = bedrockAdapter.prepare(
    input({
      endpoint: 'embeddings',
      upstreamModel: 'amazon.titan-embed-text-v2:0',
      body: { input: 'x', encoding_format: 'base64', dimensions: 256 },
    }),
  );
  assert.ok(emb.ok);
  assert.deepEqual(JSON.parse(emb.request.body), { inputText: 'x', dimensions: 256 });
  assert.deepEqual(emb.request.meta, { encoding: 'base64', mode: 'embeddings' });
  const notEmb = bedrockAdapter.prepare(input({ endpoint: 'embeddings', body: { input: 'x' } }));
  assert.ok(!notEmb.ok);
  assert.equal(notEmb.error.kind, 'invalid_config');
  assert.deepEqual(checkCapability(bedrockAdapter, 'completions', false), {
    kind: 'not_implemented',
    message: 'this provider does not support completions',
  });
});

test('prepare: overrides (renames and clamp on the caller body, default fields on the Bedrock body); api_base override', () => {
  const pk: ProviderKeyView = {
    ...PK,
    api_base: 'http://127.0.0.1:4566/',
    request: {
      param_constraints: { temperature_max: 0.2 },
      default_body_fields: { additionalModelRequestFields: { top_k: 5 }, messages: 'never replaces' },
      default_headers: { 'x-amz-date': 'evil', 'x-amz-target': 'evil2', 'x-tenant': '$' + '{request.id}' },
    },
  };
  const r = bedrockAdapter.prepare(input({ providerKey: pk }));
  assert.ok(r.ok);
  assert.equal(r.request.url.origin, 'http://127.0.0.1:4566');
  const body = JSON.parse(r.request.body);
  assert.equal(body.inferenceConfig.temperature, 0.2);
  assert.deepEqual(body.additionalModelRequestFields, { top_k: 5 });
  assert.ok(Array.isArray(body.messages));
  assert.equal(r.request.headers['x-amz-date'], undefined);
  // Every x-amz-* header is reserved (docs/providers/bedrock.md), not only the signature's.
  assert.equal(r.request.headers['x-amz-target'], undefined);
  assert.equal(r.request.headers['x-tenant'], 'req-1');
});

test('prepare: a remote image URL is the same 400 on Claude invoke (JSON) as on ConverseStream', () => {
  const claude = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
  const body = {
    model: 'alias',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'x' },
          { type: 'image_url', image_url: { url: 'https://ex.com/a.jpg' } },
        ],
      },
    ],
  };
  for (const stream of [false, true]) {
    const r = bedrockAdapter.prepare(input({ upstreamModel: claude, stream, body }));
    assert.equal(r.ok, false, `stream ${stream}`);
    assert.match(r.ok ? '' : r.error.message, /bedrock accepts images only as base64 data: URLs/);
  }
});

test('prepare: credential problems are 401 and never echo the secret', () => {
  const bad = [
    '',
    'AKID:secret',
    JSON.stringify({ access_key_id: 'A', region: 'us-east-1' }),
    JSON.stringify({ ...CREDS, region: 'mars' }),
    JSON.stringify({ ...CREDS, access_key_id: 'A\nB' }),
  ];
  for (const api_key of bad) {
    const r = bedrockAdapter.prepare(input({ providerKey: { api_key } }));
    assert.ok(!r.ok, api_key);
    assert.equal(r.error.kind, 'invalid_credentials');
    assert.ok(!r.error.message.includes(CREDS.secret_access_key));
  }
  const base = bedrockAdapter.prepare(input({ providerKey: { ...PK, api_base: 'https://x.example/path' } }));
  assert.ok(!base.ok);
  assert.equal(base.error.kind, 'invalid_config');
});

test('authorize: SigV4 headers for service bedrock with the credential region, no I/O', async () => {
  const p = bedrockAdapter.prepare(input());
  assert.ok(p.ok);
  const now = Date.UTC(2025, 0, 2, 3, 4, 5);
  const r = await bedrockAdapter.authorize?.(p.request, { providerKey: PK, http: noHttp, now });
  assert.ok(r?.ok);
  const h = r.request.headers;
  assert.equal(h['x-amz-date'], '20250102T030405Z');
  assert.equal(h['x-amz-security-token'], CREDS.session_token);
  assert.match(
    h.authorization ?? '',
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20250102\/eu-west-1\/bedrock\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
  );
  assert.ok(!JSON.stringify(r.request).includes(CREDS.secret_access_key));
  assert.equal(r.request.meta?.mode, 'converse');
});

test('transformResponse: Anthropic invoke body, embeddings (floats and base64)', () => {
  const inv = bedrockAdapter.prepare(input({ upstreamModel: 'anthropic.claude-3-haiku-20240307-v1:0' }));
  assert.ok(inv.ok);
  const a = bedrockAdapter.transformResponse('chat', fixture('anthropic-invoke.json'), 'claude', inv.request);
  assert.ok(a.ok);
  const ab = JSON.parse(a.body);
  assert.equal(ab.choices[0].message.content, 'Bonjour!');
  assert.equal(ab.model, 'claude');
  assert.equal(a.usage.prompt_tokens, 10);
  // Shape detection when no prepared request is passed.
  assert.ok(bedrockAdapter.transformResponse('chat', fixture('anthropic-invoke.json'), 'c').ok);
  assert.ok(bedrockAdapter.transformResponse('chat', fixture('converse-text.json'), 'c').ok);

  const floats = bedrockAdapter.transformResponse('embeddings', fixture('titan-embed.json'), 'emb');
  assert.ok(floats.ok);
  assert.deepEqual(JSON.parse(floats.body), {
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: [0.5, -0.25, 0.125] }],
    model: 'emb',
    usage: { prompt_tokens: 6, total_tokens: 6 },
  });
  const b64 = bedrockAdapter.transformResponse('embeddings', fixture('cohere-embed.json'), 'emb', {
    url: new URL('http://x'),
    headers: {},
    body: '',
    meta: { mode: 'embeddings', encoding: 'base64' },
  });
  assert.ok(b64.ok);
  const data = JSON.parse(b64.body).data as { embedding: string }[];
  assert.equal(data.length, 2);
  const buf = Buffer.from(data[1]?.embedding ?? '', 'base64');
  assert.deepEqual(
    Array.from(new Float32Array(buf.buffer, buf.byteOffset, 2)).map((x) => Math.round(x * 10) / 10),
    [0.3, 0.4],
  );
});
