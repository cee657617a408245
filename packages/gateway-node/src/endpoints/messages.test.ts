/**
 * `/v1/messages` bridged to an OpenAI-family upstream, driven by the official Anthropic SDK
 * through real listeners: request translation, response and stream rendering, tool_use round
 * trips, usage, and the client-disconnect abort.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ALL_KEY, type DialectRig, startDialectRig } from '../test/dialect-fixtures.js';
import { chatJson, chatSse, chunk, json, type MockBehaviour, sleep, USAGE } from '../test/mock-upstream.js';

let rig: DialectRig;
let client: Anthropic;

before(async () => {
  rig = await startDialectRig();
  client = new Anthropic({ apiKey: ALL_KEY, baseURL: rig.g.base, maxRetries: 0 });
});

after(() => rig.close());

test('non-streaming: Anthropic body translated to chat, answer rendered as a message', async () => {
  rig.up.handle(chatJson('Hi there'));
  const msg = await client.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 100,
    system: 'be brief',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
    stop_sequences: ['END'],
    metadata: { user_id: 'u-1' },
    service_tier: 'auto',
    thinking: { type: 'enabled', budget_tokens: 2048 },
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.model, 'gpt-4o-mini');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Hi there' }]);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.input_tokens, USAGE.prompt_tokens);
  assert.equal(msg.usage.output_tokens, USAGE.completion_tokens);
  const seen = rig.up.requests.at(-1);
  assert.equal(seen?.url, '/v1/chat/completions');
  assert.equal(seen?.headers.authorization, 'Bearer sk-upstream-secret');
  assert.deepEqual(seen?.json?.messages, [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hello' },
  ]);
  assert.equal(seen?.json?.model, 'gpt-4o-mini');
  assert.equal(seen?.json?.max_tokens, 100);
  assert.equal(seen?.json?.reasoning_effort, 'medium');
  assert.deepEqual(seen?.json?.stop, ['END']);
  assert.equal(seen?.json?.user, 'u-1');
  assert.equal(seen?.json?.service_tier, undefined, 'Anthropic-only fields are dropped');
  assert.equal(seen?.json?.thinking, undefined);
  assert.equal(seen?.json?.metadata, undefined);
});

test('images become image_url data URLs; Bearer auth works as well as x-api-key', async () => {
  rig.up.handle(chatJson('a cat'));
  const bearer = new Anthropic({ apiKey: null, authToken: ALL_KEY, baseURL: rig.g.base, maxRetries: 0 });
  await bearer.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 10,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        ],
      },
    ],
  });
  const seen = rig.up.requests.at(-1);
  assert.deepEqual(seen?.json?.messages, [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      ],
    },
  ]);
});

const weatherTool = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};

test('tool_use round trip: tools out, tool_use back, tool_result second turn', async () => {
  rig.up.handle((req, res) =>
    json(res, 200, {
      id: 'chatcmpl-t',
      object: 'chat.completion',
      created: 1700000000,
      model: String(req.json?.model),
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: USAGE,
    }),
  );
  const first = await client.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 50,
    tools: [weatherTool],
    tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [{ role: 'user', content: 'weather in Paris?' }],
  });
  assert.equal(first.stop_reason, 'tool_use');
  assert.deepEqual(first.content, [
    { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
  ]);
  const out = rig.up.requests.at(-1)?.json;
  assert.deepEqual(out?.tools, [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: weatherTool.input_schema,
      },
    },
  ]);
  assert.deepEqual(out?.tool_choice, { type: 'function', function: { name: 'get_weather' } });

  rig.up.handle(chatJson('Sunny, 21°C'));
  const second = await client.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 50,
    tools: [weatherTool],
    messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: first.content },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny, 21C' },
          { type: 'text', text: 'and tomorrow?' },
        ],
      },
    ],
  });
  assert.deepEqual(second.content, [{ type: 'text', text: 'Sunny, 21°C' }]);
  assert.deepEqual(rig.up.requests.at(-1)?.json?.messages, [
    { role: 'user', content: 'weather in Paris?' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21C' },
    { role: 'user', content: 'and tomorrow?' },
  ]);
});

test('streaming: chat chunks become Anthropic events, usage in the closing message_delta', async () => {
  rig.up.handle(chatSse({ words: ['Hel', 'lo', '!'] }));
  const stream = client.messages.stream({
    model: 'gpt-4o-mini',
    max_tokens: 20,
    messages: [{ role: 'user', content: 'hi' }],
  });
  const types: string[] = [];
  stream.on('streamEvent', (e) => types.push(e.type));
  const msg = await stream.finalMessage();
  assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : '', 'Hello!');
  assert.equal(msg.model, 'gpt-4o-mini');
  assert.match(msg.id, /^msg_[0-9a-f]{32}$/);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.output_tokens, USAGE.completion_tokens);
  assert.equal(msg.usage.input_tokens, USAGE.prompt_tokens);
  assert.deepEqual(types, [
    'message_start',
    'content_block_start',
    'content_block_delta',
    'content_block_delta',
    'content_block_delta',
    'content_block_stop',
    'message_delta',
    'message_stop',
  ]);
  assert.deepEqual(rig.up.requests.at(-1)?.json?.stream_options, { include_usage: true });
});

test('streaming tool calls: tool_use block with input_json_delta fragments', async () => {
  rig.up.handle((req, res) => {
    const model = String(req.json?.model);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const call = (args: string, head = false) => ({
      tool_calls: [
        head
          ? { index: 0, id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: args } }
          : { index: 0, function: { arguments: args } },
      ],
    });
    res.write(chunk(model, { role: 'assistant', content: null }));
    res.write(chunk(model, call('', true)));
    res.write(chunk(model, call('{"city":')));
    res.write(chunk(model, call('"Oslo"}')));
    res.write(chunk(model, {}, 'tool_calls'));
    res.write(
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [], usage: USAGE })}\n\n`,
    );
    res.end('data: [DONE]\n\n');
  });
  const stream = client.messages.stream({
    model: 'gpt-4o-mini',
    max_tokens: 20,
    tools: [weatherTool],
    messages: [{ role: 'user', content: 'weather in Oslo?' }],
  });
  const msg = await stream.finalMessage();
  assert.equal(msg.stop_reason, 'tool_use');
  assert.deepEqual(msg.content, [
    { type: 'tool_use', id: 'call_9', name: 'get_weather', input: { city: 'Oslo' } },
  ]);
  assert.equal(msg.usage.output_tokens, USAGE.completion_tokens);
});

test('client disconnect mid-stream aborts the upstream request', async () => {
  rig.up.handle(chatSse({ words: ['a', 'b', 'c', 'd', 'e', 'f'], gapMs: 150 }));
  const ac = new AbortController();
  const closed = rig.up.nextSocketClose();
  const res = await fetch(`${rig.g.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      max_tokens: 5,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    }),
    signal: ac.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body?.getReader();
  await reader?.read();
  ac.abort();
  const gone = await Promise.race([closed.then(() => true), sleep(3000).then(() => false)]);
  assert.equal(gone, true, 'upstream socket closed after the client left');
  // The gateway stays healthy.
  rig.up.handle(chatJson('still here'));
  const msg = await client.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 5,
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : '', 'still here');
});

test('routing group: native target fails with 5xx, fail-over to a bridged target in the same call', async () => {
  rig.anth.handle((_req, res) =>
    json(res, 503, { type: 'error', error: { type: 'overloaded_error', message: 'busy' } }),
  );
  rig.up.handle(chatJson('from the fallback'));
  const anthBefore = rig.anth.requests.length;
  const { data, response } = await client.messages
    .create({ model: 'mixed', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
    .withResponse();
  assert.equal(rig.anth.requests.length, anthBefore + 1, 'the native target was tried first');
  assert.equal(data.model, 'mixed');
  assert.equal(data.content[0]?.type === 'text' ? data.content[0].text : '', 'from the fallback');
  assert.equal(response.headers.get('x-aisix-served-by'), 'gpt-4o-mini');
  assert.equal(rig.up.requests.at(-1)?.url, '/v1/chat/completions');
});

/**
 * An OpenAI chat upstream that refuses what OpenAI refuses: a `tool_choice` or
 * `parallel_tool_calls` without `tools` ("only allowed when 'tools' are specified").
 */
