import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { toConverseRequest } from './converse-request.js';
import { transformConverseText } from './converse-response.js';
import { ConverseStreamTranslator } from './converse-stream.js';
import { parseBedrockError } from './errors.js';
import { encodeBedrockEvent, encodeBedrockException } from './event-stream.js';

// dist/src/bedrock → packages/providers/src/bedrock/fixtures
const fixture = (name: string) =>
  readFileSync(new URL(`../../../src/bedrock/fixtures/${name}`, import.meta.url), 'utf8');

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

test('request: system, multi-turn merge, images, tools, tool calls and results, limits', () => {
  const r = toConverseRequest({
    model: 'alias',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Use metric.' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this and the weather?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '12:00' }] },
      { role: 'user', content: 'thanks' },
    ],
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
      { type: 'function', function: { name: 'get_time' } },
    ],
    tool_choice: 'required',
    max_completion_tokens: 256,
    max_tokens: 99,
    temperature: 0.3,
    top_p: 0.9,
    stop: ['END'],
    stream_options: { include_usage: true },
    n: 1,
    user: 'u1',
  });
  assert.ok(r.ok);
  assert.deepEqual(r.body, {
    system: [{ text: 'Be brief.' }, { text: 'Use metric.' }],
    messages: [
      {
        role: 'user',
        content: [
          { text: 'What is this and the weather?' },
          { image: { format: 'png', source: { bytes: PNG } } },
        ],
      },
      {
        role: 'assistant',
        content: [
          { toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } } },
          { toolUse: { toolUseId: 'call_2', name: 'get_time', input: {} } },
        ],
      },
      {
        role: 'user',
        content: [
          { toolResult: { toolUseId: 'call_1', content: [{ text: '18C' }] } },
          { toolResult: { toolUseId: 'call_2', content: [{ text: '12:00' }] } },
          { text: 'thanks' },
        ],
      },
    ],
    inferenceConfig: { maxTokens: 256, temperature: 0.3, topP: 0.9, stopSequences: ['END'] },
    toolConfig: {
      tools: [
        {
          toolSpec: {
            name: 'get_weather',
            description: 'Weather',
            inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } },
          },
        },
        { toolSpec: { name: 'get_time', inputSchema: { json: { type: 'object', properties: {} } } } },
      ],
      toolChoice: { any: {} },
    },
  });
});

test('request: tool_choice forms, stop string, max_tokens fallback', () => {
  const base = {
    messages: [{ role: 'user', content: 'x' }],
    tools: [{ type: 'function', function: { name: 'f' } }],
  };
  const choice = (tool_choice: unknown) => {
    const r = toConverseRequest({ ...base, tool_choice });
    assert.ok(r.ok);
    return r.body.toolConfig?.toolChoice;
  };
  assert.deepEqual(choice('auto'), { auto: {} });
  assert.deepEqual(choice({ type: 'function', function: { name: 'f' } }), { tool: { name: 'f' } });
  assert.equal(choice('none'), undefined);
  const r = toConverseRequest({ messages: [{ role: 'user', content: 'x' }], stop: 'STOP', max_tokens: 7 });
  assert.ok(r.ok);
  assert.deepEqual(r.body.inferenceConfig, { maxTokens: 7, stopSequences: ['STOP'] });
  assert.equal(r.body.toolConfig, undefined);
  assert.equal(r.body.system, undefined);
});

test('request: refusals a caller can fix (remote image, bad tool arguments, tool without id)', () => {
  const remote = toConverseRequest({
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }],
  });
  assert.ok(!remote.ok);
  assert.match(remote.message, /data: URLs/);
  const args = toConverseRequest({
    messages: [
      {
        role: 'assistant',
        tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }],
      },
    ],
  });
  assert.ok(!args.ok);
  assert.match(args.message, /not JSON/);
  const tool = toConverseRequest({ messages: [{ role: 'tool', content: 'x' }] });
  assert.ok(!tool.ok);
});

