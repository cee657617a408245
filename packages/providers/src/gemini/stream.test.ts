import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StreamOptions } from '../contract.js';
import { GeminiStreamTranslator } from './stream.js';
import { fixtureText } from './test-fixtures.js';

interface Chunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta: Record<string, unknown>; finish_reason?: string }[];
  usage?: Record<string, number>;
}

const OPTS: StreamOptions = { endpoint: 'chat', alias: 'my-gemini', forwardUsageChunk: true };

/** Feeds `input` split at random byte offsets (a fixed-seed LCG, so failures reproduce). */
function run(
  input: string,
  opts: StreamOptions = OPTS,
  seed = 1,
): { out: string; tr: GeminiStreamTranslator } {
  const tr = new GeminiStreamTranslator(opts);
  const bytes = Buffer.from(input);
  let s = seed;
  let pos = 0;
  let out = '';
  while (pos < bytes.length) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const n = 1 + (s % 17);
    out += tr.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  out += tr.end();
  return { out, tr };
}

function frames(out: string): (Chunk | '[DONE]')[] {
  return out
    .split('\n\n')
    .filter((f) => f !== '')
    .map((f) => {
      assert.ok(f.startsWith('data: '), f);
      const d = f.slice(6);
      return d === '[DONE]' ? '[DONE]' : (JSON.parse(d) as Chunk);
    });
}

test('text stream: role first, content deltas, finish, usage chunk, [DONE]; same output for any split', () => {
  const text = fixtureText('text.sse');
  const first = run(text, OPTS, 1);
  for (let seed = 2; seed < 40; seed++) {
    const again = run(text, OPTS, seed);
    // ids are per-stream constants from the upstream responseId, created is per translator.
    assert.equal(
      again.out.replace(/"created":\d+/g, ''),
      first.out.replace(/"created":\d+/g, ''),
      `seed ${seed}`,
    );
  }
  const f = frames(first.out);
  assert.equal(f.at(-1), '[DONE]');
  const chunks = f.slice(0, -1) as Chunk[];
  assert.ok(
    chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'my-gemini' && c.id === 's-1'),
  );
  assert.ok(chunks.every((c) => c.created === chunks[0]?.created));
  assert.deepEqual(chunks[0]?.choices, [{ index: 0, delta: { role: 'assistant', content: '' } }]);
  const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(content, 'Bonjour le monde, ça va ? 👋!');
  assert.ok(!content.includes('\uFFFD'));
  const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.deepEqual(
    finish.map((c) => c.choices[0]),
    [{ index: 0, delta: {}, finish_reason: 'stop' }],
  );
  assert.ok(chunks.every((c) => !('finish_reason' in (c.choices[0] ?? {})) || c.choices[0]?.finish_reason));
  const last = chunks.at(-1);
  assert.deepEqual(last?.choices, []);
  assert.deepEqual(last?.usage, { prompt_tokens: 5, completion_tokens: 11, total_tokens: 16 });
  assert.equal(first.tr.done, true);
  assert.equal(first.tr.failure, undefined);
  assert.equal(first.tr.sawOutput, true);
  assert.equal(first.tr.usage.total_tokens, 16);
  assert.equal(first.tr.delivered, chunks.length);
});

test('usage-only chunk is withheld unless asked, counts still kept', () => {
  const { out, tr } = run(fixtureText('text.sse'), { ...OPTS, forwardUsageChunk: false });
  const chunks = frames(out).filter((c) => c !== '[DONE]') as Chunk[];
  assert.ok(chunks.every((c) => c.choices.length > 0 && c.usage === undefined));
  assert.equal(tr.usage.prompt_tokens, 5);
  assert.equal(tr.usage.completion_tokens, 11);
});

test('CRLF framing (OP-6) gives the same chunks', () => {
  const lf = run(fixtureText('text.sse')).out.replace(/"created":\d+/g, '');
  const crlf = run(fixtureText('text.sse').replace(/\n/g, '\r\n'), OPTS, 5).out.replace(/"created":\d+/g, '');
  assert.equal(crlf, lf);
});

test('tool-call stream: one tool_calls delta with index, id, name and whole arguments; finish tool_calls', () => {
  const { out, tr } = run(fixtureText('tool-call.sse'));
  const chunks = frames(out).filter((c) => c !== '[DONE]') as Chunk[];
  const calls = chunks.flatMap((c) => (c.choices[0]?.delta.tool_calls as unknown[] | undefined) ?? []);
  assert.equal(calls.length, 1);
  const call = calls[0] as {
    index: number;
    id: string;
    type: string;
    function: { name: string; arguments: string };
  };
  assert.equal(call.index, 0);
  assert.match(call.id, /^call_/);
  assert.equal(call.type, 'function');
  assert.deepEqual(call.function, { name: 'get_weather', arguments: '{"city":"Paris"}' });
  assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason, 'tool_calls');
  assert.equal(tr.sawOutput, true);
  assert.equal(tr.usage.total_tokens, 46);
});

test('tool-call stream: the thought signature rides on the tool call delta as extra_content.google', () => {
  const { out } = run(fixtureText('tool-call-signed.sse'));
  const chunks = frames(out).filter((c) => c !== '[DONE]') as Chunk[];
  const calls = chunks.flatMap((c) => (c.choices[0]?.delta.tool_calls as unknown[] | undefined) ?? []);
  assert.equal(calls.length, 1);
  assert.deepEqual((calls[0] as { extra_content?: unknown }).extra_content, {
    google: { thought_signature: 'CiQBVKhc7tdyU3RyZWFtLXNpZ25hdHVyZQ==' },
  });
});

test('in-band error → StreamFailure with kind, code and embedded status; nothing after it', () => {
  const { out, tr } = run(fixtureText('in-band-error.sse'));
  assert.equal(tr.done, false);
  assert.deepEqual(tr.failure, {
    kind: 'in_band',
    error: {
      message: 'Resource has been exhausted (e.g. check quota).',
      kind: 'RESOURCE_EXHAUSTED',
      code: 'rate_limit_exceeded',
      status: 429,
    },
  });
  assert.ok(!out.includes('[DONE]'));
  assert.ok(out.includes('Partial'));
});

test('a stream cut cleanly before any finishReason is a truncation failure, not a normal end', () => {
  const cut = fixtureText('text.sse').split('\n\n').slice(0, 2).join('\n\n');
  const { out, tr } = run(cut);
  assert.equal(tr.done, false);
  assert.equal(tr.failure?.kind, 'decode');
  assert.ok(!out.includes('[DONE]'));
});

test('a frame that is not JSON is a decode failure', () => {
  const { tr } = run('data: <html>oops</html>\n\n');
  assert.equal(tr.failure?.kind, 'decode');
});

test('blocked prompt in a stream: role then content_filter finish', () => {
  const { out, tr } = run(
    'data: {"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}\n\n',
  );
  const chunks = frames(out).filter((c) => c !== '[DONE]') as Chunk[];
  assert.deepEqual(
    chunks.slice(0, 2).map((c) => c.choices[0]),
    [
      { index: 0, delta: { role: 'assistant', content: '' } },
      { index: 0, delta: {}, finish_reason: 'content_filter' },
    ],
  );
  assert.equal(tr.done, true);
  assert.equal(tr.sawOutput, false);
});
