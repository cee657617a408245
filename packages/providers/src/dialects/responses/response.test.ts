import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyUsage } from '../../contract.js';
import type { ChatCompletion } from '../shared/chat-types.js';
import { fixtures } from '../shared/test-fixtures.js';
import { chatToResponses } from './response.js';

const fx = fixtures('responses');

test('recorded tool-call completion → message + function_call items, usage details', () => {
  const usage = {
    ...emptyUsage(),
    prompt_tokens: 82,
    completion_tokens: 17,
    total_tokens: 99,
    cache_read_tokens: 5,
    reasoning_tokens: 2,
  };
  const r = JSON.parse(chatToResponses(fx.json<ChatCompletion>('chat-tool-call.json'), 'alias', usage));
  assert.match(r.id, /^resp_[0-9a-f]{32}$/);
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.model, 'alias');
  assert.equal(typeof r.created_at, 'number');
  assert.deepEqual(
    r.output.map((o: { type: string }) => o.type),
    ['message', 'function_call', 'function_call', 'function_call'],
  );
  assert.deepEqual(r.output[0].content, [
    { type: 'output_text', text: 'Let me look that up.', annotations: [] },
  ]);
  const { id, ...call } = r.output[1];
  assert.match(id, /^fc_[0-9a-f]{32}$/);
  assert.deepEqual(call, {
    type: 'function_call',
    call_id: 'call_abc',
    name: 'get_weather',
    arguments: '{"location":"Paris"}',
    status: 'completed',
  });
  assert.deepEqual(r.usage, {
    input_tokens: 82,
    input_tokens_details: { cached_tokens: 5 },
    output_tokens: 17,
    output_tokens_details: { reasoning_tokens: 2 },
    total_tokens: 99,
  });
});

test('length finish → incomplete with max_output_tokens; total falls back to input + output', () => {
  const usage = { ...emptyUsage(), prompt_tokens: 3, completion_tokens: 4 };
  const r = JSON.parse(
    chatToResponses({ choices: [{ message: { content: 'cut' }, finish_reason: 'length' }] }, 'a', usage),
  );
  assert.equal(r.status, 'incomplete');
  assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  assert.equal(r.usage.total_tokens, 7);
  // The message that was cut short says so too (OpenAI's own incomplete responses do).
  assert.equal(r.output[0].status, 'incomplete');
  const done = JSON.parse(
    chatToResponses({ choices: [{ message: { content: 'whole' }, finish_reason: 'stop' }] }, 'a', usage),
  );
  assert.equal(done.output[0].status, 'completed');
});
