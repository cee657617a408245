/**
 * End to end through the real gateway: the official `openai` SDK against our proxy, with a mock
 * Bedrock runtime (a real loopback server) that re-verifies every SigV4 signature with the same
 * secret before answering (test/mock-bedrock.ts). Covers Converse, ConverseStream (binary event
 * stream, split mid-frame), Claude via invoke, tool-call round trip, embeddings, error mapping and
 * credential isolation.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, sha256, standardDocs, startTestGateway } from '../test/fixtures.js';
import { rejectSignature, textStream, verifySigV4, writeEventStream } from '../test/mock-bedrock.js';
import {
  json,
  type MockBehaviour,
  type MockUpstream,
  type SeenRequest,
  startMockUpstream,
} from '../test/mock-upstream.js';

const FIXTURES = new URL('../../../../providers/src/bedrock/fixtures/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

const CALLER = 'sk-bedrock-caller';
const AWS = {
  access_key_id: 'AKIAIOSFODNN7EXAMPLE',
  secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  session_token: 'IQoJb3JpZ2luX2VjEXAMPLETOKEN',
  region: 'us-west-2',
};
const SECRETS = { [AWS.access_key_id]: AWS.secret_access_key };

let up: MockUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startMockUpstream();
  const docs = standardDocs(up.url, {
    provider_keys: {
      br: {
        display_name: 'bedrock',
        api_key: JSON.stringify(AWS),
        adapter: 'bedrock',
        provider: 'bedrock',
        api_base: up.url,
      },
      // The documented way to add Converse extras (docs/providers/bedrock.md, Overrides).
      brx: {
        display_name: 'bedrock-extras',
        api_key: JSON.stringify(AWS),
        adapter: 'bedrock',
        provider: 'bedrock',
        api_base: up.url,
        request: {
          default_body_fields: {
            additionalModelRequestFields: { top_k: 40 },
            guardrailConfig: { guardrailIdentifier: 'gr-1', guardrailVersion: '3', trace: 'enabled' },
            performanceConfig: { latency: 'optimized' },
          },
        },
      },
    },
    models: {
      b1: {
        display_name: 'llama',
        provider: 'bedrock',
        model_name: 'meta.llama3-70b-instruct-v1:0',
        provider_key_id: 'br',
      },
      b2: {
        display_name: 'claude-br',
        provider: 'bedrock',
        model_name: 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
        provider_key_id: 'br',
      },
      b3: {
        display_name: 'titan',
        provider: 'bedrock',
        model_name: 'amazon.titan-embed-text-v2:0',
        provider_key_id: 'br',
      },
      bx1: {
        display_name: 'claude-extras',
        provider: 'bedrock',
        model_name: 'anthropic.claude-3-5-haiku-20241022-v1:0',
        provider_key_id: 'brx',
      },
      bx2: {
        display_name: 'titan-extras',
        provider: 'bedrock',
        model_name: 'amazon.titan-embed-text-v2:0',
        provider_key_id: 'brx',
      },
    },
    api_keys: { kb: { key_hash: sha256(CALLER), allowed_models: ['*'] } },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: CALLER, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

/** Every behaviour runs behind the signature check, like the real service. */
function signed(b: MockBehaviour): MockBehaviour {
  return (req, res) => {
    const v = verifySigV4(req, SECRETS);
    if (!v.ok) return rejectSignature(res, v.reason ?? '');
    assert.equal(v.region, AWS.region);
    assert.equal(v.service, 'bedrock');
    return b(req, res);
  };
}

