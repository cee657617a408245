import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnthropicStreamTranslator } from './stream.js';
import { fixtureText } from './test-fixtures.js';

const NOW = () => 1754900000_000;

interface Frame {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta: Record<string, unknown>; finish_reason?: string }[];
  usage?: Record<string, number>;
}

function run(sse: string, forwardUsageChunk: boolean, splits?: number[]) {
  const t = new AnthropicStreamTranslator({ endpoint: 'chat', alias: 'my-claude', forwardUsageChunk }, NOW);
  const buf = Buffer.from(sse);
  let out = '';
  let pos = 0;
  for (const s of splits ?? [buf.length]) {
    out += t.push(buf.subarray(pos, pos + s));
    pos += s;
  }
  if (pos < buf.length) out += t.push(buf.subarray(pos));
  out += t.end();
  return { out, t };
}

function frames(out: string): Frame[] {
  return out
    .split('\n\n')
    .filter((f) => f.startsWith('data: {'))
    .map((f) => JSON.parse(f.slice(6)) as Frame);
}

/** Deterministic pseudo-random byte splits (so a failure is reproducible from the seed). */
function randomSplits(len: number, seed: number): number[] {
  let x = seed;
  const out: number[] = [];
  let total = 0;
  while (total < len) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (x % 23);
    out.push(n);
    total += n;
  }
  return out;
}

test('text stream: role first, deltas (multi-byte), finish with usage, [DONE], even when usage was not asked for', () => {
  const { out, t } = run(fixtureText('stream-text.sse'), false);
  const fs = frames(out);
  assert.deepEqual(
    fs.map((f) => [f.choices[0]?.delta, f.choices[0]?.finish_reason]),
    [
      [{ role: 'assistant' }, undefined],
      [{ content: 'Héllo' }, undefined],
      [{ content: ' wörld 👋' }, undefined],
      [{}, 'stop'],
    ],
  );
  for (const f of fs) {
    assert.equal(f.id, 'msg_01XFDUDYJgAACzvnptvVoYEL');
    assert.equal(f.object, 'chat.completion.chunk');
    assert.equal(f.model, 'my-claude');
    assert.equal(f.created, 1754900000);
    assert.equal('finish_reason' in (f.choices[0] ?? {}) && f.choices[0]?.finish_reason === null, false);
  }
  // providers.md §2.4: `message_delta` → the finish chunk, with usage (cache-inclusive total).
  assert.deepEqual(fs.at(-1)?.usage, { prompt_tokens: 25, completion_tokens: 15, total_tokens: 150 });
  assert.ok(out.endsWith('data: [DONE]\n\n'));
  assert.ok(t.done && t.sawOutput && !t.failure);
  assert.equal(t.delivered, 4);
  assert.deepEqual(t.usage, {
    prompt_tokens: 25,
    completion_tokens: 15,
    total_tokens: 150,
    cached_prompt_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: 10,
    cache_read_tokens: 100,
  });
});

test('usage asked for: it rides on the finish chunk, no usage-only chunk follows', () => {
  const { out } = run(fixtureText('stream-text.sse'), true);
  const fs = frames(out);
  assert.equal(fs.length, 4);
  assert.equal(fs.at(-1)?.choices[0]?.finish_reason, 'stop');
  assert.deepEqual(fs.at(-1)?.usage, { prompt_tokens: 25, completion_tokens: 15, total_tokens: 150 });
});

test('a message_delta without output tokens: a bare finish chunk, then the usage-only chunk when asked', () => {
  const sse = [
    'event: message_start',
    'data: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":7}}}',
    '',
    'event: content_block_delta',
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}',
    '',
    'event: message_delta',
    'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{}}',
    '',
    'event: message_stop',
    'data: {"type":"message_stop"}',
    '',
    '',
  ].join('\n');
  const hidden = frames(run(sse, false).out);
  assert.equal(hidden.at(-1)?.choices[0]?.finish_reason, 'stop');
  assert.equal(hidden.at(-1)?.usage, undefined);
  const shown = frames(run(sse, true).out);
  assert.deepEqual(shown.at(-1)?.choices, []);
  assert.deepEqual(shown.at(-1)?.usage, { prompt_tokens: 7, completion_tokens: 0, total_tokens: 7 });
});

