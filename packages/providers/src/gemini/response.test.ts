import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TransformResult } from '../contract.js';
import { mapFinishReason, transformGeminiChat } from './response.js';
import { fixtureText } from './test-fixtures.js';

interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
  extra_content?: unknown;
}

interface ChatBody {
  id: string;
  object: string;
  model: string;
  choices: {
    index: number;
    message: { role: string; content: string | null; reasoning_content?: string; tool_calls?: ToolCall[] };
    logprobs: null;
    finish_reason: string;
  }[];
  usage: Record<string, unknown>;
}

function body(r: TransformResult): ChatBody {
  if (!r.ok) assert.fail(r.message);
  return JSON.parse(r.body) as ChatBody;
}

test('text response: content, stop, usage, alias as model', () => {
  const r = transformGeminiChat(fixtureText('text.json'), 'my-gemini');
  const b = body(r);
  assert.equal(b.object, 'chat.completion');
  assert.equal(b.id, 'mZ3gaLXcL4CZ1dkP0cG-sAI');
  assert.equal(b.model, 'my-gemini');
  assert.deepEqual(b.choices, [
    {
      index: 0,
      message: { role: 'assistant', content: 'The capital of France is Paris.' },
      logprobs: null,
      finish_reason: 'stop',
    },
  ]);
  assert.deepEqual(b.usage, { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 });
  assert.ok(r.ok && r.usage.total_tokens === 19);
});

test('function calls become tool_calls with ids and JSON arguments, finish tool_calls', () => {
  const b = body(transformGeminiChat(fixtureText('tool-call.json'), 'g'));
  const c = b.choices[0];
  assert.equal(c?.finish_reason, 'tool_calls');
  assert.equal(c?.message.content, null);
  const calls = c?.message.tool_calls ?? [];
  assert.equal(calls.length, 2);
  assert.match(calls[0]?.id ?? '', /^call_[0-9a-f]{24}$/);
  assert.notEqual(calls[0]?.id, calls[1]?.id);
  assert.deepEqual(calls[0]?.function, {
    name: 'get_weather',
    arguments: '{"city":"Paris","unit":"celsius"}',
  });
  assert.equal(calls[1]?.type, 'function');
});

test("a call's thought signature rides in extra_content.google, where Google's OpenAI endpoint puts it", () => {
  const calls = body(transformGeminiChat(fixtureText('tool-call-signed.json'), 'g')).choices[0]?.message
    .tool_calls;
  assert.deepEqual(calls?.[0]?.extra_content, {
    google: { thought_signature: 'CiQBVKhc7tdyTmFtZS1zaWduYXR1cmUtQQ==' },
  });
  // Parallel calls: only the first part is signed, and an unsigned call carries no extra_content.
  assert.equal(calls?.[1] !== undefined && 'extra_content' in calls[1], false);
  const unsigned = body(transformGeminiChat(fixtureText('tool-call.json'), 'g')).choices[0]?.message
    .tool_calls;
  assert.equal(
    unsigned?.some((c) => 'extra_content' in c),
    false,
  );
});

test('thinking + cached content: reasoning_content, cached and reasoning counters', () => {
  const r = transformGeminiChat(fixtureText('thinking-cached.json'), 'g');
  const b = body(r);
  assert.equal(b.choices[0]?.message.content, '9.11 is smaller than 9.9.');
  assert.equal(b.choices[0]?.message.reasoning_content, 'Compare the two numbers digit by digit.');
  assert.deepEqual(b.usage, {
    prompt_tokens: 2100,
    completion_tokens: 140,
    total_tokens: 2240,
    prompt_tokens_details: { cached_tokens: 2048 },
    completion_tokens_details: { reasoning_tokens: 131 },
  });
  assert.ok(r.ok);
  assert.equal(r.usage.cached_prompt_tokens, 2048);
  assert.equal(r.usage.reasoning_tokens, 131);
  assert.equal(r.usage.cache_read_tokens, 0);
});

test('a blocked prompt is one empty choice with content_filter', () => {
  const b = body(transformGeminiChat(fixtureText('blocked-prompt.json'), 'g'));
  assert.deepEqual(b.choices, [
    {
      index: 0,
      message: { role: 'assistant', content: null },
      logprobs: null,
      finish_reason: 'content_filter',
    },
  ]);
  assert.equal(b.usage.prompt_tokens, 8);
});

test('finish reasons (providers.md §5)', () => {
  const table: [string | undefined, boolean, string][] = [
    ['STOP', false, 'stop'],
    [undefined, false, 'stop'],
    ['MAX_TOKENS', false, 'length'],
    ['MAX_TOKENS', true, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['IMAGE_SAFETY', false, 'content_filter'],
    ['LANGUAGE', false, 'content_filter'],
    ['OTHER', false, 'stop'],
    ['MALFORMED_FUNCTION_CALL', false, 'stop'],
    ['STOP', true, 'tool_calls'],
  ];
  for (const [reason, tool, want] of table) assert.equal(mapFinishReason(reason, tool), want, String(reason));
});

test('missing counters are 0 and total falls back to the sum; garbage is a decode failure', () => {
  const r = transformGeminiChat(
    JSON.stringify({
      candidates: [{ content: { parts: [{ text: 'x' }] } }],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2 },
    }),
    'g',
  );
  assert.ok(r.ok);
  assert.equal(r.usage.total_tokens, 5);
  const n = transformGeminiChat('{"candidates":[]}', 'g');
  assert.ok(n.ok);
  assert.equal(n.usage.prompt_tokens, 0);
  assert.equal(transformGeminiChat('<html>', 'g').ok, false);
  assert.equal(transformGeminiChat('[1]', 'g').ok, false);
});

test('n > 1: one choice per candidate', () => {
  const b = body(
    transformGeminiChat(
      JSON.stringify({
        candidates: [
          { content: { parts: [{ text: 'a' }] }, finishReason: 'STOP', index: 0 },
          { content: { parts: [{ text: 'b' }] }, finishReason: 'MAX_TOKENS', index: 1 },
        ],
      }),
      'g',
    ),
  );
  assert.deepEqual(
    b.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
    [
      [0, 'a', 'stop'],
      [1, 'b', 'length'],
    ],
  );
});