test('response: text joined, usage with cache read, finish stop', () => {
  const r = transformConverseText(fixture('converse-text.json'), 'my-alias', 1700000000);
  assert.ok(r.ok);
  const body = JSON.parse(r.body);
  assert.match(body.id, /^chatcmpl-[0-9a-f]{32}$/);
  assert.equal(body.object, 'chat.completion');
  assert.equal(body.created, 1700000000);
  assert.equal(body.model, 'my-alias');
  assert.deepEqual(body.choices, [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello! How can I help you today?' },
      finish_reason: 'stop',
    },
  ]);
  assert.deepEqual(body.usage, {
    prompt_tokens: 12,
    completion_tokens: 9,
    total_tokens: 25,
    prompt_tokens_details: { cached_tokens: 4 },
  });
  assert.equal(r.usage.cache_read_tokens, 4);
  assert.equal(r.usage.total_tokens, 25);
});

test('response: tool calls, reasoning and finish tool_calls', () => {
  const r = transformConverseText(fixture('converse-tool-use.json'), 'a', 1);
  assert.ok(r.ok);
  const msg = JSON.parse(r.body).choices[0];
  assert.equal(msg.finish_reason, 'tool_calls');
  assert.equal(msg.message.content, 'Let me check.');
  assert.equal(msg.message.reasoning_content, 'Need the weather tool.');
  assert.deepEqual(msg.message.tool_calls, [
    {
      id: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
    },
    { id: 'tooluse_second', type: 'function', function: { name: 'get_time', arguments: '{}' } },
  ]);
  assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [120, 40, 160]);
});

test('response: finish reasons length / content_filter; missing counters are 0; garbage is a decode error', () => {
  const len = transformConverseText(fixture('converse-max-tokens.json'), 'a', 1);
  assert.ok(len.ok);
  assert.equal(JSON.parse(len.body).choices[0].finish_reason, 'length');
  assert.equal(len.usage.total_tokens, 8);
  const cf = transformConverseText(fixture('converse-guardrail.json'), 'a', 1);
  assert.ok(cf.ok);
  assert.equal(JSON.parse(cf.body).choices[0].finish_reason, 'content_filter');
  const none = transformConverseText('{"output":{"message":{"content":[]}}}', 'a', 1);
  assert.ok(none.ok);
  assert.equal(JSON.parse(none.body).choices[0].message.content, null);
  assert.equal(none.usage.total_tokens, 0);
  assert.ok(!transformConverseText('<html>', 'a', 1).ok);
  assert.ok(!transformConverseText('{"message":"x"}', 'a', 1).ok);
});

function streamFrames(): Buffer {
  const events = JSON.parse(fixture('converse-stream-tools.json')) as { event: string; payload: unknown }[];
  return Buffer.concat(events.map((e) => encodeBedrockEvent(e.event, e.payload)));
}

function sseChunks(out: string): Record<string, unknown>[] {
  return out
    .split('\n\n')
    .filter((f) => f.startsWith('data: ') && f !== 'data: [DONE]')
    .map((f) => JSON.parse(f.slice(6)));
}

test('stream: role first, text, tool-call deltas, finish, usage chunk when asked, [DONE]', () => {
  const tr = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'claude', forwardUsageChunk: true });
  const bytes = streamFrames();
  let out = '';
  for (let i = 0; i < bytes.length; i += 7) out += tr.push(bytes.subarray(i, i + 7));
  assert.ok(tr.done);
  assert.equal(tr.failure, undefined);
  assert.ok(out.endsWith('data: [DONE]\n\n'));
  const chunks = sseChunks(out);
  const deltas = chunks.map((c) => (c.choices as { delta: unknown; finish_reason?: string }[])[0]);
  assert.deepEqual(deltas[0]?.delta, { role: 'assistant', content: '' });
  assert.deepEqual(deltas[1]?.delta, { content: 'Checking' });
  assert.deepEqual(deltas[3]?.delta, {
    tool_calls: [
      { index: 0, id: 'tooluse_abc', type: 'function', function: { name: 'get_weather', arguments: '' } },
    ],
  });
  assert.deepEqual(deltas[4]?.delta, { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] });
  assert.equal(deltas[6]?.finish_reason, 'tool_calls');
  const last = chunks.at(-1);
  assert.deepEqual(last?.choices, []);
  assert.deepEqual(last?.usage, { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 });
  assert.ok(chunks.every((c) => c.model === 'claude' && c.id === chunks[0]?.id));
  assert.equal(tr.usage.total_tokens, 70);
  assert.ok(tr.sawOutput);
  assert.equal(tr.delivered, chunks.length);
});

