import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openaiCompatibleAdapter } from '../../openai-compatible/index.js';
import { bridgeAdapter } from '../shared/bridge.js';
import type { ChatChunk } from '../shared/chat-types.js';
import { fixtures, parseSse, relayStream } from '../shared/test-fixtures.js';
import { anthropicCodec } from './index.js';
import { AnthropicEncoder } from './stream.js';

const fx = fixtures('anthropic');

function run(size: number): string {
  const adapter = bridgeAdapter(openaiCompatibleAdapter, anthropicCodec);
  const { out, tr } = relayStream(
    adapter,
    'claude-alias',
    Buffer.from(fx.text('chat-stream-text-tools.sse')),
    size,
  );
  assert.equal(tr.done, true);
  assert.equal(tr.failure, undefined);
  assert.equal(tr.usage.prompt_tokens, 82);
  return out;
}

test('recorded chat stream (text + two tool calls) → Anthropic event sequence', () => {
  const events = parseSse(run(4096));
  assert.deepEqual(
    events.map((e) => e.event),
    [
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ],
  );
  assert.equal(
    events.every((e) => e.data.type === e.event),
    true,
  );
  const start = events[0]?.data.message as { model: string; id: string };
  assert.equal(start.model, 'claude-alias');
  assert.match(start.id, /^msg_[0-9a-f]{32}$/);
  assert.deepEqual(events[5]?.data, {
    type: 'content_block_start',
    index: 1,
    content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} },
  });
  const json = events.filter((e) => (e.data.delta as { type?: string })?.type === 'input_json_delta');
  assert.deepEqual(
    json.map((e) => [e.data.index, (e.data.delta as { partial_json: string }).partial_json]),
    [
      [1, '{"location"'],
      [1, ': "Paris"}'],
      [2, '{}'],
    ],
  );
  assert.deepEqual(events[12]?.data, {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 17, input_tokens: 82 },
  });
});

test('byte-level splits (UTF-8 and frames cut anywhere) give the same events', () => {
  const strip = (s: string) => s.replace(/msg_[0-9a-f]{32}/g, 'msg_x');
  assert.equal(strip(run(7)), strip(run(4096)));
});

test('the closing pair waits for usage, and EOF without finish still closes the message', () => {
  const enc = new AnthropicEncoder('a');
  const chunk = (c: ChatChunk) => parseSse(enc.chunk(c)).map((e) => e.event);
  assert.deepEqual(chunk({ choices: [{ delta: { role: 'assistant', content: '' } }] }), []);
  assert.deepEqual(chunk({ choices: [{ delta: { content: 'hi' } }] }), [
    'message_start',
    'content_block_start',
    'content_block_delta',
  ]);
  assert.deepEqual(chunk({ choices: [{ delta: {}, finish_reason: 'stop' }] }), ['content_block_stop']);
  assert.equal(enc.closed, false);
  assert.deepEqual(chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } }), [
    'message_delta',
    'message_stop',
  ]);
  assert.equal(enc.closed, true);

  const eof = new AnthropicEncoder('a');
  const out = parseSse(eof.finish());
  assert.deepEqual(
    out.map((e) => e.event),
    ['message_start', 'message_delta', 'message_stop'],
  );
  assert.deepEqual(out[1]?.data.delta, { stop_reason: 'end_turn', stop_sequence: null });
  assert.deepEqual(out[1]?.data.usage, { output_tokens: 0 }, 'input_tokens only when > 0');
});

test('error frame is an Anthropic error event', () => {
  const [e] = parseSse(new AnthropicEncoder('a').errorFrame('boom', 'timeout'));
  assert.equal(e?.event, 'error');
  assert.deepEqual(e?.data, { type: 'error', error: { type: 'timeout', message: 'boom' } });
});
