/**
 * End to end through the real gateway: the official `openai` SDK against our proxy, with Google
 * upstreams as real loopback servers — a Generative Language API mock (provider `gemini`), a
 * Vertex AI mock (`adapter: vertex`, Gemini publisher) and a Google OAuth token endpoint that
 * verifies the service account's RS256 assertion with a locally generated key pair. Every mock
 * records what it received, so the tests also prove credential isolation: each upstream sees only
 * its own credential and never the caller's key.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, beforeEach, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { buildSnapshot, type Started, sha256, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  geminiFixture,
  geminiJson,
  geminiSse,
  googleError,
  googleTokenEndpoint,
  type TokenEndpointState,
} from '../test/mock-google.js';
import { json, type MockBehaviour, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

const CALLER = 'sk-gemini-caller';
const GOOGLE_KEY = 'AIza-upstream-secret';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof keys.privateKey) => k.export({ type: 'pkcs8', format: 'pem' }).toString();

let googleUp: MockUpstream;
let vertexUp: MockUpstream;
let tokenUp: MockUpstream;
let g: Started;
let client: OpenAI;
const tokens: TokenEndpointState = { minted: 0, rejected: 0 };

function vertexKey(privateKey: string): string {
  return JSON.stringify({
    project: 'proj-1',
    region: 'us-central1',
    service_account_json: {
      type: 'service_account',
      client_email: 'gw@proj-1.iam.gserviceaccount.com',
      private_key_id: 'k1',
      private_key: privateKey,
      token_uri: `${tokenUp.url}/token`,
    },
  });
}

before(async () => {
  googleUp = await startMockUpstream(geminiJson('text.json'));
  vertexUp = await startMockUpstream(geminiJson('text.json'));
  tokenUp = await startMockUpstream();
  tokenUp.handle(googleTokenEndpoint(keys.publicKey, () => `${tokenUp.url}/token`, tokens));
  const docs = standardDocs(googleUp.url, {
    provider_keys: {
      gai: { display_name: 'google-ai', provider: 'gemini', api_key: GOOGLE_KEY, api_base: googleUp.url },
      vtx: {
        display_name: 'vertex',
        adapter: 'vertex',
        api_key: vertexKey(pem(keys.privateKey)),
        api_base: vertexUp.url,
      },
      vtxbad: {
        display_name: 'vertex-untrusted',
        adapter: 'vertex',
        api_key: vertexKey(pem(stranger.privateKey)),
        api_base: vertexUp.url,
      },
    },
    models: {
      gm: {
        display_name: 'gemini-flash',
        provider: 'gemini',
        model_name: 'gemini-2.0-flash',
        provider_key_id: 'gai',
      },
      // A stream budget defers the 200 until the first event, so an in-band error can still be a status.
      gs: {
        display_name: 'gemini-budget',
        provider: 'gemini',
        model_name: 'gemini-2.0-flash',
        provider_key_id: 'gai',
        stream_timeout: 30000,
      },
      gt: {
        display_name: 'gemini-think',
        provider: 'gemini',
        model_name: 'gemini-2.5-flash',
        provider_key_id: 'gai',
      },
      ge: {
        display_name: 'gemini-emb',
        provider: 'gemini',
        model_name: 'text-embedding-004',
        provider_key_id: 'gai',
      },
      vm: {
        display_name: 'vertex-flash',
        provider: 'vertex',
        model_name: 'gemini-2.0-flash',
        provider_key_id: 'vtx',
      },
      vb: {
        display_name: 'vertex-untrusted',
        provider: 'vertex',
        model_name: 'gemini-2.0-flash',
        provider_key_id: 'vtxbad',
      },
    },
    api_keys: { kg: { key_hash: sha256(CALLER), allowed_models: ['*'] } },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: CALLER, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await Promise.all([googleUp.close(), vertexUp.close(), tokenUp.close()]);
});

beforeEach(() => {
  googleUp.handle(geminiJson('text.json'));
  vertexUp.handle(geminiJson('text.json'));
});

test('google-ai non-streaming: native URL, x-goog-api-key, translated body, OpenAI response with usage', async () => {
  const r = await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Capital of France?' },
    ],
    temperature: 0.2,
    max_tokens: 50,
  });
  assert.equal(r.model, 'gemini-flash');
  assert.equal(r.choices[0]?.message.content, 'The capital of France is Paris.');
  assert.equal(r.choices[0]?.finish_reason, 'stop');
  assert.deepEqual(r.usage, { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
  const seen = googleUp.requests.at(-1);
  assert.equal(seen?.url, '/v1beta/models/gemini-2.0-flash:generateContent');
  assert.equal(seen?.headers['x-goog-api-key'], GOOGLE_KEY);
  assert.equal(seen?.headers.authorization, undefined);
  assert.deepEqual(seen?.json, {
    contents: [{ role: 'user', parts: [{ text: 'Capital of France?' }] }],
    systemInstruction: { parts: [{ text: 'Be brief.' }] },
    generationConfig: { temperature: 0.2, maxOutputTokens: 50 },
  });
});

test('google-ai streaming: role first, deltas (multi-byte intact), finish, usage when asked, [DONE]', async () => {
  googleUp.handle(geminiSse('text.sse'));
  const stream = await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let first: unknown;
  let finish: string | null | undefined;
  let usage: unknown;
  for await (const c of stream) {
    assert.equal(c.model, 'gemini-flash');
    first ??= c.choices[0]?.delta;
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  assert.deepEqual(first, { role: 'assistant', content: '' });
  assert.equal(text, 'Bonjour le monde, ça va ? 👋!');
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, { prompt_tokens: 5, completion_tokens: 11, total_tokens: 16 });
  assert.equal(
    googleUp.requests.at(-1)?.url,
    '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse',
  );
  const raw = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gemini-flash', messages: [{ role: 'user', content: 'x' }], stream: true }),
  });
  const body = await raw.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  assert.ok(!body.includes('"usage"'), 'no usage chunk unless asked');
});

test('tool-call round trip: functionCall → tool_calls, then tool results go back as functionResponse', async () => {
  googleUp.handle(geminiJson('tool-call.json'));
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
    {
      type: 'function',
      function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
    },
  ];
  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Weather and time in Paris?' },
  ];
  const r1 = await client.chat.completions.create({
    model: 'gemini-flash',
    messages,
    tools,
    tool_choice: 'auto',
  });
  const msg = r1.choices[0]?.message;
  assert.equal(r1.choices[0]?.finish_reason, 'tool_calls');
  const calls = (msg?.tool_calls ?? []).filter((c) => c.type === 'function');
  assert.deepEqual(
    calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
    [
      ['get_weather', { city: 'Paris', unit: 'celsius' }],
      ['get_time', { tz: 'Europe/Paris' }],
    ],
  );
  assert.deepEqual(googleUp.requests.at(-1)?.json?.toolConfig, { functionCallingConfig: { mode: 'AUTO' } });
  googleUp.handle(geminiJson('text.json'));
  const r2 = await client.chat.completions.create({
    model: 'gemini-flash',
    tools,
    messages: [
      ...messages,
      { role: 'assistant', content: null, tool_calls: msg?.tool_calls ?? [] },
      { role: 'tool', tool_call_id: calls[0]?.id ?? '', content: '{"temp":21}' },
      { role: 'tool', tool_call_id: calls[1]?.id ?? '', content: '14:05' },
    ],
  });
  assert.equal(r2.choices[0]?.message.content, 'The capital of France is Paris.');
  const contents = googleUp.requests.at(-1)?.json?.contents;
  assert.deepEqual(contents, [
    { role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
    {
      role: 'model',
      parts: [
        { functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } } },
        { functionCall: { name: 'get_time', args: { tz: 'Europe/Paris' } } },
      ],
    },
    {
      role: 'user',
      parts: [
        { functionResponse: { name: 'get_weather', response: { temp: 21 } } },
        { functionResponse: { name: 'get_time', response: { content: '14:05' } } },
      ],
    },
  ]);
});

/**
 * A Gemini 3 double: a `functionCall` it issued must come back with the thought signature it
 * issued (Google's thought-signature docs: otherwise 400 INVALID_ARGUMENT), then it answers text.
 */
