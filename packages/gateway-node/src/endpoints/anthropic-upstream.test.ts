/**
 * End to end through the real gateway: the official `openai` SDK against our proxy, with a mock
 * Anthropic Messages upstream (a real loopback server replaying the recorded fixtures of
 * packages/providers/src/anthropic/fixtures). Checks what crosses both wires: the translated
 * request and the upstream credential on one side, OpenAI bodies, streams and error envelopes on
 * the other.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, sha256, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  json,
  type MockBehaviour,
  type MockUpstream,
  sleep,
  startMockUpstream,
} from '../test/mock-upstream.js';

const FIXTURES = new URL('../../../../providers/src/anthropic/fixtures/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

const CALLER = 'sk-claude-caller';
const UPSTREAM_SECRET = 'sk-ant-upstream-secret';

let up: MockUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startMockUpstream();
  const docs = standardDocs(up.url, {
    provider_keys: {
      ant: { display_name: 'anthropic', api_key: UPSTREAM_SECRET, provider: 'anthropic', api_base: up.url },
      relay: { display_name: 'relay', api_key: 'sk-relay', provider: 'relay', adapter: 'anthropic' },
    },
    models: {
      c1: {
        display_name: 'claude',
        provider: 'anthropic',
        model_name: 'claude-sonnet-4-20250514',
        provider_key_id: 'ant',
      },
      c2: {
        display_name: 'claude-relay',
        provider: 'relay',
        model_name: 'claude-x',
        provider_key_id: 'relay',
      },
      c3: {
        display_name: 'claude-cached',
        provider: 'anthropic',
        model_name: 'claude-sonnet-4-20250514',
        provider_key_id: 'ant',
        auto_prompt_caching: { enabled: true, ttl: '1h' },
      },
    },
    api_keys: {
      kc: { key_hash: sha256(CALLER), allowed_models: ['claude', 'claude-relay', 'claude-cached'] },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: CALLER, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const messageJson =
  (name: string): MockBehaviour =>
  (_req, res) =>
    json(res, 200, fixture(name));

/** Replays an SSE fixture event by event; `cutAfter` ends the body early (no message_stop). */
function sseFixture(name: string, opts: { cutAfter?: number; destroyAfter?: number } = {}): MockBehaviour {
  return async (_req, res: ServerResponse) => {
    const events = fixture(name)
      .split('\n\n')
      .filter((e) => e.trim() !== '');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    for (let i = 0; i < events.length; i++) {
      if (opts.cutAfter !== undefined && i >= opts.cutAfter) break;
      if (opts.destroyAfter !== undefined && i >= opts.destroyAfter) {
        res.socket?.destroy();
        return;
      }
      res.write(`${events[i]}\n\n`);
      await sleep(2);
    }
    res.end();
  };
}

function assertUpstreamCredentials(): void {
  const seen = up.requests.at(-1);
  assert.ok(seen);
  assert.equal(seen.url, '/v1/messages');
  assert.equal(seen.headers['x-api-key'], UPSTREAM_SECRET);
  assert.equal(seen.headers['anthropic-version'], '2023-06-01');
  assert.equal(seen.headers.authorization, undefined);
  const everything = JSON.stringify(seen.headers) + seen.body;
  assert.ok(!everything.includes(CALLER), 'nothing of the caller key reaches the upstream');
}

test('non-streaming chat: translated request, x-api-key only, OpenAI body with alias and cache-inclusive usage', async () => {
  up.handle(messageJson('message-text.json'));
  const r = await client.chat.completions.create({
    model: 'claude',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello' },
    ],
    temperature: 0.2,
    stop: 'END',
    user: 'someone',
  });
  assert.equal(r.model, 'claude');
  assert.equal(r.id, 'msg_01EcyWo6m4hyW8KHs2y2pei5');
  assert.equal(r.object, 'chat.completion');
  assert.ok(Math.abs(r.created - Date.now() / 1000) < 60, 'created is the gateway clock');
  assert.equal(r.choices[0]?.message.content, 'Hello! How can I help?');
  assert.equal(r.choices[0]?.finish_reason, 'stop');
  assert.deepEqual(r.usage, { prompt_tokens: 21, completion_tokens: 9, total_tokens: 3030 });
  assertUpstreamCredentials();
  const body = up.requests.at(-1)?.json;
  assert.deepEqual(body, {
    model: 'claude-sonnet-4-20250514',
    system: 'Be brief.',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
    max_tokens: 4096,
    stream: false,
    temperature: 0.2,
    stop_sequences: ['END'],
  });
});

