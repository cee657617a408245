import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseDecoder } from './sse.js';

function decodeChunks(chunks: (string | Buffer)[]): [string, string | undefined][] {
  const d = new SseDecoder();
  const out: [string, string | undefined][] = [];
  const on = (data: string, event: string | undefined) => out.push([data, event]);
  for (const c of chunks) d.push(typeof c === 'string' ? Buffer.from(c) : c, on);
  d.end(on);
  return out;
}

test('splits events on \\n\\n, \\r\\n\\r\\n and \\r\\r (OP-6)', () => {
  for (const sep of ['\n', '\r\n', '\r']) {
    const text = `data: a${sep}${sep}data: b${sep}${sep}`;
    assert.deepEqual(
      decodeChunks([text]),
      [
        ['a', undefined],
        ['b', undefined],
      ],
      JSON.stringify(sep),
    );
  }
});

test('every byte split gives the same events, including a CRLF across chunks', () => {
  const text =
    'event: x\r\ndata: {"a":1}\r\n\r\n: comment\r\nid: 7\r\ndata: line1\r\ndata:line2\r\n\r\ndata: [DONE]\r\n\r\n';
  const expected = decodeChunks([text]);
  assert.deepEqual(expected, [
    ['{"a":1}', 'x'],
    ['line1\nline2', undefined],
    ['[DONE]', undefined],
  ]);
  const buf = Buffer.from(text);
  for (let i = 1; i < buf.length; i++) {
    assert.deepEqual(decodeChunks([buf.subarray(0, i), buf.subarray(i)]), expected, `split at ${i}`);
  }
});

test('a multi-byte UTF-8 character split across chunks is not replaced', () => {
  const buf = Buffer.from('data: héllo ✓ 𝄞\n\n');
  for (let i = 1; i < buf.length; i++) {
    assert.deepEqual(decodeChunks([buf.subarray(0, i), buf.subarray(i)]), [['héllo ✓ 𝄞', undefined]]);
  }
});

test('a final event without trailing blank line is delivered at EOF', () => {
  assert.deepEqual(decodeChunks(['data: x\n\ndata: [DONE]']), [
    ['x', undefined],
    ['[DONE]', undefined],
  ]);
  assert.deepEqual(decodeChunks(['data: y\n']), [['y', undefined]]);
});

test('fast path: many events in one chunk, partial tail, then a switch to CR framing', () => {
  const events = Array.from({ length: 30 }, (_, i) => `data: {"i":${i},"t":"é✓"}\n\n`).join('');
  const buf = Buffer.from(`${events}event: e\ndata: a\ndata: b\n\ndata: x\r\n\r\ndata: [DONE]\n\n`);
  const expected = [
    ...Array.from({ length: 30 }, (_, i) => [`{"i":${i},"t":"é✓"}`, undefined]),
    ['a\nb', 'e'],
    ['x', undefined],
    ['[DONE]', undefined],
  ];
  assert.deepEqual(decodeChunks([buf]), expected);
  for (const step of [1, 3, 7, 64, 500]) {
    const parts: Buffer[] = [];
    for (let i = 0; i < buf.length; i += step) parts.push(buf.subarray(i, i + step));
    assert.deepEqual(decodeChunks(parts), expected, `step ${step}`);
  }
});
