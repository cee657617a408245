/**
 * `/v1/responses` driven by the official OpenAI SDK (`client.responses.create`) through real
 * listeners: verbatim passthrough to an OpenAI upstream (JSON and SSE), and the bridge to a
 * non-OpenAI OpenAI-compatible provider (DeepSeek) and to an Anthropic upstream, with usage.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { ALL_KEY, type DialectRig, startDialectRig } from '../test/dialect-fixtures.js';
import { ANTHROPIC_USAGE, anthropicJson, anthropicSse } from '../test/mock-anthropic.js';
import {
  RESPONSES_USAGE,
  responseObject,
  responsesEvents,
  responsesJson,
  responsesSse,
} from '../test/mock-responses.js';
import { chatJson, chatSse, json, USAGE } from '../test/mock-upstream.js';

let rig: DialectRig;
let client: OpenAI;

before(async () => {
  rig = await startDialectRig();
  client = new OpenAI({ apiKey: ALL_KEY, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });
});

after(() => rig.close());

test('verbatim (OpenAI model): body forwarded with model rewritten, response model = alias', async () => {
  rig.up.handle(responsesJson('Hi from Responses'));
  const params = {
    model: 'mock/fast',
    instructions: 'be brief',
    input: 'hello',
    store: false,
    reasoning: { effort: 'low' as const },
    text: { format: { type: 'text' as const } },
  };
  const r = await client.responses.create(params);
  assert.equal(r.model, 'mock/fast');
  assert.equal(r.id, 'resp_up_1');
  assert.equal(r.output_text, 'Hi from Responses');
  assert.deepEqual(r.usage, RESPONSES_USAGE);
  const seen = rig.up.requests.at(-1);
  assert.equal(seen?.url, '/v1/responses');
  assert.equal(seen?.headers.authorization, 'Bearer sk-upstream-secret');
  assert.deepEqual(seen?.json, { ...params, model: 'up-fast' });
});

test('verbatim: only the top-level model is rewritten, even after a metadata map with its own', async () => {
  rig.up.handle((req, res) => {
    const { model, metadata: _, ...rest } = responseObject(req, 'ok');
    json(res, 200, { metadata: { model: 'experiment-a' }, ...rest, model });
  });
  const r = await client.responses.create({
    model: 'mock/fast',
    input: 'x',
    metadata: { model: 'experiment-a' },
  });
  assert.equal(r.model, 'mock/fast');
  assert.deepEqual(r.metadata, { model: 'experiment-a' });
  assert.equal(r.output_text, 'ok');
});

test('verbatim stream: events relayed, model rewritten in the response objects', async () => {
  rig.up.handle(responsesSse(['Hel', 'lo', '!']));
  const stream = await client.responses.create({ model: 'mock/fast', input: 'hello', stream: true });
  const types: string[] = [];
  let text = '';
  let completed: OpenAI.Responses.Response | undefined;
  for await (const e of stream) {
    types.push(e.type);
    if (e.type === 'response.output_text.delta') text += e.delta;
    if (e.type === 'response.created') assert.equal(e.response.model, 'mock/fast');
    if (e.type === 'response.completed') completed = e.response;
  }
  assert.equal(text, 'Hello!');
  assert.equal(completed?.model, 'mock/fast');
  assert.deepEqual(completed?.usage, RESPONSES_USAGE);
  const seen = rig.up.requests.at(-1);
  assert.ok(seen);
  assert.deepEqual(
    types,
    responsesEvents(seen, ['Hel', 'lo', '!']).map((e) => e.slice(7, e.indexOf('\n'))),
  );
  assert.equal(seen.json?.stream, true);
});

test('bridged (DeepSeek): request → chat, chat answer → Responses object with usage', async () => {
  rig.up.handle(chatJson('Hi from DeepSeek'));
  const r = await client.responses.create({
    model: 'ds',
    instructions: 'be brief',
    input: [
      { role: 'developer', content: 'use metric units' },
      { role: 'user', content: [{ type: 'input_text', text: 'weather?' }] },
    ],
    max_output_tokens: 64,
    temperature: 0.3,
    store: true,
    previous_response_id: 'resp_old',
  });
  assert.equal(r.object, 'response');
  assert.equal(r.model, 'ds');
  assert.equal(r.status, 'completed');
  assert.match(r.id, /^resp_[0-9a-f]{32}$/);
  assert.equal(r.output_text, 'Hi from DeepSeek');
  assert.deepEqual(r.usage, {
    input_tokens: USAGE.prompt_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: USAGE.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: USAGE.total_tokens,
  });
  const seen = rig.up.requests.at(-1);
  assert.equal(seen?.url, '/v1/chat/completions');
  assert.equal(seen?.headers.authorization, 'Bearer sk-deepseek');
  assert.deepEqual(seen?.json, {
    model: 'deepseek-chat',
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'system', content: 'use metric units' },
      { role: 'user', content: 'weather?' },
    ],
    max_tokens: 64,
    temperature: 0.3,
    stream: false,
  });
});

test('bridged tool round trip: function tools, function_call output, function_call_output turn', async () => {
  rig.up.handle((req, res) =>
    json(res, 200, {
      id: 'chatcmpl-t',
      object: 'chat.completion',
      model: String(req.json?.model),
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_7', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: USAGE,
    }),
  );
  const tools = [
    {
      type: 'function' as const,
      name: 'lookup',
      description: 'Look up',
      parameters: { type: 'object', properties: { q: { type: 'string' } } },
      strict: false,
    },
    { type: 'web_search_preview' as const },
  ];
  const first = await client.responses.create({
    model: 'ds',
    input: 'find x',
    tools,
    tool_choice: 'required',
  });
  const call = first.output[0];
  assert.equal(call?.type, 'function_call');
  assert.equal(call?.type === 'function_call' ? call.call_id : '', 'call_7');
  assert.equal(call?.type === 'function_call' ? call.arguments : '', '{"q":"x"}');
  const out = rig.up.requests.at(-1)?.json;
  assert.deepEqual(out?.tools, [
    {
      type: 'function',
      function: { name: 'lookup', description: 'Look up', parameters: tools[0]?.parameters, strict: false },
    },
  ]);
  assert.equal(out?.tool_choice, 'required');
  // The answer reports the function tools and tool choice that went upstream, not `[]`/`auto`.
  assert.deepEqual(first.tools, [tools[0]]);
  assert.equal(first.tool_choice, 'required');

  rig.up.handle(chatJson('x is 42'));
  const second = await client.responses.create({
    model: 'ds',
    tools,
    input: [
      { role: 'user', content: 'find x' },
      { type: 'function_call', call_id: 'call_7', name: 'lookup', arguments: '{"q":"x"}' },
      { type: 'function_call_output', call_id: 'call_7', output: '42' },
    ],
  });
  assert.equal(second.output_text, 'x is 42');
  assert.deepEqual(rig.up.requests.at(-1)?.json?.messages, [
    { role: 'user', content: 'find x' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_7', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }],
    },
    { role: 'tool', tool_call_id: 'call_7', content: '42' },
  ]);
});

test('bridged stream (DeepSeek): Responses event sequence, usage in response.completed', async () => {
  rig.up.handle(chatSse({ words: ['Hel', 'lo'] }));
  const tool = { type: 'function' as const, name: 'lookup', parameters: { type: 'object' }, strict: true };
  const stream = await client.responses.create({
    model: 'ds',
    input: 'hi',
    stream: true,
    tools: [tool],
    tool_choice: { type: 'function', name: 'lookup' },
  });
  const types: string[] = [];
  const seqs: number[] = [];
  let text = '';
  let completed: OpenAI.Responses.Response | undefined;
  for await (const e of stream) {
    types.push(e.type);
    seqs.push(e.sequence_number);
    if (e.type === 'response.output_text.delta') text += e.delta;
    if (e.type === 'response.completed') completed = e.response;
  }
  assert.equal(text, 'Hello');
  assert.deepEqual(types, [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    'response.output_text.delta',
    'response.output_text.delta',
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  assert.deepEqual(
    seqs,
    types.map((_, i) => i),
  );
  assert.equal(completed?.model, 'ds');
  assert.deepEqual(completed?.tools, [tool]);
  assert.deepEqual(completed?.tool_choice, { type: 'function', name: 'lookup' });
  assert.equal(completed?.output.length, 1);
  assert.equal(completed?.usage?.input_tokens, USAGE.prompt_tokens);
  assert.equal(completed?.usage?.output_tokens, USAGE.completion_tokens);
  assert.equal(completed?.usage?.total_tokens, USAGE.total_tokens);
});

test('bridged to Anthropic: Messages upstream, Responses object back, usage mapped', async () => {
  rig.anth.handle(anthropicJson('Hi from Claude'));
  const r = await client.responses.create({ model: 'claude', instructions: 'be brief', input: 'hello' });
  assert.equal(r.model, 'claude');
  assert.equal(r.output_text, 'Hi from Claude');
  assert.equal(r.usage?.output_tokens, ANTHROPIC_USAGE.output_tokens);
  assert.equal(r.usage?.input_tokens_details.cached_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
  const seen = rig.anth.requests.at(-1);
  assert.equal(seen?.url, '/v1/messages');
  assert.equal(seen?.headers['x-api-key'], 'sk-anthropic-secret');
  assert.equal(seen?.json?.model, 'claude-sonnet');
  assert.equal(seen?.json?.system, 'be brief');
});

test('bridged stream to Anthropic: text deltas and a completed response with usage', async () => {
  rig.anth.handle(anthropicSse({ words: ['Bon', 'jour'] }));
  const stream = await client.responses.create({ model: 'claude', input: 'hello', stream: true });
  let text = '';
  let completed: OpenAI.Responses.Response | undefined;
  for await (const e of stream) {
    if (e.type === 'response.output_text.delta') text += e.delta;
    if (e.type === 'response.completed') completed = e.response;
  }
  assert.equal(text, 'Bonjour');
  assert.equal(completed?.status, 'completed');
  assert.equal(completed?.usage?.output_tokens, ANTHROPIC_USAGE.output_tokens);
  assert.ok((completed?.usage?.input_tokens ?? 0) >= ANTHROPIC_USAGE.input_tokens);
});
