import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpenAiStreamTranslator } from './openai-stream.js';

const chunk = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
const UPSTREAM = [
  chunk({
    id: 'c',
    model: 'up-2024',
    choices: [{ index: 0, delta: { role: 'assistant', content: '' } }],
    usage: null,
  }),
  chunk({ id: 'c', model: 'up-2024', choices: [{ index: 0, delta: { content: 'Hel' } }], usage: null }),
  chunk({
    id: 'c',
    model: 'up-2024',
    choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }],
  }),
  chunk({
    id: 'c',
    model: 'up-2024',
    choices: [],
    usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
  }),
  'data: [DONE]\n\n',
].join('');

function run(
  forwardUsageChunk: boolean,
  text = UPSTREAM,
  splitAt = 7,
): { out: string; t: OpenAiStreamTranslator } {
  const t = new OpenAiStreamTranslator({ endpoint: 'chat', alias: 'my-alias', forwardUsageChunk });
  const buf = Buffer.from(text);
  let out = '';
  for (let i = 0; i < buf.length; i += splitAt) out += t.push(buf.subarray(i, i + splitAt));
  out += t.end();
  return { out, t };
}

test('re-stamps model, hides the usage-only chunk unless asked, keeps usage', () => {
  const hidden = run(false);
  assert.ok(hidden.t.done);
  assert.ok(hidden.t.sawOutput);
  assert.equal(hidden.t.usage.total_tokens, 6);
  assert.ok(!hidden.out.includes('up-2024'));
  assert.ok(!hidden.out.includes('"prompt_tokens"'));
  assert.ok(hidden.out.endsWith('data: [DONE]\n\n'));
  assert.equal(hidden.t.delivered, 3);
  const shown = run(true);
  assert.ok(shown.out.includes('"total_tokens":6'));
  assert.equal(shown.t.delivered, 4);
});

test('in-band error and undecodable frames stop the relay', () => {
  const err = run(
    false,
    `${chunk({ id: 'c', model: 'm', choices: [] })}data: {"error":{"message":"overloaded","type":"server_error","code":"503"}}\n\n`,
  );
  assert.equal(err.t.failure?.kind, 'in_band');
  assert.equal(err.t.failure?.kind === 'in_band' ? err.t.failure.error.status : 0, 503);
  // A code that is the embedded status is the status, not also the caller's code (§6.2).
  assert.equal(err.t.failure?.kind === 'in_band' ? err.t.failure.error.code : 'x', undefined);
  assert.ok(!err.out.includes('overloaded'));
  const named = run(
    false,
    'data: {"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit"}}\n\n',
  );
  assert.equal(named.t.failure?.kind === 'in_band' ? named.t.failure.error.code : '', 'rate_limit');
  const bad = run(false, 'data: <html>\n\n');
  assert.equal(bad.t.failure?.kind, 'decode');
});

test('CRLF upstream framing is normalized to \\n\\n', () => {
  const r = run(false, UPSTREAM.replaceAll('\n', '\r\n'), 5);
  assert.ok(!r.out.includes('\r'));
  assert.ok(r.t.done);
});

test('a chunk without `model` gets the alias stamped in (data-plane 6.1), on both relay paths', () => {
  const bare = [
    chunk({ id: 'c', choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] }),
    chunk({ id: 'c', model: 'up-2024', choices: [{ index: 0, delta: { content: 'Hi' } }] }),
    chunk({ id: 'c', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
    'data: [DONE]\n\n',
  ].join('');
  // Whole reads take the span-copy path; 7-byte reads the decoder's.
  for (const splitAt of [bare.length, 7]) {
    const frames = run(false, bare, splitAt)
      .out.split('\n\n')
      .filter((f) => f.startsWith('data: {'))
      .map((f) => JSON.parse(f.slice(6)) as { model?: string; id?: string });
    assert.equal(frames.length, 3, String(splitAt));
    for (const f of frames) {
      assert.equal(f.model, 'my-alias', String(splitAt));
      assert.equal(f.id, 'c');
    }
  }
});

test("the provider key's reasoning_field is lifted into delta.reasoning_content (data-plane 5.6)", () => {
  const up = [
    chunk({ id: 'c', model: 'up', choices: [{ index: 0, delta: { role: 'assistant', thinking: 'deep' } }] }),
    chunk({ id: 'c', model: 'up', choices: [{ index: 0, delta: { content: 'answer' } }] }),
    'data: [DONE]\n\n',
  ].join('');
  for (const size of [up.length, 5]) {
    const t = new OpenAiStreamTranslator({
      endpoint: 'chat',
      alias: 'a',
      forwardUsageChunk: false,
      request: {
        url: new URL('http://x'),
        headers: {},
        body: '',
        meta: { reasoning_field: 'delta.thinking' },
      },
    });
    const buf = Buffer.from(up);
    let out = '';
    for (let i = 0; i < buf.length; i += size) out += t.push(buf.subarray(i, i + size));
    out += t.end();
    const frames = out
      .split('\n\n')
      .filter((f) => f.startsWith('data: {'))
      .map((f) => JSON.parse(f.slice(6)) as { model: string; choices: { delta: Record<string, unknown> }[] });
    assert.deepEqual(frames[0]?.choices[0]?.delta, { role: 'assistant', reasoning_content: 'deep' });
    assert.deepEqual(frames[1]?.choices[0]?.delta, { content: 'answer' });
    for (const f of frames) assert.equal(f.model, 'a');
    assert.ok(t.sawOutput);
  }
  // Without the override the chunk is relayed as the upstream sent it.
  const plain = run(false, up, up.length).out;
  assert.match(plain, /"thinking":"deep"/);
});
