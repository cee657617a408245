import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import {
  EventStreamDecoder,
  EventStreamError,
  encodeBedrockEvent,
  encodeEventStreamMessage,
} from './event-stream.js';

/** A deterministic PRNG so a failing split can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function splitRandomly(buf: Buffer, rand: () => number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const n = 1 + Math.floor(rand() * 23);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

test('event-stream: frame layout (lengths and both CRC32s) matches the spec', () => {
  const f = encodeEventStreamMessage({ ':event-type': 'x' }, '{}');
  const total = f.readUInt32BE(0);
  const headersLen = f.readUInt32BE(4);
  assert.equal(total, f.length);
  assert.equal(headersLen, 1 + 11 + 1 + 2 + 1);
  assert.equal(f.readUInt32BE(8), crc32(f.subarray(0, 8)));
  assert.equal(f.readUInt32BE(total - 4), crc32(f.subarray(0, total - 4)));
});

test('event-stream: decodes the same messages whatever the chunk boundaries', () => {
  const events = Array.from({ length: 30 }, (_, i) =>
    encodeBedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: `tok ${i} ü€😀` } }),
  );
  const whole = Buffer.concat(events);
  for (let seed = 1; seed <= 50; seed++) {
    const d = new EventStreamDecoder();
    const got: string[] = [];
    for (const part of splitRandomly(whole, rng(seed))) {
      for (const m of d.push(part)) {
        assert.equal(m.headers[':event-type'], 'contentBlockDelta');
        assert.equal(m.headers[':message-type'], 'event');
        got.push(JSON.parse(m.payload.toString('utf8')).delta.text);
      }
    }
    assert.equal(got.length, 30, `seed ${seed}`);
    assert.equal(got[29], 'tok 29 ü€😀');
    assert.equal(d.pending, 0);
  }
  // Byte by byte.
  const d = new EventStreamDecoder();
  let n = 0;
  for (let i = 0; i < whole.length; i++) n += d.push(whole.subarray(i, i + 1)).length;
  assert.equal(n, 30);
});

test('event-stream: a corrupted payload byte fails the message CRC', () => {
  const f = Buffer.from(encodeBedrockEvent('messageStop', { stopReason: 'end_turn' }));
  f[f.length - 8] = (f[f.length - 8] ?? 0) ^ 0xff;
  assert.throws(
    () => new EventStreamDecoder().push(f),
    (e: unknown) => {
      return e instanceof EventStreamError && /message checksum/.test(e.message);
    },
  );
});

test('event-stream: a corrupted length fails the prelude CRC before any allocation', () => {
  const f = Buffer.from(encodeBedrockEvent('messageStop', {}));
  f.writeUInt32BE(0x7fffffff, 0);
  assert.throws(() => new EventStreamDecoder().push(f), /prelude checksum/);
});

test('event-stream: typed headers (bool, int, long, bytes, timestamp, uuid) decode', () => {
  const name = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
  const int32 = Buffer.alloc(4);
  int32.writeInt32BE(-7);
  const int64 = Buffer.alloc(8);
  int64.writeBigInt64BE(1234567890123n);
  const hdr = Buffer.concat([
    name('t'),
    Buffer.from([0]),
    name('f'),
    Buffer.from([1]),
    name('i'),
    Buffer.from([4]),
    int32,
    name('l'),
    Buffer.from([5]),
    int64,
    name('b'),
    Buffer.from([6, 0, 2, 0xde, 0xad]),
    name('u'),
    Buffer.from([9]),
    Buffer.alloc(16, 1),
  ]);
  const total = 12 + hdr.length + 4;
  const f = Buffer.alloc(total);
  f.writeUInt32BE(total, 0);
  f.writeUInt32BE(hdr.length, 4);
  f.writeUInt32BE(crc32(f.subarray(0, 8)), 8);
  hdr.copy(f, 12);
  f.writeUInt32BE(crc32(f.subarray(0, total - 4)), total - 4);
  const [m] = new EventStreamDecoder().push(f);
  assert.ok(m);
  assert.equal(m.headers.t, true);
  assert.equal(m.headers.f, false);
  assert.equal(m.headers.i, -7);
  assert.equal(m.headers.l, 1234567890123);
  assert.deepEqual(m.headers.b, Buffer.from([0xde, 0xad]));
  assert.equal((m.headers.u as Buffer).length, 16);
  assert.equal(m.payload.length, 0);
});

test('event-stream: a large message costs one pass, however many chunks carry it', () => {
  // 15 MiB in 4 KiB chunks (a slow upstream's TLS records): joining the held bytes on every
  // chunk copies ~28 GiB and blocks the event loop for seconds; one pass takes milliseconds.
  const frame = encodeEventStreamMessage({ ':message-type': 'event' }, Buffer.alloc(15 * 1024 * 1024, 0x61));
  const d = new EventStreamDecoder();
  const started = performance.now();
  const got = [];
  for (let i = 0; i < frame.length; i += 4096) got.push(...d.push(frame.subarray(i, i + 4096)));
  const ms = performance.now() - started;
  assert.equal(got.length, 1);
  assert.equal(got[0]?.payload.length, 15 * 1024 * 1024);
  assert.equal(d.pending, 0);
  assert.ok(ms < 1500, `${ms.toFixed(0)} ms`);
});
