/**
 * `/v1/messages` native passthrough (the target speaks Anthropic) and `/v1/messages/count_tokens`,
 * driven by the official Anthropic SDK: verbatim body with `model` rewritten, the upstream
 * credential and pinned `anthropic-version`, the header pipeline and body overrides, the response
 * and SSE bytes relayed with only `model` rewritten, usage for telemetry.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ALL_KEY, type DialectRig, startDialectRig } from '../test/dialect-fixtures.js';
import { testConfig } from '../test/fixtures.js';
import { ANTHROPIC_USAGE, anthropicJson, anthropicSse, anthropicSseEvents } from '../test/mock-anthropic.js';
import { chatJson, type MockBehaviour, sleep } from '../test/mock-upstream.js';

let rig: DialectRig;
let client: Anthropic;

before(async () => {
  rig = await startDialectRig();
  client = new Anthropic({
    apiKey: ALL_KEY,
    baseURL: rig.g.base,
    maxRetries: 0,
    defaultHeaders: { 'anthropic-version': '2099-01-01', 'anthropic-beta': 'tools-2099' },
  });
});

after(() => rig.close());

const params = {
  model: 'claude',
  max_tokens: 64,
  system: [{ type: 'text' as const, text: 'be brief', cache_control: { type: 'ephemeral' as const } }],
  messages: [{ role: 'user' as const, content: 'hello' }],
  metadata: { user_id: 'u-7' },
};

test('non-streaming: body verbatim except model, x-api-key + pinned anthropic-version', async () => {
  rig.anth.handle(anthropicJson('Hi from Claude'));
  const msg = await client.messages.create(params);
  assert.equal(msg.model, 'claude', 'model rewritten to the requested name');
  assert.equal(msg.id, 'msg_up_1');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Hi from Claude' }]);
  assert.equal(msg.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);
  assert.equal(msg.usage.cache_read_input_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
  const seen = rig.anth.requests.at(-1);
  assert.equal(seen?.url, '/v1/messages');
  assert.equal(seen?.headers['x-api-key'], 'sk-anthropic-secret');
  assert.equal(seen?.headers.authorization, undefined);
  assert.equal(seen?.headers['anthropic-version'], '2023-06-01');
  assert.equal(seen?.headers['anthropic-beta'], undefined, 'not forwarded without forward_client_headers');
  assert.deepEqual(seen?.json, { ...params, model: 'claude-sonnet' });
});

test('header pipeline and body overrides apply on the native path (BYO Anthropic-compatible vendor)', async () => {
  rig.anth.handle(anthropicJson());
  const msg = await client.messages.create({ ...params, model: 'byo-claude' });
  assert.equal(msg.model, 'byo-claude');
  const seen = rig.anth.requests.at(-1);
  assert.equal(seen?.url, '/v1/messages', 'a trailing /v1 on api_base is not doubled');
  assert.equal(seen?.headers['x-api-key'], 'sk-byo');
  assert.equal(seen?.headers['anthropic-beta'], 'tools-2099');
  assert.deepEqual(seen?.json, { ...params, model: 'claude-haiku', top_k: 5 });
});

test('only the top-level model is rewritten, wherever the vendor puts it (a tool input may have one too)', async () => {
  // Serialized in the field order of the Python SDK's `Message` (id, content, model, ...), as an
  // Anthropic-compatible vendor built on it answers: the tool input comes before the model.
  rig.anth.handle((_req, res) => {
    const text =
      '{"id":"msg_up_2","content":[{"type":"tool_use","id":"toolu_1","name":"render",' +
      '"input":{"model":"flux-pro","prompt":"a cat"}}],"model":"claude-haiku-20250101",' +
      '"role":"assistant","stop_reason":"tool_use","stop_sequence":null,"type":"message",' +
      '"usage":{"input_tokens":4,"output_tokens":2}}';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  });
  const msg = await client.messages.create({ ...params, model: 'byo-claude' });
  assert.equal(msg.model, 'byo-claude');
  assert.deepEqual(msg.content, [
    { type: 'tool_use', id: 'toolu_1', name: 'render', input: { model: 'flux-pro', prompt: 'a cat' } },
  ]);
  assert.equal(msg.stop_reason, 'tool_use');
});

test('streaming: events relayed as sent, model rewritten in message_start only', async () => {
  rig.anth.handle(anthropicSse({ words: ['Hel', 'lo'] }));
  const res = await fetch(`${rig.g.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
    body: JSON.stringify({ ...params, stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  const seen = rig.anth.requests.at(-1);
  assert.ok(seen);
  const expected = anthropicSseEvents(seen, ['Hel', 'lo'])
    .join('')
    .replace('"model":"claude-sonnet-20250101"', '"model":"claude"');
  assert.equal(text, expected);
  assert.equal(seen.json?.stream, true);
  assert.equal(seen.headers.accept, 'text/event-stream');
});

test('streaming through the SDK: final message, usage from message_start + message_delta', async () => {
  rig.anth.handle(anthropicSse({ words: ['a', 'b', 'c'] }));
  const msg = await client.messages.stream(params).finalMessage();
  assert.equal(msg.model, 'claude');
  assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : '', 'abc');
  assert.equal(msg.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);
  assert.equal(msg.usage.output_tokens, ANTHROPIC_USAGE.output_tokens);
});

test('usage of a native stream reaches telemetry (token metrics)', async () => {
  const inputTokens = async () => {
    const text = await (await fetch(`http://127.0.0.1:${rig.g.gw.metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('aisix_llm_input_tokens_total') && l.includes('model="byo-claude"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const before = await inputTokens();
  rig.anth.handle(anthropicSse({ words: ['x'] }));
  await client.messages.stream({ ...params, model: 'byo-claude' }).finalMessage();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await inputTokens()) - before, ANTHROPIC_USAGE.input_tokens);
});

test('in-band upstream error mid-stream ends with an Anthropic error event', async () => {
  rig.anth.handle(anthropicSse({ words: ['a'], inBandError: true }));
  const stream = client.messages.stream(params);
  await assert.rejects(stream.finalMessage(), (e: unknown) => {
    assert.ok(e instanceof Anthropic.APIError);
    assert.equal(e.apiMessage, 'Overloaded');
    return true;
  });
});

test('a stream the upstream ends cleanly before message_stop ends with an Anthropic error event', async () => {
  rig.anth.handle(anthropicSse({ words: ['Hel', 'lo', '!'], cutAfter: 1 }));
  const res = await fetch(`${rig.g.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
    body: JSON.stringify({ ...params, stream: true }),
  });
  assert.equal(res.status, 200);
  const frames = (await res.text()).trimEnd().split('\n\n');
  assert.ok(
    frames.some((f) => f.startsWith('event: content_block_delta')),
    'the first delta went out',
  );
  assert.ok(!frames.some((f) => f.startsWith('event: message_stop')));
  const last = frames.at(-1) ?? '';
  assert.match(last, /^event: error\ndata: /);
  const frame = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as {
    type: string;
    error: { type: string };
  };
  assert.equal(frame.type, 'error');
  assert.equal(frame.error.type, 'upstream_decode_error', 'as the same cut gets on the chat bridge');

  rig.anth.handle(anthropicSse({ words: ['Hel', 'lo', '!'], cutAfter: 1 }));
  await assert.rejects(client.messages.stream(params).finalMessage(), (e: unknown) => {
    assert.ok(e instanceof Anthropic.APIError, 'the SDK sees the error the gateway wrote');
    return true;
  });
});

test('count_tokens: Anthropic target → {input_tokens} verbatim from <root>/v1/messages/count_tokens', async () => {
  rig.anth.handle(anthropicJson());
  const r = await client.messages.countTokens({
    model: 'claude',
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.deepEqual(r, { input_tokens: 42 });
  const seen = rig.anth.requests.at(-1);
  assert.equal(seen?.url, '/v1/messages/count_tokens');
  assert.equal(seen?.json?.model, 'claude-sonnet');
  assert.equal(seen?.headers['x-api-key'], 'sk-anthropic-secret');
});

test('count_tokens: a non-Anthropic target is refused with 400 in the Anthropic envelope', async () => {
  rig.up.handle(chatJson());
  const before = rig.up.requests.length;
  await assert.rejects(
    client.messages.countTokens({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    (e: unknown) => {
      assert.ok(e instanceof Anthropic.BadRequestError);
      assert.equal(e.type, 'invalid_request_error');
      return true;
    },
  );
  assert.equal(rig.up.requests.length, before, 'nothing sent upstream');
});

test('heartbeat comments keep a silent native stream alive; the SDK ignores them', async () => {
  const slow = await startDialectRig(testConfig({ downstream: { sse_keepalive_interval_secs: 1 } }));
  try {
    // The model thinks for 1.5 s after message_start: longer than the 1 s keep-alive interval.
    const thinking: MockBehaviour = async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const [first, ...rest] = anthropicSseEvents(req, ['a', 'b']);
      res.write(first);
      await sleep(1500);
      res.end(rest.join(''));
    };
    slow.anth.handle(thinking);
    const res = await fetch(`${slow.g.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
      body: JSON.stringify({ ...params, stream: true }),
    });
    const text = await res.text();
    assert.ok(text.includes('\n\n:\n\n'), 'a heartbeat was written');
    assert.ok(text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'));
    const sdk = new Anthropic({ apiKey: ALL_KEY, baseURL: slow.g.base, maxRetries: 0 });
    const msg = await sdk.messages.stream(params).finalMessage();
    assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : '', 'ab');
  } finally {
    await slow.close();
  }
});
