import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrepareInput } from '../../contract.js';
import { fixtures, parseSse, relayStream } from '../shared/test-fixtures.js';
import { anthropicNativeCountTokens, anthropicNativeMessages } from './native.js';

const fx = fixtures('anthropic');
const recorded = fx.text('native-stream-tool-use.sse');

const relay = (input: Buffer, size: number) => relayStream(anthropicNativeMessages, 'my-claude', input, size);

test('recorded stream relayed byte for byte except model in message_start; usage read', () => {
  const expected = recorded.replace('"model":"claude-sonnet-4-20250514"', '"model":"my-claude"');
  for (const size of [3, 64, 100_000]) {
    const { out, tr } = relay(Buffer.from(recorded), size);
    assert.equal(out, expected, `chunk size ${size}`);
    assert.equal(tr.done, true);
    assert.equal(tr.sawOutput, true);
    assert.equal(tr.usage.prompt_tokens, 472);
    assert.ok(tr.usage.completion_tokens > 0);
    assert.equal(tr.usage.total_tokens, tr.usage.prompt_tokens + tr.usage.completion_tokens);
  }
});

test('CRLF framing and a multi-byte character split across chunks survive untouched', () => {
  const text =
    'event: message_start\r\ndata: {"type":"message_start","message":{"model":"up","usage":{"input_tokens":5}}}\r\n\r\n' +
    'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"héllo ☃"}}\r\n\r\n' +
    'event: message_stop\r\ndata: {"type":"message_stop"}\r\n\r\n';
  const { out, tr } = relay(Buffer.from(text), 1);
  assert.equal(out, text.replace('"model":"up"', '"model":"my-claude"'));
  assert.equal(tr.usage.prompt_tokens, 5);
});

test('an in-band error event becomes the failure (status from its type) and is not relayed', () => {
  const text =
    'event: message_start\ndata: {"type":"message_start","message":{"model":"up"}}\n\n' +
    'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}\n\n';
  const { out, tr } = relay(Buffer.from(text), 1000);
  assert.equal(parseSse(out).length, 1);
  assert.deepEqual(tr.failure, {
    kind: 'in_band',
    error: { message: 'slow down', kind: 'rate_limit_error', code: 'rate_limit_exceeded', status: 429 },
  });
  // The frame that ends the stream keeps the upstream's own type (clients branch on it).
  const frame = parseSse(tr.errorFrame?.('slow down', 'upstream_error') ?? '');
  assert.deepEqual(frame[0]?.data, {
    type: 'error',
    error: { type: 'rate_limit_error', message: 'slow down' },
  });
});

const input = (over: Partial<PrepareInput> = {}): PrepareInput => ({
  endpoint: 'chat',
  stream: false,
  body: {
    model: 'alias',
    max_tokens: 5,
    temperature: 3,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
  },
  upstreamModel: 'claude-up',
  providerKey: {
    api_key: 'sk-a',
    provider: 'anthropic',
    api_base: 'https://gw.example/anthropic/v1/',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an operator header template, not JS
    request: { param_constraints: { temperature_max: 1 }, default_headers: { 'x-team': '${model.name}' } },
    response: { content_list_to_string: true },
  },
  requestId: 'rid',
  inboundHeaders: { 'anthropic-version': '2099-01-01', 'x-api-key': 'caller-secret' },
  templateVars: { 'request.id': 'rid', 'model.name': 'alias' },
  userAgent: 'aisix/test',
  ...over,
});

test('prepare: mounted root URL, credential, pinned version, overrides (not content flattening)', () => {
  const p = anthropicNativeMessages.prepare(input());
  assert.ok(p.ok);
  assert.equal(p.request.url.href, 'https://gw.example/anthropic/v1/messages');
  assert.equal(p.request.headers['x-api-key'], 'sk-a');
  assert.equal(p.request.headers['anthropic-version'], '2023-06-01');
  assert.equal(p.request.headers['x-team'], 'alias');
  assert.equal(p.request.headers.authorization, undefined);
  assert.deepEqual(JSON.parse(p.request.body), {
    model: 'claude-up',
    max_tokens: 5,
    temperature: 1,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
  });
  const c = anthropicNativeCountTokens.prepare(input());
  assert.ok(c.ok);
  assert.equal(c.request.url.href, 'https://gw.example/anthropic/v1/messages/count_tokens');
});

test('prepare refuses an empty credential and a third-party vendor without api_base', () => {
  const empty = anthropicNativeMessages.prepare(
    input({ providerKey: { api_key: ' ', provider: 'anthropic' } }),
  );
  assert.equal(empty.ok ? '' : empty.error.kind, 'invalid_credentials');
  const vendor = anthropicNativeMessages.prepare(input({ providerKey: { api_key: 'k', provider: 'acme' } }));
  assert.equal(vendor.ok ? '' : vendor.error.kind, 'invalid_config');
});

test('non-streaming: model rewritten, usage with cache counters; count_tokens verbatim', () => {
  const body =
    '{"id":"msg_1","type":"message","model":"claude-up","content":[],"usage":{"input_tokens":10,"output_tokens":2,"cache_creation_input_tokens":4,"cache_read_input_tokens":3}}';
  const r = anthropicNativeMessages.transformResponse('chat', body, 'alias');
  assert.ok(r.ok);
  assert.equal(r.body, body.replace('"model":"claude-up"', '"model":"alias"'));
  assert.deepEqual(
    [
      r.usage.prompt_tokens,
      r.usage.completion_tokens,
      r.usage.cache_creation_tokens,
      r.usage.cache_read_tokens,
      r.usage.total_tokens,
    ],
    [10, 2, 4, 3, 19],
  );
  const c = anthropicNativeCountTokens.transformResponse('chat', '{"input_tokens":42}', 'alias');
  assert.ok(c.ok);
  assert.equal(c.body, '{"input_tokens":42}');
});
