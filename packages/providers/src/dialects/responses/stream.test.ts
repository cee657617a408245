import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anthropicAdapter } from '../../anthropic/index.js';
import { openaiCompatibleAdapter } from '../../openai-compatible/index.js';
import { bridgeAdapter } from '../shared/bridge.js';
import type { Json } from '../shared/chat-types.js';
import { fixtures, parseSse, relayStream } from '../shared/test-fixtures.js';
import { responsesCodec } from './index.js';
import { ResponsesEncoder } from './stream.js';

const fx = fixtures('responses');

function run(size: number): string {
  const { out, tr } = relayStream(
    bridgeAdapter(openaiCompatibleAdapter, responsesCodec),
    'alias',
    Buffer.from(fx.text('chat-stream-text-tools.sse')),
    size,
  );
  assert.equal(tr.done, true);
  return out;
}

test('recorded chat stream (text + two tool calls) → Responses event sequence and final object', () => {
  const events = parseSse(run(4096));
  assert.deepEqual(
    events.map((e) => e.event),
    [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  assert.deepEqual(
    events.map((e) => e.data.sequence_number),
    events.map((_, i) => i),
  );
  assert.deepEqual(
    events.filter((e) => e.event === 'response.output_item.added').map((e) => e.data.output_index),
    [0, 1, 2],
  );
  const final = events.at(-1)?.data.response as {
    status: string;
    model: string;
    output: { type: string; arguments?: string; call_id?: string; content?: { text: string }[] }[];
    usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  };
  assert.equal(final.status, 'completed');
  assert.equal(final.model, 'alias');
  assert.equal(final.output[0]?.content?.[0]?.text, 'Checking both.');
  assert.deepEqual(
    final.output.slice(1).map((o) => [o.call_id, o.arguments]),
    [
      ['call_1', '{"location": "Paris"}'],
      ['call_2', '{}'],
    ],
  );
  assert.deepEqual(final.usage, {
    input_tokens: 82,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 17,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 99,
  });
});

test('byte-level splits give the same events', () => {
  const strip = (s: string) =>
    s.replace(/(resp|msg|fc)_[0-9a-f]{32}/g, '$1_x').replace(/"created_at":\d+/g, '');
  assert.equal(strip(run(5)), strip(run(4096)));
});

test('terminal event waits for usage; a length finish ends incomplete; errors end failed', () => {
  const enc = new ResponsesEncoder('a');
  const names = (s: string) => parseSse(s).map((e) => e.event);
  assert.deepEqual(names(enc.chunk({ choices: [{ delta: { content: 'x' } }] })).slice(0, 2), [
    'response.created',
    'response.in_progress',
  ]);
  const closing = parseSse(enc.chunk({ choices: [{ delta: {}, finish_reason: 'length' }] }));
  assert.deepEqual(
    closing.map((e) => e.event),
    ['response.output_text.done', 'response.content_part.done', 'response.output_item.done'],
  );
  // The item the length finish cut short is incomplete, in its done event and in the response.
  assert.equal((closing[2]?.data.item as { status?: string } | undefined)?.status, 'incomplete');
  const last = parseSse(enc.chunk({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } }));
  assert.equal(last[0]?.event, 'response.incomplete');
  assert.equal(
    (last[0]?.data.response as { output: { status: string }[] } | undefined)?.output[0]?.status,
    'incomplete',
  );
  assert.deepEqual(
    (last[0]?.data.response as { incomplete_details?: unknown } | undefined)?.incomplete_details,
    {
      reason: 'max_output_tokens',
    },
  );

  const failing = new ResponsesEncoder('a');
  failing.chunk({ choices: [{ delta: { content: 'x' } }] });
  const err = parseSse(failing.errorFrame('gone', 'transport_error'));
  assert.deepEqual(
    err.map((e) => e.event),
    ['error', 'response.failed'],
  );
  assert.equal(err[0]?.data.code, 'transport_error');
  assert.equal(err[0]?.data.message, 'gone');
  // The failed response is the partial one (docs/dialects.md): the text streamed so far stays.
  const failed = err[1]?.data.response as { status: string; output: Json[] };
  assert.equal(failed.status, 'failed');
  assert.equal(failed.output.length, 1);
  assert.equal(failed.output[0]?.status, 'incomplete');
  assert.deepEqual(failed.output[0]?.content, [{ type: 'output_text', text: 'x', annotations: [] }]);
});

test('bridged from an Anthropic upstream: response.completed counts its cache reads (providers 4.2)', () => {
  const ev = (event: string, data: object) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const upstream = [
    ev('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-up',
        content: [],
        usage: {
          input_tokens: 10,
          output_tokens: 1,
          cache_read_input_tokens: 2,
          cache_creation_input_tokens: 0,
        },
      },
    }),
    ev('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
    ev('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: 'hi' },
    }),
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
    ev('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: 5 },
    }),
    ev('message_stop', { type: 'message_stop' }),
  ].join('');
  for (const size of [upstream.length, 9]) {
    const { out, tr } = relayStream(
      bridgeAdapter(anthropicAdapter, responsesCodec),
      'alias',
      Buffer.from(upstream),
      size,
    );
    assert.equal(tr.done, true);
    const done = parseSse(out).find((e) => e.event === 'response.completed');
    assert.ok(done, 'response.completed');
    const usage = (done.data as { response: { usage: Record<string, unknown> } }).response.usage;
    assert.deepEqual(usage.input_tokens_details, { cached_tokens: 2 }, String(size));
    assert.equal(usage.output_tokens, 5);
  }
});
