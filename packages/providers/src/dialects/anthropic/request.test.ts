import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtures } from '../shared/test-fixtures.js';
import { anthropicToChat } from './request.js';

const fx = fixtures('anthropic');

test('recorded conversation: system, images, thinking, tool_use, tool_result, tools, extras', () => {
  const r = anthropicToChat(fx.json('request-conversation.json'));
  assert.ok(r.ok);
  assert.deepEqual(r.body, fx.json('request-conversation.chat.json'));
});

test('string system, string content, system-role messages and tool_choice variants', () => {
  const r = anthropicToChat({
    model: 'm',
    system: 'sys',
    messages: [
      { role: 'system', content: 'late system' },
      { role: 'user', content: 'hi' },
    ],
    tool_choice: { type: 'tool', name: 'f' },
    thinking: { type: 'adaptive' },
  });
  assert.ok(r.ok);
  assert.deepEqual(r.body.messages, [
    { role: 'system', content: 'sys' },
    { role: 'system', content: 'late system' },
    { role: 'user', content: 'hi' },
  ]);
  assert.deepEqual(r.body.tool_choice, { type: 'function', function: { name: 'f' } });
  assert.equal(r.body.reasoning_effort, 'medium');
  const none = anthropicToChat({
    model: 'm',
    system: '',
    messages: [{ role: 'user', content: [] }],
    tool_choice: { type: 'none' },
  });
  assert.ok(none.ok);
  assert.deepEqual(
    none.body.messages,
    [{ role: 'user', content: '' }],
    'empty system skipped, empty user kept',
  );
  assert.equal(none.body.tool_choice, 'none');
});

test('thinking budgets map to reasoning effort levels', () => {
  const effort = (budget: number) => {
    const r = anthropicToChat({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      thinking: { type: 'enabled', budget_tokens: budget },
    });
    return r.ok ? r.body.reasoning_effort : undefined;
  };
  assert.deepEqual(
    [effort(500), effort(1024), effort(2048), effort(4096)],
    ['minimal', 'low', 'medium', 'high'],
  );
  const off = anthropicToChat({
    model: 'm',
    messages: [{ role: 'user', content: 'x' }],
    thinking: { type: 'disabled' },
  });
  assert.ok(off.ok);
  assert.equal(off.body.reasoning_effort, undefined);
});

test('long tool names are cut to 64 characters in assistant history', () => {
  const name = 'n'.repeat(80);
  const r = anthropicToChat({
    model: 'm',
    messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name, input: {} }] }],
  });
  assert.ok(r.ok);
  const calls = (r.body.messages as { tool_calls: { function: { name: string } }[] }[])[0]?.tool_calls;
  assert.equal(calls?.[0]?.function.name.length, 64);
});

const rejects: [string, Record<string, unknown>, string][] = [
  ['missing messages', { model: 'm' }, 'messages: must be a non-empty array'],
  ['empty messages', { model: 'm', messages: [] }, 'messages: must be a non-empty array'],
  [
    'bad role',
    { model: 'm', messages: [{ role: 'tool', content: 'x' }] },
    `messages[0] role "tool" is not 'user', 'assistant' or 'system'`,
  ],
  [
    'bad content',
    { model: 'm', messages: [{ role: 'user', content: 5 }] },
    'messages[0].content: must be a string or an array',
  ],
  ['non-object message', { model: 'm', messages: ['hi'] }, 'messages[0]: must be an object'],
  [
    'bad system',
    { model: 'm', system: 3, messages: [{ role: 'user', content: 'x' }] },
    'system: must be a string or an array of text blocks',
  ],
  [
    'a string temperature',
    { model: 'm', temperature: 'hot', messages: [{ role: 'user', content: 'x' }] },
    'temperature: must be a number',
  ],
  [
    'a string top_p',
    { model: 'm', top_p: '1', messages: [{ role: 'user', content: 'x' }] },
    'top_p: must be a number',
  ],
  [
    'a string max_tokens',
    { model: 'm', max_tokens: '5', messages: [{ role: 'user', content: 'x' }] },
    'max_tokens: must be a non-negative integer',
  ],
  [
    'a fractional max_tokens',
    { model: 'm', max_tokens: 2.5, messages: [{ role: 'user', content: 'x' }] },
    'max_tokens: must be a non-negative integer',
  ],
  [
    'a string stream flag',
    { model: 'm', stream: 'yes', messages: [{ role: 'user', content: 'x' }] },
    'stream: must be a boolean',
  ],
  [
    'stop_sequences that are not strings',
    { model: 'm', stop_sequences: 'END', messages: [{ role: 'user', content: 'x' }] },
    'stop_sequences: must be an array of strings',
  ],
];

test('typed fields pass through; null ones are left out', () => {
  const r = anthropicToChat({
    model: 'm',
    messages: [{ role: 'user', content: 'x' }],
    temperature: 0.5,
    top_p: null,
    max_tokens: 0,
    stream: false,
    stop_sequences: [],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.body, {
    model: 'm',
    messages: [{ role: 'user', content: 'x' }],
    temperature: 0.5,
    max_tokens: 0,
    stream: false,
  });
});

for (const [label, body, detail] of rejects) {
  test(`rejects ${label} with a 400 message`, () => {
    const r = anthropicToChat(body);
    assert.equal(r.ok, false);
    assert.equal(r.ok ? '' : r.message, `request payload is invalid: invalid Anthropic body: ${detail}`);
  });
}
