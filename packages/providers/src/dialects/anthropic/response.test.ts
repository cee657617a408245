import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyUsage } from '../../contract.js';
import type { ChatCompletion } from '../shared/chat-types.js';
import { fixtures } from '../shared/test-fixtures.js';
import { chatToAnthropic, stopReason } from './response.js';

const fx = fixtures('anthropic');
const usage = { ...emptyUsage(), prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 };

test('recorded tool-call completion → text + tool_use blocks; bad ids skipped, bad JSON → {}', () => {
  const out = JSON.parse(chatToAnthropic(fx.json<ChatCompletion>('chat-tool-call.json'), 'my-alias', usage));
  assert.deepEqual(out, {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    type: 'message',
    role: 'assistant',
    model: 'my-alias',
    content: [
      { type: 'text', text: 'Let me look that up.' },
      { type: 'tool_use', id: 'call_abc', name: 'get_weather', input: { location: 'Paris' } },
      { type: 'tool_use', id: 'call_bad', name: 'get_time', input: {} },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 82, output_tokens: 17 },
  });
});

test('no content at all renders one empty text block', () => {
  const out = JSON.parse(
    chatToAnthropic(
      { id: 'x', choices: [{ message: { content: null }, finish_reason: 'length' }] },
      'a',
      usage,
    ),
  );
  assert.deepEqual(out.content, [{ type: 'text', text: '' }]);
  assert.equal(out.stop_reason, 'max_tokens');
});

test('finish reason mapping', () => {
  assert.deepEqual(['stop', 'length', 'tool_calls', 'content_filter', 'weird', null].map(stopReason), [
    'end_turn',
    'max_tokens',
    'tool_use',
    'stop_sequence',
    'end_turn',
    'end_turn',
  ]);
});