function gemini3(first: MockBehaviour, issued: Map<string, string>): MockBehaviour {
  return (req, res) => {
    const contents = (req.json?.contents ?? []) as { role?: string; parts: GeminiPartSeen[] }[];
    const calls = contents
      .filter((c) => c.role === 'model')
      .flatMap((c) => c.parts.filter((p) => p.functionCall));
    if (calls.length === 0) return first(req, res);
    const first_ = calls[0];
    if (first_?.thoughtSignature !== issued.get(first_?.functionCall?.name ?? '')) {
      return googleError(
        400,
        'INVALID_ARGUMENT',
        'Function call is missing a thought_signature in functionCall parts.',
      )(req, res);
    }
    return geminiJson('text.json')(req, res);
  };
}
interface GeminiPartSeen {
  functionCall?: { name: string };
  thoughtSignature?: string;
}

test('Gemini 3 thought signatures survive a tool-call round trip through the SDK, JSON and streamed', async () => {
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
  ];
  const ask: OpenAI.Chat.Completions.ChatCompletionMessageParam = {
    role: 'user',
    content: 'Weather and time?',
  };

  // JSON: the assistant message goes back exactly as the SDK returned it.
  googleUp.handle(
    gemini3(
      geminiJson('tool-call-signed.json'),
      new Map([['get_weather', 'CiQBVKhc7tdyTmFtZS1zaWduYXR1cmUtQQ==']]),
    ),
  );
  const r1 = await client.chat.completions.create({ model: 'gemini-flash', messages: [ask], tools });
  const msg = r1.choices[0]?.message;
  assert.ok(msg?.tool_calls?.length === 2);
  const results = msg.tool_calls.map(
    (c): OpenAI.Chat.Completions.ChatCompletionMessageParam => ({
      role: 'tool',
      tool_call_id: c.id,
      content: 'ok',
    }),
  );
  const r2 = await client.chat.completions.create({
    model: 'gemini-flash',
    tools,
    messages: [ask, msg, ...results],
  });
  assert.equal(r2.choices[0]?.message.content, 'The capital of France is Paris.');
  const sent = (googleUp.requests.at(-1)?.json?.contents ?? []) as { role: string; parts: unknown[] }[];
  const modelTurn = sent[1];
  assert.deepEqual(modelTurn?.parts, [
    {
      functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } },
      thoughtSignature: 'CiQBVKhc7tdyTmFtZS1zaWduYXR1cmUtQQ==',
    },
    { functionCall: { name: 'get_time', args: { tz: 'Europe/Paris' } } },
  ]);
  // Without the signature the upstream refuses, and the caller sees Google's reason.
  const stripped = structuredClone(msg);
  for (const c of stripped.tool_calls ?? []) delete (c as { extra_content?: unknown }).extra_content;
  await assert.rejects(
    client.chat.completions.create({ model: 'gemini-flash', tools, messages: [ask, stripped, ...results] }),
    (e: unknown) => e instanceof OpenAI.BadRequestError && /thought_signature/.test(e.message),
  );

  // Streamed: the SDK's accumulated message carries the signature back too.
  googleUp.handle(
    gemini3(
      geminiSse('tool-call-signed.sse'),
      new Map([['get_weather', 'CiQBVKhc7tdyU3RyZWFtLXNpZ25hdHVyZQ==']]),
    ),
  );
  const s = client.chat.completions.stream({ model: 'gemini-flash', messages: [ask], tools });
  const streamed = await s.finalMessage();
  assert.equal(streamed.tool_calls?.length, 1);
  const r3 = await client.chat.completions.create({
    model: 'gemini-flash',
    tools,
    messages: [
      ask,
      streamed,
      { role: 'tool', tool_call_id: streamed.tool_calls?.[0]?.id ?? '', content: 'ok' },
    ],
  });
  assert.equal(r3.choices[0]?.message.content, 'The capital of France is Paris.');
});