test('streaming chat: role first, text deltas, finish, usage chunk when asked', async () => {
  up.handle(sseFixture('stream-text.sse'));
  const stream = await client.chat.completions.create({
    model: 'claude',
    messages: [{ role: 'user', content: 'hello' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let first: unknown;
  let finish: string | null | undefined;
  let usage: unknown;
  for await (const c of stream) {
    assert.equal(c.model, 'claude');
    first ??= c.choices[0]?.delta;
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  assert.deepEqual(first, { role: 'assistant' });
  assert.equal(text, 'Héllo wörld 👋');
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, { prompt_tokens: 25, completion_tokens: 15, total_tokens: 150 });
  assertUpstreamCredentials();
  assert.equal(up.requests.at(-1)?.json?.stream, true);
  assert.equal(up.requests.at(-1)?.json?.stream_options, undefined);
  assert.equal(up.requests.at(-1)?.headers.accept, 'text/event-stream');
});

test('streaming chat, usage not asked for: the finish chunk carries it (providers §2.4), no usage-only chunk; raw framing ends with [DONE]', async () => {
  up.handle(sseFixture('stream-text.sse'));
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude', messages: [{ role: 'user', content: 'x' }], stream: true }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  const body = await r.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  const chunks = body
    .split('\n\n')
    .filter((f) => f.startsWith('data: {'))
    .map((f) => JSON.parse(f.slice(6)) as { choices: { finish_reason?: string }[]; usage?: unknown });
  const withUsage = chunks.filter((c) => c.usage !== undefined);
  assert.equal(withUsage.length, 1);
  assert.equal(withUsage[0]?.choices[0]?.finish_reason, 'stop');
  assert.deepEqual(withUsage[0]?.usage, { prompt_tokens: 25, completion_tokens: 15, total_tokens: 150 });
  assert.ok(!body.includes('claude-sonnet-4-20250514'));
});

test('tool-call round trip: streamed tool_calls, then tool results go back as tool_result blocks', async () => {
  up.handle(sseFixture('stream-tool-use.sse'));
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { location: { type: 'string' } } },
      },
    },
  ];
  const stream = await client.chat.completions.create({
    model: 'claude',
    messages: [{ role: 'user', content: 'Weather in SF and Paris?' }],
    tools,
    tool_choice: 'auto',
    stream: true,
  });
  const calls: { id: string; name: string; args: string }[] = [];
  let finish: string | null | undefined;
  for await (const c of stream) {
    for (const tc of c.choices[0]?.delta.tool_calls ?? []) {
      const slot = calls[tc.index] ?? { id: '', name: '', args: '' };
      calls[tc.index] = slot;
      slot.id += tc.id ?? '';
      slot.name += tc.function?.name ?? '';
      slot.args += tc.function?.arguments ?? '';
    }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(calls, [
    { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', args: '{"location": "San Francisco, CA"}' },
    { id: 'toolu_02Abc', name: 'get_weather', args: '{"location": "Paris"}' },
  ]);
  assert.deepEqual(up.requests.at(-1)?.json?.tools, [
    {
      name: 'get_weather',
      input_schema: { type: 'object', properties: { location: { type: 'string' } } },
    },
  ]);
  assert.deepEqual(up.requests.at(-1)?.json?.tool_choice, { type: 'auto' });

  up.handle(messageJson('message-text.json'));
  await client.chat.completions.create({
    model: 'claude',
    messages: [
      { role: 'user', content: 'Weather in SF and Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: calls.map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.name, arguments: c.args },
        })),
      },
      { role: 'tool', tool_call_id: calls[0]?.id ?? '', content: '18C' },
      { role: 'tool', tool_call_id: calls[1]?.id ?? '', content: '21C' },
    ],
    tools,
  });
  assert.deepEqual(up.requests.at(-1)?.json?.messages, [
    { role: 'user', content: [{ type: 'text', text: 'Weather in SF and Paris?' }] },
    {
      role: 'assistant',
      content: [
        {
          type: 'tool_use',
          id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
          name: 'get_weather',
          input: { location: 'San Francisco, CA' },
        },
        { type: 'tool_use', id: 'toolu_02Abc', name: 'get_weather', input: { location: 'Paris' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', content: '18C' },
        { type: 'tool_result', tool_use_id: 'toolu_02Abc', content: '21C' },
      ],
    },
  ]);
});

test('image parts: a data: URL typed image/jpg (OpenAI accepts it) reaches Anthropic as image/jpeg', async () => {
  // Anthropic takes only image/jpeg, image/png, image/gif and image/webp as a base64 media_type.
  up.handle(messageJson('message-text.json'));
  await client.chat.completions.create({
    model: 'claude',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is it?' },
          { type: 'image_url', image_url: { url: 'data:image/jpg;base64,/9j/4AAQ' } },
          { type: 'image_url', image_url: { url: 'data:IMAGE/PNG;base64,iVBORw0KGgo=' } },
        ],
      },
    ],
  });
  const sent = up.requests.at(-1)?.json?.messages as { content: unknown[] }[];
  assert.deepEqual(sent[0]?.content.slice(1), [
    { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
  ]);
});