function assertIsolated(seen: SeenRequest | undefined): void {
  assert.ok(seen);
  const all = JSON.stringify(seen.headers) + seen.body;
  assert.ok(!all.includes(CALLER), 'caller key leaked upstream');
  assert.ok(!all.includes(AWS.secret_access_key), 'AWS secret sent upstream');
  assert.ok(!all.includes('sk-upstream-secret'), 'another provider key leaked');
  assert.equal(seen.headers['x-amz-security-token'], AWS.session_token);
  assert.match(String(seen.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\//);
}

test('non-streaming Converse: signed, translated, usage and model alias', async () => {
  up.handle(signed((_req, res) => json(res, 200, fixture('converse-text.json'))));
  const r = await client.chat.completions.create({
    model: 'llama',
    messages: [
      { role: 'system', content: 'Be nice.' },
      { role: 'user', content: 'hi' },
    ],
    max_tokens: 64,
    temperature: 0.1,
  });
  assert.equal(r.model, 'llama');
  assert.equal(r.choices[0]?.message.content, 'Hello! How can I help you today?');
  assert.equal(r.choices[0]?.finish_reason, 'stop');
  assert.equal(r.usage?.prompt_tokens, 12);
  assert.equal(r.usage?.total_tokens, 25);
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/model/meta.llama3-70b-instruct-v1%3A0/converse');
  assert.deepEqual(seen?.json?.system, [{ text: 'Be nice.' }]);
  assert.deepEqual(seen?.json?.inferenceConfig, { maxTokens: 64, temperature: 0.1 });
  assertIsolated(seen);
});

test('Claude non-streaming goes through invoke with the Anthropic body', async () => {
  up.handle(signed((_req, res) => json(res, 200, fixture('anthropic-invoke.json'))));
  const r = await client.chat.completions.create({
    model: 'claude-br',
    messages: [{ role: 'user', content: 'salut' }],
  });
  assert.equal(r.choices[0]?.message.content, 'Bonjour!');
  assert.equal(r.model, 'claude-br');
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke');
  assert.equal(seen?.json?.anthropic_version, 'bedrock-2023-05-31');
  assertIsolated(seen);
});

test('streaming ConverseStream: binary frames split mid-frame become OpenAI chunks with usage', async () => {
  up.handle(
    signed((_req, res) => writeEventStream(res, textStream(['Hel', 'lo', ' there']), { split: true })),
  );
  const stream = await client.chat.completions.create({
    model: 'claude-br',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish: string | null | undefined;
  let usage: OpenAI.CompletionUsage | undefined;
  let first: OpenAI.ChatCompletionChunk | undefined;
  for await (const c of stream) {
    first ??= c;
    assert.equal(c.model, 'claude-br');
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  assert.equal(first?.choices[0]?.delta.role, 'assistant');
  assert.equal(text, 'Hello there');
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream');
  assert.equal(seen?.headers.accept, 'application/vnd.amazon.eventstream');
  assertIsolated(seen);
});

test('tool-call round trip: streamed toolUse → tool_calls; tool result goes back as toolResult', async () => {
  const events = JSON.parse(fixture('converse-stream-tools.json'));
  up.handle(signed((_req, res) => writeEventStream(res, events)));
  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } } },
      },
    },
  ];
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }];
  const stream = await client.chat.completions.create({ model: 'llama', messages, tools, stream: true });
  const call = { id: '', name: '', args: '' };
  let finish: string | null | undefined;
  for await (const c of stream) {
    for (const tc of c.choices[0]?.delta.tool_calls ?? []) {
      assert.equal(tc.index, 0);
      call.id ||= tc.id ?? '';
      call.name ||= tc.function?.name ?? '';
      call.args += tc.function?.arguments ?? '';
    }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.deepEqual(call, { id: 'tooluse_abc', name: 'get_weather', args: '{"city":"Paris"}' });
  assert.equal(finish, 'tool_calls');
  assert.equal((up.requests.at(-1)?.json?.toolConfig as { tools: unknown[] } | undefined)?.tools.length, 1);

  up.handle(signed((_req, res) => json(res, 200, fixture('converse-text.json'))));
  messages.push(
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.args } }],
    },
    { role: 'tool', tool_call_id: call.id, content: '18C and sunny' },
  );
  const r = await client.chat.completions.create({ model: 'llama', messages, tools });
  assert.equal(r.choices[0]?.finish_reason, 'stop');
  const sent = up.requests.at(-1)?.json?.messages as { role: string; content: unknown[] }[];
  assert.deepEqual(sent[1]?.content, [
    { toolUse: { toolUseId: 'tooluse_abc', name: 'get_weather', input: { city: 'Paris' } } },
  ]);
  assert.deepEqual(sent[2], {
    role: 'user',
    content: [{ toolResult: { toolUseId: 'tooluse_abc', content: [{ text: '18C and sunny' }] } }],
  });
});