test('thinking controls reach Gemini: reasoning_effort (OpenAI SDK), thinking (Anthropic SDK), extra_body.google', async () => {
  await client.chat.completions.create({
    model: 'gemini-think',
    messages: [{ role: 'user', content: 'x' }],
    reasoning_effort: 'low',
  });
  assert.deepEqual(googleUp.requests.at(-1)?.json?.generationConfig, {
    thinkingConfig: { thinkingBudget: 1024 },
  });
  // Google's OpenAI-compatible wire for the native knobs: a top-level `extra_body.google`.
  await client.chat.completions.create({
    model: 'gemini-think',
    messages: [{ role: 'user', content: 'x' }],
    // @ts-expect-error Google's extension field, unknown to the OpenAI types
    extra_body: { google: { thinking_config: { thinking_budget: 300, include_thoughts: true } } },
  });
  assert.deepEqual(googleUp.requests.at(-1)?.json?.generationConfig, {
    thinkingConfig: { thinkingBudget: 300, includeThoughts: true },
  });
  const anthropic = new Anthropic({ apiKey: CALLER, baseURL: g.base, maxRetries: 0 });
  const m = await anthropic.messages.create({
    model: 'gemini-think',
    max_tokens: 5000,
    thinking: { type: 'enabled', budget_tokens: 4096 },
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(m.content[0]?.type, 'text');
  assert.deepEqual(googleUp.requests.at(-1)?.json?.generationConfig, {
    maxOutputTokens: 5000,
    thinkingConfig: { thinkingBudget: 24576 },
  });
  // A model without thinking gets no thinking config (Gemini 2.0 would refuse one).
  await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'user', content: 'x' }],
    reasoning_effort: 'high',
  });
  assert.equal(googleUp.requests.at(-1)?.json?.generationConfig, undefined);
});