const strictToolsUpstream = (content: string): MockBehaviour => {
  const ok = chatJson(content);
  return (req, res) => {
    const b = req.json ?? {};
    if ((b.tool_choice !== undefined || b.parallel_tool_calls !== undefined) && b.tools === undefined) {
      return json(res, 400, {
        error: {
          message:
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
          type: 'invalid_request_error',
          param: 'tool_choice',
          code: null,
        },
      });
    }
    return ok(req, res);
  };
};

test('server tools only: they are dropped and so is the tool_choice that picked among them', async () => {
  rig.up.handle(strictToolsUpstream('searched nothing'));
  const msg = await client.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 50,
    tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    messages: [{ role: 'user', content: 'news?' }],
  });
  assert.deepEqual(msg.content, [{ type: 'text', text: 'searched nothing' }]);
  const out = rig.up.requests.at(-1)?.json;
  assert.equal(out?.tools, undefined, 'server tools have no chat equivalent');
  assert.equal(out?.tool_choice, undefined);
  assert.equal(out?.parallel_tool_calls, undefined);
});

test('tool_choice.disable_parallel_tool_use reaches the chat upstream as parallel_tool_calls: false', async () => {
  rig.up.handle(strictToolsUpstream('ok'));
  for (const type of ['auto', 'any'] as const) {
    await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 50,
      tools: [weatherTool],
      tool_choice: { type, disable_parallel_tool_use: true },
      messages: [{ role: 'user', content: 'weather in Paris and Oslo?' }],
    });
    const out = rig.up.requests.at(-1)?.json;
    assert.equal(out?.tool_choice, type === 'auto' ? 'auto' : 'required');
    assert.equal(out?.parallel_tool_calls, false);
  }
  // Not asked: the upstream's default (parallel calls allowed) stays untouched.
  await client.messages.create({
    model: 'gpt-4o-mini',
    max_tokens: 50,
    tools: [weatherTool],
    tool_choice: { type: 'auto', disable_parallel_tool_use: false },
    messages: [{ role: 'user', content: 'weather?' }],
  });
  assert.equal(rig.up.requests.at(-1)?.json?.parallel_tool_calls, undefined);
});