test('stream: usage chunk hidden unless asked; counts still kept', () => {
  const tr = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  const out = tr.push(streamFrames());
  assert.ok(sseChunks(out).every((c) => c.usage === undefined));
  assert.equal(tr.usage.prompt_tokens, 50);
});

test('stream: exception frame → in-band failure with the exception name, code and status', () => {
  const tr = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  tr.push(encodeBedrockEvent('messageStart', { role: 'assistant' }));
  tr.push(encodeBedrockException('throttlingException', 'Too many tokens, please wait.'));
  assert.deepEqual(tr.failure, {
    kind: 'in_band',
    error: {
      message: 'Too many tokens, please wait.',
      kind: 'ThrottlingException',
      code: 'rate_limit_exceeded',
      status: 429,
    },
  });
  const tr2 = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  tr2.push(encodeBedrockException('modelStreamErrorException', 'boom'));
  assert.equal(tr2.failure?.kind === 'in_band' && tr2.failure.error.code, 'stream_error');
});

test('stream: corrupted frame → decode failure; EOF mid-frame or before messageStop → truncation', () => {
  const bad = Buffer.from(encodeBedrockEvent('messageStart', { role: 'assistant' }));
  bad[bad.length - 6] = (bad[bad.length - 6] ?? 0) ^ 1;
  const tr = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  tr.push(bad);
  assert.equal(tr.failure?.kind, 'decode');
  const bytes = streamFrames();
  const cut = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  cut.push(bytes.subarray(0, 40));
  cut.end();
  assert.deepEqual(cut.failure, { kind: 'decode', message: 'upstream stream ended inside an event frame' });
  const early = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  early.push(encodeBedrockEvent('messageStart', { role: 'assistant' }));
  early.end();
  assert.match(early.failure?.kind === 'decode' ? early.failure.message : '', /before messageStop/);
  const noMeta = new ConverseStreamTranslator({ endpoint: 'chat', alias: 'a', forwardUsageChunk: false });
  noMeta.push(encodeBedrockEvent('messageStop', { stopReason: 'end_turn' }));
  assert.equal(noMeta.end(), 'data: [DONE]\n\n');
  assert.equal(noMeta.failure, undefined);
});

test('errors: exception name from header, body __type, or status; code per data-plane §7.4', () => {
  const f = JSON.parse(fixture('error-throttling.json'));
  assert.deepEqual(parseBedrockError(f.status, f.body, f.headers), {
    message: 'Too many requests, please wait before trying again.',
    kind: 'ThrottlingException',
    code: 'rate_limit_exceeded',
  });
  const table: [number, string, string | undefined][] = [
    [400, 'ServiceQuotaExceededException', 'insufficient_quota'],
    [403, 'AccessDeniedException', 'permission_denied'],
    [404, 'ResourceNotFoundException', 'model_not_found'],
    [429, 'ModelNotReadyException', 'model_not_ready'],
    [408, 'ModelTimeoutException', 'timeout'],
    [424, 'ModelErrorException', 'model_error'],
    [503, 'ServiceUnavailableException', 'overloaded'],
    [400, 'ValidationException', undefined],
  ];
  for (const [status, name, code] of table) {
    const body = JSON.stringify({ __type: `com.amazon.bedrock#${name}`, message: 'm' });
    const info = parseBedrockError(status, body, {});
    assert.equal(info.kind, name);
    assert.equal(info.code, code);
  }
  assert.equal(parseBedrockError(404, '{"Message":"nope"}').code, 'model_not_found');
  assert.equal(parseBedrockError(404, '{"Message":"nope"}').message, 'nope');
  assert.equal(parseBedrockError(500, 'plain text').message, 'plain text');
});