test('images reach Gemini (base64 inline, URL as fileData); JSON mode and stop map', async () => {
  await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.webp' } },
          // OpenAI accepts image/jpg; Gemini's image MIME types are image/jpeg, png, webp, heic, heif.
          { type: 'image_url', image_url: { url: 'data:image/jpg;base64,/9j/4AAQ' } },
        ],
      },
    ],
    response_format: { type: 'json_object' },
    stop: ['END'],
  });
  const body = googleUp.requests.at(-1)?.json as {
    contents: { parts: unknown[] }[];
    generationConfig: unknown;
  };
  assert.deepEqual(body.contents[0]?.parts, [
    { text: 'what is this?' },
    { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
    { fileData: { fileUri: 'https://example.com/a.webp', mimeType: 'image/webp' } },
    { inlineData: { mimeType: 'image/jpeg', data: '/9j/4AAQ' } },
  ]);
  assert.deepEqual(body.generationConfig, { stopSequences: ['END'], responseMimeType: 'application/json' });
});

test('blank text parts and empty stop sequences never reach Gemini (it refuses a part without data)', async () => {
  // Gemini answers 400 to `{text: ""}` ("required oneof field 'data'"); OpenAI callers send
  // empty text next to an image, or an empty user turn after a tool result.
  await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: '' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
      { role: 'assistant', content: 'A cat.' },
      { role: 'user', content: '' },
      { role: 'user', content: 'Its colour?' },
    ],
    stop: ['', 'END'],
  });
  const body = googleUp.requests.at(-1)?.json as {
    contents: { role: string; parts: Record<string, unknown>[] }[];
    generationConfig: { stopSequences?: string[] };
  };
  assert.deepEqual(body.contents, [
    { role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } }] },
    { role: 'model', parts: [{ text: 'A cat.' }] },
    { role: 'user', parts: [{ text: 'Its colour?' }] },
  ]);
  assert.deepEqual(body.generationConfig.stopSequences, ['END']);
});

test('a data: URL with broken percent-encoding is a 400 invalid_request_error, never a 500', async () => {
  const calls = googleUp.requests.length;
  for (const part of [
    { type: 'image_url', image_url: { url: 'data:image/svg+xml,%3Csvg%E0%A4%A' } },
    { type: 'file', file: { file_data: 'data:text/plain,100%' } },
  ] as OpenAI.Chat.Completions.ChatCompletionContentPart[]) {
    const err = await client.chat.completions
      .create({ model: 'gemini-flash', messages: [{ role: 'user', content: [part] }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof OpenAI.APIError, 'expected an API error');
    assert.equal(err.status, 400);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /data: URL/);
  }
  assert.equal(googleUp.requests.length, calls, 'nothing sent upstream');
});

test('schemas keep properties named like dropped keywords (strict, additionalProperties) and literal values', async () => {
  // A caller's property may be called `strict`; only JSON-Schema *keywords* Gemini refuses are
  // dropped, never names under `properties` nor values under `default` / `enum`.
  const parameters = {
    type: 'object',
    properties: {
      strict: { type: 'boolean', description: 'strict mode' },
      additionalProperties: { type: 'string' },
      options: {
        type: 'object',
        properties: { $schema: { type: 'string' } },
        default: { strict: true },
        additionalProperties: false,
      },
    },
    required: ['strict', 'additionalProperties'],
    additionalProperties: false,
  };
  await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'user', content: 'lint this' }],
    tools: [{ type: 'function', function: { name: 'lint', parameters, strict: true } }],
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'out', strict: true, schema: { ...parameters, $schema: 'x' } },
    },
  });
  const body = googleUp.requests.at(-1)?.json as {
    tools: { functionDeclarations: { parameters: unknown }[] }[];
    generationConfig: { responseSchema: unknown };
  };
  const expected = {
    type: 'object',
    properties: {
      strict: { type: 'boolean', description: 'strict mode' },
      additionalProperties: { type: 'string' },
      options: { type: 'object', properties: { $schema: { type: 'string' } }, default: { strict: true } },
    },
    required: ['strict', 'additionalProperties'],
  };
  assert.deepEqual(body.tools[0]?.functionDeclarations[0]?.parameters, expected);
  assert.deepEqual(body.generationConfig.responseSchema, expected);
});
test('embeddings through the SDK (base64 by default) decode to the upstream floats', async () => {
  googleUp.handle((_req, res) =>
    json(res, 200, { embeddings: [{ values: [0.25, -0.5, 1] }, { values: [2, 0, -1] }] }),
  );
  const r = await client.embeddings.create({ model: 'gemini-emb', input: ['a', 'b'] });
  assert.deepEqual(
    r.data.map((d) => d.embedding),
    [
      [0.25, -0.5, 1],
      [2, 0, -1],
    ],
  );
  assert.equal(r.model, 'gemini-emb');
  assert.equal(googleUp.requests.at(-1)?.url, '/v1beta/models/text-embedding-004:batchEmbedContents');
  const f = await client.embeddings.create({ model: 'gemini-emb', input: 'a', encoding_format: 'float' });
  assert.equal(googleUp.requests.at(-1)?.url, '/v1beta/models/text-embedding-004:embedContent');
  assert.deepEqual(f.data[0]?.embedding, [0.25, -0.5, 1]);
});