test('tool_choice "none": Converse is not offered the tools (it has no "none"), unless the history needs toolConfig', async () => {
  // Converse lets the model call any declared tool when toolChoice is absent; the only way to
  // honour "none" is not to declare them. A history with toolUse/toolResult blocks requires
  // toolConfig, so there they stay declared (documented).
  up.handle(signed((_req, res) => json(res, 200, fixture('converse-text.json'))));
  const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_time' } }];
  await client.chat.completions.create({
    model: 'llama',
    messages: [{ role: 'user', content: 'just chat' }],
    tools,
    tool_choice: 'none',
  });
  assert.equal(up.requests.at(-1)?.json?.toolConfig, undefined);

  await client.chat.completions.create({
    model: 'llama',
    messages: [
      { role: 'user', content: 'time?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 't1', type: 'function', function: { name: 'get_time', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 't1', content: '12:00' },
    ],
    tools,
    tool_choice: 'none',
  });
  const cfg = up.requests.at(-1)?.json?.toolConfig as { tools: unknown[]; toolChoice?: unknown } | undefined;
  assert.equal(cfg?.tools.length, 1);
  assert.equal(cfg?.toolChoice, undefined);
});

test('streamed tool call without input: arguments are "{}" as in the JSON answer, never ""', async () => {
  // A tool taking no parameters: ConverseStream sends the toolUse start and an empty input
  // fragment (or none). OpenAI `arguments` is a JSON string that clients JSON.parse.
  up.handle(
    signed((_req, res) =>
      writeEventStream(res, [
        { event: 'messageStart', payload: { role: 'assistant' } },
        {
          event: 'contentBlockStart',
          payload: { contentBlockIndex: 0, start: { toolUse: { toolUseId: 'tooluse_t', name: 'get_time' } } },
        },
        { event: 'contentBlockDelta', payload: { contentBlockIndex: 0, delta: { toolUse: { input: '' } } } },
        { event: 'contentBlockStop', payload: { contentBlockIndex: 0 } },
        {
          event: 'contentBlockStart',
          payload: { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_u', name: 'get_user' } } },
        },
        { event: 'contentBlockStop', payload: { contentBlockIndex: 1 } },
        { event: 'messageStop', payload: { stopReason: 'tool_use' } },
        { event: 'metadata', payload: { usage: { inputTokens: 5, outputTokens: 3, totalTokens: 8 } } },
      ]),
    ),
  );
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_time' } },
    { type: 'function', function: { name: 'get_user' } },
  ];
  const stream = await client.chat.completions.create({
    model: 'llama',
    messages: [{ role: 'user', content: 'time and user?' }],
    tools,
    stream: true,
  });
  const calls: { id: string; name: string; args: string }[] = [];
  for await (const c of stream) {
    for (const tc of c.choices[0]?.delta.tool_calls ?? []) {
      calls[tc.index] ??= { id: '', name: '', args: '' };
      const call = calls[tc.index] as { id: string; name: string; args: string };
      call.id ||= tc.id ?? '';
      call.name ||= tc.function?.name ?? '';
      call.args += tc.function?.arguments ?? '';
    }
  }
  assert.deepEqual(calls, [
    { id: 'tooluse_t', name: 'get_time', args: '{}' },
    { id: 'tooluse_u', name: 'get_user', args: '{}' },
  ]);
});

test('Converse default_body_fields never break invoke: Claude JSON gets them in its own form, embeddings skip them', async () => {
  // InvokeModel takes the vendor's own body: Converse-only keys there are a ValidationException
  // ("extraneous key"). additionalModelRequestFields are exactly the model's native fields;
  // guardrail and latency settings are InvokeModel headers.
  up.handle(signed((_req, res) => json(res, 200, fixture('anthropic-invoke.json'))));
  await client.chat.completions.create({
    model: 'claude-extras',
    messages: [{ role: 'user', content: 'hi' }],
  });
  let seen = up.requests.at(-1);
  assert.equal(seen?.url, '/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke');
  assert.equal(seen?.json?.top_k, 40);
  for (const key of ['additionalModelRequestFields', 'guardrailConfig', 'performanceConfig'])
    assert.equal(seen?.json?.[key], undefined, key);
  assert.equal(seen?.headers['x-amzn-bedrock-guardrailidentifier'], 'gr-1');
  assert.equal(seen?.headers['x-amzn-bedrock-guardrailversion'], '3');
  assert.equal(seen?.headers['x-amzn-bedrock-trace'], 'ENABLED');
  assert.equal(seen?.headers['x-amzn-bedrock-performanceconfig-latency'], 'optimized');

  // The Converse stream keeps them as Converse fields.
  up.handle(signed((_req, res) => writeEventStream(res, textStream(['ok']))));
  const s = await client.chat.completions.create({
    model: 'claude-extras',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  for await (const _ of s) {
    // drain
  }
  seen = up.requests.at(-1);
  assert.equal(seen?.url, '/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream');
  assert.deepEqual(seen?.json?.additionalModelRequestFields, { top_k: 40 });
  assert.deepEqual(seen?.json?.guardrailConfig, {
    guardrailIdentifier: 'gr-1',
    guardrailVersion: '3',
    trace: 'enabled',
  });

  up.handle(signed((_req, res) => json(res, 200, fixture('titan-embed.json'))));
  await client.embeddings.create({ model: 'titan-extras', input: 'hello', encoding_format: 'float' });
  seen = up.requests.at(-1);
  assert.deepEqual(Object.keys(seen?.json ?? {}), ['inputText']);
});

test('embeddings: Titan via invoke, the SDK default (base64) decodes to the same floats', async () => {
  up.handle(signed((_req, res) => json(res, 200, fixture('titan-embed.json'))));
  const r = await client.embeddings.create({ model: 'titan', input: 'hello' });
  assert.deepEqual(r.data[0]?.embedding, [0.5, -0.25, 0.125]);
  assert.equal(r.usage.prompt_tokens, 6);
  const f = await client.embeddings.create({ model: 'titan', input: ['hello'], encoding_format: 'float' });
  assert.deepEqual(f.data[0]?.embedding, [0.5, -0.25, 0.125]);
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/model/amazon.titan-embed-text-v2%3A0/invoke');
  assert.deepEqual(seen?.json, { inputText: 'hello' });
  assertIsolated(seen);
});

function awsError(
  status: number,
  name: string,
  message: string,
  extra: Record<string, string> = {},
): MockBehaviour {
  return signed((_req, res) =>
    json(
      res,
      status,
      { message },
      { 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`, ...extra },
    ),
  );
}

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  throw new Error('expected an API error');
}

const ask = () =>
  client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'x' }] });

test('errors: exception names map to status and code; Retry-After passes; 5xx becomes 502', async () => {
  up.handle(awsError(403, 'AccessDeniedException', 'You do not have access to the model'));
  let e = await apiError(ask());
  assert.equal(e.status, 403);
  assert.equal(e.code, 'permission_denied');
  assert.equal(e.type, 'upstream_error');
  assert.equal(e.message.includes('You do not have access'), true);

  up.handle(awsError(404, 'ResourceNotFoundException', 'Model not found'));
  e = await apiError(ask());
  assert.equal(e.status, 404);
  assert.equal(e.code, 'model_not_found');

  up.handle(awsError(429, 'ThrottlingException', 'Too many requests', { 'retry-after': '7' }));
  e = await apiError(ask());
  assert.equal(e.status, 429);
  assert.equal(e.code, 'rate_limit_exceeded');
  assert.equal(e.headers?.get('retry-after'), '7');

  up.handle(awsError(500, 'InternalServerException', 'secret internal detail'));
  e = await apiError(ask());
  assert.equal(e.status, 502);
  assert.ok(!e.message.includes('secret internal detail'));
});

test('a bad signature is the upstream 403 (the mock really checks): wrong secret in the key', async () => {
  up.handle((req, res) => {
    const v = verifySigV4(req, { [AWS.access_key_id]: 'not-the-secret' });
    assert.equal(v.ok, false);
    assert.equal(v.reason, 'signature mismatch');
    rejectSignature(res, v.reason ?? '');
  });
  const e = await apiError(ask());
  assert.equal(e.status, 403);
});

test('streams: in-band exception and truncated body end with an error, never [DONE]', async () => {
  up.handle(
    signed((_req, res) =>
      writeEventStream(res, [
        { event: 'messageStart', payload: { role: 'assistant' } },
        { event: 'contentBlockDelta', payload: { contentBlockIndex: 0, delta: { text: 'partial' } } },
        { exception: 'modelStreamErrorException', message: 'The model stream failed' },
      ]),
    ),
  );
  const consume = async () => {
    let text = '';
    const s = await client.chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    for await (const c of s) text += c.choices[0]?.delta.content ?? '';
    return text;
  };
  await assert.rejects(
    consume(),
    (err: unknown) => err instanceof OpenAI.APIError && /model stream failed/.test(err.message),
  );

  up.handle(signed((_req, res) => writeEventStream(res, textStream(['a', 'b']), { cutLastBytes: 9 })));
  await assert.rejects(consume(), (err: unknown) => err instanceof OpenAI.APIError);
});
