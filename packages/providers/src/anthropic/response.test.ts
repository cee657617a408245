import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAnthropicWireError } from '../shared/errors.js';
import { anthropicAdapter } from './index.js';
import { fromAnthropicResponse, mapStopReason, transformAnthropicText } from './response.js';
import { fixtureJson, fixtureText } from './test-fixtures.js';
import type { AnthropicResponse } from './wire.js';

const NOW = 1754900000;

test('text response: blocks concatenated, alias and gateway clock, cache-inclusive usage', () => {
  const { body, usage } = fromAnthropicResponse(
    fixtureJson<AnthropicResponse>('message-text.json'),
    'my-claude',
    NOW,
  );
  assert.deepEqual(body, {
    id: 'msg_01EcyWo6m4hyW8KHs2y2pei5',
    object: 'chat.completion',
    created: NOW,
    model: 'my-claude',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'Hello! How can I help?' }, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 3030 },
  });
  assert.deepEqual(usage, {
    prompt_tokens: 21,
    completion_tokens: 9,
    total_tokens: 3030,
    cached_prompt_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: 1000,
    cache_read_tokens: 2000,
  });
});

test('tool_use response: null content, tool_calls with JSON-string arguments, thinking ignored', () => {
  const { body } = fromAnthropicResponse(fixtureJson<AnthropicResponse>('message-tool-use.json'), 'a', NOW);
  const choice = body.choices[0];
  assert.equal(choice?.finish_reason, 'tool_calls');
  assert.equal(choice?.message.content, null);
  assert.deepEqual(choice?.message.tool_calls, [
    {
      id: 'toolu_01A09q90qw90lq917835lq9',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
    },
    { id: 'toolu_02B', type: 'function', function: { name: 'get_time', arguments: '{}' } },
  ]);
  assert.equal('reasoning_content' in (choice?.message ?? {}), false);
  assert.deepEqual(body.usage, { prompt_tokens: 384, completion_tokens: 92, total_tokens: 476 });
});

test('max_tokens → length; an explicit empty text block gives ""; missing usage is zeros', () => {
  const { body } = fromAnthropicResponse(fixtureJson<AnthropicResponse>('message-max-tokens.json'), 'a', NOW);
  assert.equal(body.choices[0]?.finish_reason, 'length');
  const empty = fromAnthropicResponse({ content: [{ type: 'text', text: '' }] }, 'a', NOW);
  assert.equal(empty.body.choices[0]?.message.content, '');
  assert.equal(empty.body.choices[0]?.finish_reason, 'stop');
  assert.deepEqual(empty.body.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
});

test('stop reasons', () => {
  assert.equal(mapStopReason('end_turn'), 'stop');
  assert.equal(mapStopReason('stop_sequence'), 'stop');
  assert.equal(mapStopReason(undefined), 'stop');
  assert.equal(mapStopReason(null), 'stop');
  assert.equal(mapStopReason('max_tokens'), 'length');
  assert.equal(mapStopReason('tool_use'), 'tool_calls');
  assert.equal(mapStopReason('refusal'), 'refusal');
  assert.equal(mapStopReason('pause_turn'), 'pause_turn');
});

test('transform: undecodable bodies fail, a good one re-serialises', () => {
  assert.equal(transformAnthropicText('not json', 'a', NOW).ok, false);
  assert.equal(transformAnthropicText('[1]', 'a', NOW).ok, false);
  assert.equal(transformAnthropicText('{"type":"error","error":{"type":"api_error"}}', 'a', NOW).ok, false);
  const r = transformAnthropicText(fixtureText('message-text.json'), 'alias-x', NOW);
  assert.ok(r.ok);
  assert.equal(JSON.parse(r.body).model, 'alias-x');
  assert.equal(r.usage.total_tokens, 3030);
});

test('error bodies: kind, message and the derived caller code per Anthropic type', () => {
  const table =
    fixtureJson<Record<string, { status: number; body: unknown; code: string | null }>>('errors.json');
  for (const [kind, row] of Object.entries(table)) {
    const info = anthropicAdapter.parseError(row.status, JSON.stringify(row.body));
    assert.equal(info.kind, kind);
    assert.equal(info.code, row.code ?? undefined, kind);
    assert.equal(info.message, (row.body as { error: { message: string } }).error.message);
  }
  assert.deepEqual(parseAnthropicWireError('<html>bad gateway</html>'), {
    message: '<html>bad gateway</html>',
  });
  const long = parseAnthropicWireError(
    JSON.stringify({ type: 'error', error: { type: 'x', message: 'é'.repeat(2000) } }),
  );
  assert.ok(Buffer.byteLength(long.message) <= 1024 + 3);
});
