import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_EVENT_BYTES, SseDecoder } from './sse.js';

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

test('a long event costs one pass, however many chunks carry it', () => {
  // 8 MiB in 8 KiB chunks: one line, then the same as many short lines. Copying the pending
  // event on every chunk would move ~4 GiB and take seconds; one pass takes milliseconds.
  const piece = 'x'.repeat(8192);
  for (const shape of ['one line', 'many lines'] as const) {
    const d = new SseDecoder();
    const out: string[] = [];
    const on = (data: string) => out.push(data);
    const started = performance.now();
    d.push(Buffer.from('data: '), on);
    for (let i = 0; i < 1024; i++) d.push(Buffer.from(shape === 'one line' ? piece : `${piece}\ndata: `), on);
    d.push(Buffer.from('\n\n'), on);
    const ms = performance.now() - started;
    assert.equal(out.length, 1, shape);
    assert.equal(out[0]?.length, shape === 'one line' ? 8 * 1024 * 1024 : 8 * 1024 * 1024 + 1024, shape);
    assert.equal(d.overflow, false);
    assert.ok(ms < 1500, `${shape}: ${ms.toFixed(0)} ms`);
  }
});

test('an event past MAX_EVENT_BYTES sets overflow and stops decoding; a smaller one does not', () => {
  for (const lines of [false, true]) {
    const d = new SseDecoder();
    const out: string[] = [];
    const on = (data: string) => out.push(data);
    const chunk = Buffer.from(lines ? `data: ${'y'.repeat(65_530)}\n` : 'z'.repeat(65_536));
    d.push(Buffer.from('data: '), on);
    for (let sent = 0; sent <= MAX_EVENT_BYTES + 2 * chunk.length && !d.overflow; sent += chunk.length)
      d.push(chunk, on);
    assert.equal(d.overflow, true, `lines: ${lines}`);
    d.push(Buffer.from('\n\ndata: after\n\n'), on);
    d.end(on);
    assert.deepEqual(out, [], `lines: ${lines}`);
  }
});