test('non-streaming tool_use response: content null and tool_calls', async () => {
  up.handle(messageJson('message-tool-use.json'));
  const r = await client.chat.completions.create({
    model: 'claude',
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(r.choices[0]?.message.content, null);
  assert.equal(r.choices[0]?.finish_reason, 'tool_calls');
  const call = r.choices[0]?.message.tool_calls?.[0];
  assert.equal(
    call?.type === 'function' && call.function.arguments,
    '{"location":"San Francisco, CA","unit":"celsius"}',
  );
});

test('streamed tool_use without input (a no-argument tool): the SDK helpers see arguments "{}", as in the JSON answer', async () => {
  // Anthropic streams a tool call that takes no input as content_block_start (input {}) followed
  // by one input_json_delta with an empty partial_json. OpenAI's `arguments` is always a JSON
  // string ("{}" for no arguments), and the non-streaming translation renders "{}" too
  // (providers.md §2.3), so the streamed calls must accumulate to valid JSON.
  const events = [
    {
      type: 'message_start',
      message: {
        id: 'msg_noargs',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-20250514',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 20, output_tokens: 1 },
      },
    },
    {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: 'toolu_time', name: 'get_time', input: {} },
    },
    { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '' } },
    { type: 'content_block_stop', index: 0 },
    {
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: 'toolu_weather', name: 'get_weather', input: {} },
    },
    {
      type: 'content_block_delta',
      index: 1,
      delta: { type: 'input_json_delta', partial_json: '{"location":' },
    },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: ' "Paris"}' } },
    { type: 'content_block_stop', index: 1 },
    {
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 30 },
    },
    { type: 'message_stop' },
  ];
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    res.end();
  });
  const final = await client.chat.completions
    .stream({ model: 'claude', messages: [{ role: 'user', content: 'What time is it, and the weather?' }] })
    .finalChatCompletion();
  const calls = (final.choices[0]?.message.tool_calls ?? []).map((c) =>
    c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : [],
  );
  assert.deepEqual(calls, [
    ['toolu_time', 'get_time', '{}'],
    ['toolu_weather', 'get_weather', '{"location": "Paris"}'],
  ]);
  assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
});

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  assert.fail('expected an API error');
}

const errorBody = (type: string, message: string) => ({ type: 'error', error: { type, message } });
const chat = () =>
  client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] });

test('upstream 401: passed through as upstream_error with code invalid_api_key, no secret echoed', async () => {
  up.handle((_req, res) => json(res, 401, errorBody('authentication_error', 'invalid x-api-key')));
  const e = await apiError(chat());
  assert.equal(e.status, 401);
  assert.equal(e.type, 'upstream_error');
  assert.equal(e.code, 'invalid_api_key');
  assert.equal(e.message.includes('invalid x-api-key'), true);
  assert.ok(!JSON.stringify(e.error).includes(UPSTREAM_SECRET));
});

test('upstream 429 with Retry-After: status, header and rate_limit_exceeded code', async () => {
  up.handle((_req, res) =>
    json(res, 429, errorBody('rate_limit_error', 'slow down'), { 'retry-after': '7' }),
  );
  const e = await apiError(chat());
  assert.equal(e.status, 429);
  assert.equal(e.headers?.get('retry-after'), '7');
  assert.equal(e.code, 'rate_limit_exceeded');
  assert.equal(e.type, 'upstream_error');
});