test('vertex (gemini publisher): minted service-account token, cached across requests; stream and not', async () => {
  const before = tokens.minted;
  const r = await client.chat.completions.create({
    model: 'vertex-flash',
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(r.choices[0]?.message.content, 'The capital of France is Paris.');
  const seen = vertexUp.requests.at(-1);
  assert.equal(
    seen?.url,
    '/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent',
  );
  assert.match(seen?.headers.authorization ?? '', /^Bearer ya29\.minted-\d+$/);
  assert.equal(tokens.minted, before + 1);
  vertexUp.handle(geminiSse('tool-call.sse'));
  const stream = await client.chat.completions.create({
    model: 'vertex-flash',
    messages: [{ role: 'user', content: 'weather?' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const calls: unknown[] = [];
  let usage: unknown;
  let finish: string | null | undefined;
  for await (const c of stream) {
    calls.push(...(c.choices[0]?.delta.tool_calls ?? []));
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  assert.equal(calls.length, 1);
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(usage, { prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 });
  assert.match(vertexUp.requests.at(-1)?.url ?? '', /:streamGenerateContent\?alt=sse$/);
  assert.equal(vertexUp.requests.at(-1)?.headers.authorization, seen?.headers.authorization);
  assert.equal(tokens.minted, before + 1, 'the token is reused, not minted per request');
});

test('vertex: a service account the token endpoint refuses → 401 authentication_error, upstream never called', async () => {
  const n = vertexUp.requests.length;
  const rejected = tokens.rejected;
  const err = await client.chat.completions
    .create({ model: 'vertex-untrusted', messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError);
  assert.equal(err.status, 401);
  assert.equal((err.error as { type?: string }).type, 'authentication_error');
  assert.match(err.message, /invalid upstream credentials/);
  assert.ok(!err.message.includes('PRIVATE KEY'));
  assert.equal(vertexUp.requests.length, n);
  assert.equal(tokens.rejected, rejected + 1);
  // Token endpoint down: a transport-class failure (502), still no upstream call.
  tokenUp.handle((_req, res) => json(res, 503, { error: 'backend_error' }));
  try {
    const down = await client.chat.completions
      .create({ model: 'vertex-untrusted', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    assert.ok(down instanceof OpenAI.APIError);
    assert.equal(down.status, 502);
    assert.equal(vertexUp.requests.length, n);
  } finally {
    tokenUp.handle(googleTokenEndpoint(keys.publicKey, () => `${tokenUp.url}/token`, tokens));
  }
});

async function upstreamError(model: string): Promise<InstanceType<typeof OpenAI.APIError>> {
  const err = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'x' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError);
  return err;
}

test('upstream errors: 401/404/429 pass through with derived codes and Retry-After, 500 → 502', async () => {
  for (const [model, up] of [
    ['gemini-flash', googleUp],
    ['vertex-flash', vertexUp],
  ] as const) {
    up.handle(googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
    let e = await upstreamError(model);
    assert.equal(e.status, 401);
    assert.deepEqual(e.error, {
      message: 'Request had invalid authentication credentials.',
      type: 'upstream_error',
      code: 'invalid_api_key',
    });
    up.handle(googleError(404, 'NOT_FOUND', 'models/gemini-2.0-flash is not found'));
    e = await upstreamError(model);
    assert.equal(e.status, 404);
    assert.equal((e.error as { code?: string }).code, 'model_not_found');
    up.handle(googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', { 'retry-after': '7' }));
    e = await upstreamError(model);
    assert.equal(e.status, 429);
    assert.equal((e.error as { code?: string }).code, 'rate_limit_exceeded');
    assert.equal(e.headers?.get('retry-after'), '7');
    up.handle(googleError(500, 'INTERNAL', 'internal secret detail'));
    e = await upstreamError(model);
    assert.equal(e.status, 502);
    assert.ok(!JSON.stringify(e.error).includes('secret detail'));
  }
});

test('streams: in-band error before output → its status; dropped or cut stream → error frame, no [DONE]', async () => {
  googleUp.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`data: ${JSON.stringify(JSON.parse(geminiFixture('errors.json'))['429'])}\n\n`);
  });
  const e = await client.chat.completions
    .create({ model: 'gemini-budget', messages: [{ role: 'user', content: 'x' }], stream: true })
    .catch((x: unknown) => x);
  assert.ok(e instanceof OpenAI.APIError);
  assert.equal(e.status, 429);
  assert.equal((e.error as { code?: string }).code, 'rate_limit_exceeded');
  // Committed stream (no budget): the same error arrives as the error frame.
  const s = await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'user', content: 'x' }],
    stream: true,
  });
  const mid = await (async () => {
    for await (const _ of s) {
      // drain
    }
  })().catch((x: unknown) => x);
  assert.ok(mid instanceof OpenAI.APIError);
  assert.match(mid.message, /Resource has been exhausted/);
  for (const behaviour of [
    geminiSse('text.sse', { destroyAfter: 2 }),
    geminiSse('text.sse', { cutAfter: 2 }),
  ]) {
    googleUp.handle(behaviour);
    const r = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gemini-flash',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      }),
    });
    const body = await r.text();
    assert.equal(r.status, 200);
    assert.ok(body.includes('Bonjour'));
    assert.match(body, /event: error\ndata: \{"error":/);
    assert.ok(!body.includes('[DONE]'));
  }
});

test('a candidate that is not an object is an undecodable upstream answer (502), not a gateway crash', async () => {
  googleUp.handle((_req, res) => json(res, 200, { candidates: [null] }));
  const e = await upstreamError('gemini-flash');
  assert.equal(e.status, 502);
  assert.equal(e.type, 'upstream_decode_error');
  googleUp.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}\n\ndata: {"candidates":[7]}\n\n');
  });
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gemini-flash', messages: [{ role: 'user', content: 'x' }], stream: true }),
  });
  const body = await r.text();
  assert.equal(r.status, 200);
  assert.ok(body.includes('"Hi"'));
  assert.match(body, /event: error\ndata: \{"error":\{[^\n]*"type":"upstream_decode_error"/);
  assert.ok(!body.includes('[DONE]'));
  // The gateway is still healthy.
  googleUp.handle(geminiJson('text.json'));
  const ok = await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(ok.choices[0]?.finish_reason, 'stop');
});

test('credential isolation: each upstream saw only its own credential, never the caller key', () => {
  const text = (r: MockUpstream['requests'][number]) => JSON.stringify(r.headers) + r.body;
  assert.ok(googleUp.requests.length > 0 && vertexUp.requests.length > 0 && tokenUp.requests.length > 0);
  for (const r of googleUp.requests) {
    assert.ok(!text(r).includes(CALLER));
    assert.equal(r.headers.authorization, undefined);
    assert.equal(r.headers['x-goog-api-key'], GOOGLE_KEY);
  }
  for (const r of vertexUp.requests) {
    assert.ok(!text(r).includes(CALLER) && !text(r).includes(GOOGLE_KEY));
    assert.equal(r.headers['x-goog-api-key'], undefined);
    assert.match(r.headers.authorization ?? '', /^Bearer ya29\.minted-\d+$/);
    assert.ok(!text(r).includes('PRIVATE KEY'));
  }
  for (const r of tokenUp.requests) {
    assert.ok(!text(r).includes(CALLER) && !text(r).includes(GOOGLE_KEY));
    assert.ok(!text(r).includes('PRIVATE KEY'), 'only the signed assertion leaves, never the key');
    assert.equal(r.headers.authorization, undefined);
  }
});
