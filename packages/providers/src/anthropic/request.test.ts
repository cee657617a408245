import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyAutoPromptCaching } from './caching.js';
import { toAnthropicRequest, toAnthropicToolChoice } from './request.js';
import { fixtureJson } from './test-fixtures.js';
import type { AnthropicRequest } from './wire.js';

interface Pair {
  openai: Record<string, unknown>;
  anthropic: Record<string, unknown>;
}

function translate(
  body: Record<string, unknown>,
  model: string | undefined,
  stream: boolean,
): AnthropicRequest {
  const r = toAnthropicRequest(body, model, { stream });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.body;
}

test('conversation fixture: system join, same-role merge, tool calls/results, tools, limits, dropped fields', () => {
  const f = fixtureJson<Pair>('request-tools-conversation.json');
  const snapshot = structuredClone(f.openai);
  assert.deepEqual(translate(f.openai, 'claude-sonnet-4-20250514', false), f.anthropic);
  assert.deepEqual(f.openai, snapshot, 'the caller body is never mutated');
});

test('parts fixture: system blocks keep cache_control, images as base64/url sources, empty turns', () => {
  const f = fixtureJson<Pair>('request-images-system-parts.json');
  assert.deepEqual(translate(f.openai, 'claude-3-5-haiku-20241022', true), f.anthropic);
});

test('max_tokens: default 4096, max_tokens kept, max_completion_tokens wins', () => {
  const m = [{ role: 'user', content: 'hi' }];
  assert.equal(translate({ messages: m }, 'x', false).max_tokens, 4096);
  assert.equal(translate({ messages: m, max_tokens: 77 }, 'x', false).max_tokens, 77);
  assert.equal(
    translate({ messages: m, max_tokens: 77, max_completion_tokens: 9 }, 'x', false).max_tokens,
    9,
  );
});

test('tool message without tool_call_id is refused with the spec wording', () => {
  const r = toAnthropicRequest({ messages: [{ role: 'tool', content: 'x' }] }, 'x', { stream: false });
  assert.deepEqual(r, {
    ok: false,
    message: 'invalid upstream configuration: tool message missing tool_call_id field',
  });
});

test('tool_choice mapping; unknown shapes dropped, never forwarded raw', () => {
  assert.deepEqual(toAnthropicToolChoice('auto'), { type: 'auto' });
  assert.deepEqual(toAnthropicToolChoice('none'), { type: 'none' });
  assert.deepEqual(toAnthropicToolChoice('required'), { type: 'any' });
  assert.deepEqual(toAnthropicToolChoice({ type: 'function', function: { name: 'f' } }), {
    type: 'tool',
    name: 'f',
  });
  assert.equal(toAnthropicToolChoice({ type: 'allowed_tools' }), undefined);
  assert.equal(toAnthropicToolChoice('weird'), undefined);
  const body = translate(
    { messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'x' } },
    'm',
    false,
  );
  assert.equal(body.tool_choice, undefined);
  assert.equal(body.tools, undefined);
});

test('model omitted when undefined (Vertex/Bedrock carry it in the URL); metadata.user_id kept', () => {
  const body = translate(
    { messages: [{ role: 'user', content: 'x' }], metadata: { user_id: 'u1' } },
    undefined,
    true,
  );
  assert.equal('model' in body, false);
  assert.equal(body.stream, true);
  assert.deepEqual(body.metadata, { user_id: 'u1' });
});

test('auto prompt caching: marks last system block and last message block, 1h ttl', () => {
  const body = translate(
    {
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
    },
    'm',
    false,
  );
  applyAutoPromptCaching(body, '1h');
  assert.deepEqual(body.system, [
    { type: 'text', text: 'sys', cache_control: { type: 'ephemeral', ttl: '1h' } },
  ]);
  assert.deepEqual(body.messages.at(-1)?.content, [
    { type: 'text', text: 'c', cache_control: { type: 'ephemeral', ttl: '1h' } },
  ]);
  assert.equal(body.messages[0]?.content[0]?.cache_control, undefined);
});

test('auto prompt caching: a caller breakpoint anywhere leaves the request alone; empty text never marked', () => {
  const r = toAnthropicRequest(
    {
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'f', cache_control: { type: 'ephemeral' } } }],
    },
    'm',
    { stream: false, autoPromptCaching: { enabled: true } },
  );
  assert.ok(r.ok);
  assert.equal(r.body.messages[0]?.content[0]?.cache_control, undefined);
  const empty = toAnthropicRequest({ messages: [{ role: 'user', content: '' }] }, 'm', {
    stream: false,
    autoPromptCaching: { enabled: true, ttl: '5m' },
  });
  assert.ok(empty.ok);
  assert.deepEqual(empty.body.messages[0]?.content, [{ type: 'text', text: '' }]);
  const on = toAnthropicRequest({ messages: [{ role: 'user', content: 'q' }] }, 'm', {
    stream: false,
    autoPromptCaching: { enabled: true },
  });
  assert.ok(on.ok);
  assert.deepEqual(on.body.messages[0]?.content[0]?.cache_control, { type: 'ephemeral' });
});
