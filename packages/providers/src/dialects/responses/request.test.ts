import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtures } from '../shared/test-fixtures.js';
import { responsesToChat } from './request.js';

const fx = fixtures('responses');

test('recorded item list: instructions, roles, images, folded function calls, outputs, tools', () => {
  const r = responsesToChat(fx.json('request-items.json'));
  assert.ok(r.ok);
  assert.deepEqual(r.body, fx.json('request-items.chat.json'));
});

test('string input; max_tokens alias; string tool_choice only with tools', () => {
  const r = responsesToChat({ model: 'm', input: 'hi', max_tokens: 7, tool_choice: 'auto' });
  assert.ok(r.ok);
  assert.deepEqual(r.body, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 7 });
});

test('rejects a missing or empty input with a 400 message', () => {
  for (const [body, detail] of [
    [{ model: 'm' }, 'input: must be a string or an array of items'],
    [{ model: 'm', input: [] }, 'input: must not be empty'],
    [{ model: 'm', input: 3 }, 'input: must be a string or an array of items'],
  ] as const) {
    const r = responsesToChat(body);
    assert.equal(r.ok ? '' : r.message, `request payload is invalid: invalid Responses body: ${detail}`);
  }
});

test('rejects wrongly typed sampling, length and stream fields instead of dropping them', () => {
  for (const [extra, detail] of [
    [{ temperature: 'hot' }, 'temperature: must be a number'],
    [{ top_p: '0.5' }, 'top_p: must be a number'],
    [{ max_output_tokens: '5' }, 'max_output_tokens: must be a non-negative integer'],
    [{ max_output_tokens: -1 }, 'max_output_tokens: must be a non-negative integer'],
    [{ max_tokens: 1.5 }, 'max_tokens: must be a non-negative integer'],
    [{ stream: 'true' }, 'stream: must be a boolean'],
  ] as const) {
    const r = responsesToChat({ model: 'm', input: 'hi', ...extra });
    assert.equal(r.ok ? '' : r.message, `request payload is invalid: invalid Responses body: ${detail}`);
  }
});

test('max_output_tokens wins over max_tokens; nulls are left out', () => {
  const r = responsesToChat({
    model: 'm',
    input: 'hi',
    max_output_tokens: 9,
    max_tokens: 7,
    temperature: null,
  });
  assert.ok(r.ok);
  assert.deepEqual(r.body, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 9 });
});
