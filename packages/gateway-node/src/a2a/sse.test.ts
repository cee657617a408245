import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_EVENT_CHARS, SseDecoder } from './sse.js';

function decode(chunks: string[]): { events: string[]; error: string | undefined } {
  const d = new SseDecoder();
  const events: string[] = [];
  const emit = (e: string) => events.push(e);
  for (const c of chunks) {
    const error = d.push(c, emit);
    if (error !== undefined) return { events, error };
  }
  return { events, error: d.end(emit) };
}

test('events end at a blank line; comments and other fields are ignored', () => {
  const r = decode([
    ': hello\n',
    'event: message\nid: 1\nretry: 5\n',
    'data: {"a":1}\n\n',
    'data:{"b":2}\n\n',
  ]);
  assert.deepEqual(r, { events: ['{"a":1}', '{"b":2}'], error: undefined });
});

test('multi-line data is joined with a newline (SSE standard, AJ-8)', () => {
  const r = decode(['data: {"a":\n', 'data: 1}\n\n']);
  assert.deepEqual(r.events, ['{"a":\n1}']);
});

test('CRLF and CR line endings, split across chunks, including a CR at a chunk end', () => {
  const r = decode(['data: 1\r', '\n\r', '\ndata: 2\r\r', 'data: 3\r\n', '\r\n']);
  assert.deepEqual(r.events, ['1', '2', '3']);
});

test('an event cut off by the end of the stream is still delivered', () => {
  assert.deepEqual(decode(['data: {"last":true}']).events, ['{"last":true}']);
  assert.deepEqual(decode(['data: x\n']).events, ['x']);
});

test('a field merely starting with "data" is not data', () => {
  assert.deepEqual(decode(['database: 1\ndata\n\n']).events, ['']);
});

test('a line longer than the cap without a newline is an error, not a silent truncation', () => {
  const d = new SseDecoder();
  const big = 'x'.repeat(MAX_EVENT_CHARS / 4);
  let err: string | undefined;
  for (let i = 0; i < 5 && err === undefined; i++) err = d.push(i === 0 ? `data: ${big}` : big, () => {});
  assert.match(String(err), /exceeds 16 MiB/);
});

test('a large event arriving in many small chunks decodes in linear time (no rescan per chunk)', () => {
  // 8 MiB of data in 16 KiB chunks, as a socket delivers it: every chunk used to rescan (and
  // re-flatten) the whole incomplete line, 512 passes over up to 8 MiB that blocked the event
  // loop for many seconds; one pass takes milliseconds.
  const line = `data: "${'x'.repeat(8 * 1024 * 1024)}"`;
  const chunks: string[] = [];
  for (let i = 0; i < line.length; i += 16 * 1024) chunks.push(line.slice(i, i + 16 * 1024));
  chunks.push('\r', '\n\r\n');
  const t0 = performance.now();
  const r = decode(chunks);
  const ms = performance.now() - t0;
  assert.equal(r.error, undefined);
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0]?.length, 8 * 1024 * 1024 + 2);
  assert.ok(ms < 1500, `decoding took ${ms.toFixed(0)} ms`);
});