test('upstream 500 and 529: 502 upstream_error, upstream body never echoed', async () => {
  for (const [status, type] of [
    [500, 'api_error'],
    [529, 'overloaded_error'],
  ] as const) {
    up.handle((_req, res) => json(res, status, errorBody(type, 'secret internal detail')));
    const e = await apiError(chat());
    assert.equal(e.status, 502);
    assert.equal(e.type, 'upstream_error');
    assert.ok(!e.message.includes('secret internal detail'));
  }
});

test('malformed 200 body: 502 upstream_decode_error', async () => {
  up.handle((_req, res) => json(res, 200, '{"id":"msg_1","content":'));
  const e = await apiError(chat());
  assert.equal(e.status, 502);
  assert.equal(e.type, 'upstream_decode_error');
});

async function drain(model = 'claude'): Promise<{ text: string; error: unknown }> {
  let text = '';
  try {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  } catch (e) {
    return { text, error: e };
  }
  return { text, error: undefined };
}

test('truncated stream (EOF before message_stop) ends with an error frame, not [DONE]', async () => {
  up.handle(sseFixture('stream-text.sse', { cutAfter: 4 }));
  const { text, error } = await drain();
  assert.equal(text, 'Héllo');
  assert.ok(error instanceof OpenAI.APIError);
  assert.equal((error.error as { type?: string } | undefined)?.type, 'upstream_decode_error');
});

test('dropped upstream connection mid-stream ends with a transport error frame', async () => {
  up.handle(sseFixture('stream-text.sse', { destroyAfter: 5 }));
  const { text, error } = await drain();
  assert.equal(text, 'Héllo wörld 👋');
  assert.ok(error instanceof OpenAI.APIError);
  assert.equal((error.error as { type?: string } | undefined)?.type, 'transport_error');
});

test('in-band overloaded error mid-stream: delivered text kept, then an upstream_error frame', async () => {
  up.handle(sseFixture('stream-overloaded.sse'));
  const { text, error } = await drain();
  assert.equal(text, 'Partial');
  assert.ok(error instanceof OpenAI.APIError);
  assert.equal((error.error as { type?: string } | undefined)?.type, 'upstream_error');
  assert.match(error.message, /Overloaded/);
});

test('embeddings are refused with 501; a third-party vendor without api_base is a 400 before any I/O', async () => {
  const before = up.requests.length;
  const e = await apiError(client.embeddings.create({ model: 'claude', input: 'x' }));
  assert.equal(e.status, 501);
  assert.equal(e.type, 'not_implemented');
  const c = await apiError(
    client.chat.completions.create({ model: 'claude-relay', messages: [{ role: 'user', content: 'x' }] }),
  );
  assert.equal(c.status, 400);
  assert.equal(c.type, 'invalid_request_error');
  assert.match(c.message, /vendor "relay" has no upstream base URL/);
  assert.equal(up.requests.length, before);
});

test('a 501 tells the SDKs not to retry (x-should-retry: false): one request, not three', async () => {
  let sent = 0;
  const retrying = new OpenAI({
    apiKey: CALLER,
    baseURL: `${g.base}/v1`,
    maxRetries: 2,
    fetch: (url, init) => {
      sent++;
      return fetch(url, init);
    },
  });
  const e = await apiError(retrying.embeddings.create({ model: 'claude', input: 'x' }));
  assert.equal(e.status, 501);
  assert.equal(e.headers?.get('x-should-retry'), 'false');
  assert.equal(sent, 1);
});

test('model auto_prompt_caching: breakpoints on the last system block and the last message block', async () => {
  up.handle(messageJson('message-text.json'));
  await client.chat.completions.create({
    model: 'claude-cached',
    messages: [
      { role: 'system', content: 'Long stable instructions.' },
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'q2' },
    ],
  });
  const body = up.requests.at(-1)?.json;
  const marker = { type: 'ephemeral', ttl: '1h' };
  assert.deepEqual(body?.system, [
    { type: 'text', text: 'Long stable instructions.', cache_control: marker },
  ]);
  assert.deepEqual((body?.messages as unknown[] | undefined)?.at(-1), {
    role: 'user',
    content: [{ type: 'text', text: 'q2', cache_control: marker }],
  });
  up.handle(messageJson('message-text.json'));
  await chat();
  assert.equal(JSON.stringify(up.requests.at(-1)?.json).includes('cache_control'), false, 'off by default');
});
