import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixtures, parseSse, relayStream } from '../shared/test-fixtures.js';
import { responsesVerbatim } from './native.js';

const fx = fixtures('responses');
const recorded = fx.text('native-stream.sse');

const relay = (text: string, size: number) =>
  relayStream(responsesVerbatim, 'my-gpt', Buffer.from(text), size);

test('recorded stream: every event relayed, only the response objects get the alias as model', () => {
  const input = parseSse(recorded);
  for (const size of [2, 50, 100_000]) {
    const { out, tr } = relay(recorded, size);
    const got = parseSse(out);
    assert.equal(got.length, input.length);
    got.forEach((e, i) => {
      const want = structuredClone(input[i]);
      const r = want?.data.response as { model?: string } | undefined;
      if (r) r.model = 'my-gpt';
      assert.deepEqual(e, want, `event ${i} at chunk size ${size}`);
    });
    // Events without a response object are the upstream's bytes.
    const delta = recorded.split('\n\n').find((f) => f.includes('output_text.delta'));
    assert.ok(delta && out.includes(delta));
    assert.equal(tr.done, true);
    assert.equal(tr.sawOutput, true);
    assert.deepEqual(
      [tr.usage.prompt_tokens, tr.usage.completion_tokens, tr.usage.total_tokens],
      [37, 11, 48],
    );
  }
});

test('an upstream error event becomes the failure and is not relayed', () => {
  const text =
    'event: response.created\ndata: {"type":"response.created","response":{"model":"x"}}\n\n' +
    'event: error\ndata: {"type":"error","code":"server_error","message":"oops","param":null}\n\n';
  const { out, tr } = relay(text, 1000);
  assert.equal(parseSse(out).length, 1);
  assert.deepEqual(tr.failure, { kind: 'in_band', error: { message: 'oops', code: 'server_error' } });
  // The frame that ends the stream keeps the upstream's own code.
  const frame = parseSse(tr.errorFrame?.('oops', 'upstream_error') ?? '');
  assert.equal((frame[0]?.data as { code?: string } | undefined)?.code, 'server_error');
});

test('non-streaming: model rewritten in place, usage read', () => {
  const body =
    '{"id":"resp_1","object":"response","model":"gpt-4.1-2025","output":[],"usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":1},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":7}}';
  const r = responsesVerbatim.transformResponse('chat', body, 'alias');
  assert.ok(r.ok);
  assert.equal(r.body, body.replace('"model":"gpt-4.1-2025"', '"model":"alias"'));
  assert.deepEqual(
    [
      r.usage.prompt_tokens,
      r.usage.completion_tokens,
      r.usage.total_tokens,
      r.usage.cached_prompt_tokens,
      r.usage.reasoning_tokens,
    ],
    [5, 2, 7, 1, 1],
  );
});