test('tool-use stream: tool_calls deltas with id/name, then argument deltas at the tool ordinal', () => {
  const { out, t } = run(fixtureText('stream-tool-use.sse'), false);
  const deltas = frames(out).map((f) => f.choices[0]?.delta);
  assert.deepEqual(deltas, [
    { role: 'assistant' },
    { content: 'Let me check both cities.' },
    {
      tool_calls: [
        {
          index: 0,
          id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
          type: 'function',
          function: { name: 'get_weather', arguments: '' },
        },
      ],
    },
    { tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] },
    { tool_calls: [{ index: 0, function: { arguments: ' "San Francisco, CA"}' } }] },
    {
      tool_calls: [
        { index: 1, id: 'toolu_02Abc', type: 'function', function: { name: 'get_weather', arguments: '' } },
      ],
    },
    { tool_calls: [{ index: 1, function: { arguments: '{"location": "Paris"}' } }] },
    {},
  ]);
  assert.equal(frames(out).at(-1)?.choices[0]?.finish_reason, 'tool_calls');
  assert.equal(t.usage.prompt_tokens, 472);
  assert.equal(t.usage.completion_tokens, 89);
});

test('thinking stream: reasoning_content, signature ignored, message_delta raises counters, max_tokens → length', () => {
  const { out, t } = run(fixtureText('stream-thinking.sse'), true);
  const fs = frames(out);
  assert.deepEqual(fs[1]?.choices[0]?.delta, { reasoning_content: '2+2 is 4.' });
  assert.deepEqual(fs[2]?.choices[0]?.delta, { content: '4' });
  assert.equal(fs[3]?.choices[0]?.finish_reason, 'length');
  assert.deepEqual(fs[3]?.usage, { prompt_tokens: 20, completion_tokens: 30, total_tokens: 55 });
  assert.equal(fs.length, 4);
  assert.equal(t.usage.cache_read_tokens, 5);
});

test('every byte-level split of each fixture produces identical output', () => {
  for (const name of [
    'stream-text.sse',
    'stream-tool-use.sse',
    'stream-thinking.sse',
    'stream-overloaded.sse',
  ]) {
    const sse = fixtureText(name);
    const whole = run(sse, true).out;
    const len = Buffer.byteLength(sse);
    for (let seed = 1; seed <= 40; seed++) {
      assert.equal(run(sse, true, randomSplits(len, seed)).out, whole, `${name} seed ${seed}`);
    }
    assert.equal(run(sse, true, new Array<number>(len).fill(1)).out, whole, `${name} byte by byte`);
    const crlf = sse.replaceAll('\n', '\r\n');
    assert.equal(run(crlf, true, randomSplits(Buffer.byteLength(crlf), 7)).out, whole, `${name} CRLF`);
  }
});

test('in-band overloaded error: content before it is delivered, failure carries status 529', () => {
  const { out, t } = run(fixtureText('stream-overloaded.sse'), false);
  assert.equal(frames(out).length, 2);
  assert.ok(!out.includes('[DONE]'));
  assert.deepEqual(t.failure, {
    kind: 'in_band',
    error: { message: 'Overloaded', kind: 'overloaded_error', code: 'overloaded', status: 529 },
  });
  const rl = run(
    'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"slow"}}\n\n',
    false,
  );
  assert.equal(rl.t.failure?.kind === 'in_band' && rl.t.failure.error.status, 429);
  assert.equal(rl.t.delivered, 0);
});

test('truncated stream: EOF before message_stop fails, unless the finish chunk was already sent', () => {
  const sse = fixtureText('stream-text.sse');
  const cut = run(sse.slice(0, sse.indexOf('event: message_delta')), false);
  assert.equal(cut.t.failure?.kind, 'decode');
  assert.equal(cut.t.done, false);
  assert.ok(!cut.out.includes('[DONE]'));
  const noStop = run(sse.slice(0, sse.indexOf('event: message_stop')), true);
  assert.equal(noStop.t.failure, undefined);
  assert.ok(noStop.t.done);
  assert.ok(noStop.out.endsWith('data: [DONE]\n\n'));
  assert.equal(run('', false).t.failure?.kind, 'decode');
});

test('undecodable event is a decode failure; events after message_stop are ignored', () => {
  const bad = run('event: message_start\ndata: {not json\n\n', false);
  assert.equal(bad.t.failure?.kind, 'decode');
  const after = run(
    `${fixtureText('stream-text.sse')}event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}\n\n`,
    false,
  );
  assert.ok(!after.out.includes('late'));
});

test('pushEvent: framed events (non-SSE transports) give the same output as SSE', () => {
  const sse = fixtureText('stream-tool-use.sse');
  const t = new AnthropicStreamTranslator(
    { endpoint: 'chat', alias: 'my-claude', forwardUsageChunk: true },
    NOW,
  );
  let out = '';
  for (const line of sse.split('\n')) if (line.startsWith('data: ')) out += t.pushEvent(line.slice(6));
  out += t.finish();
  assert.equal(out, run(sse, true).out);
});
