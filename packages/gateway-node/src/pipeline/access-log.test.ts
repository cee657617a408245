import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import {
  ACCESS_LOG_MESSAGE,
  type AccessLine,
  accessLogWriter,
  FLUSH_BYTES,
  FLUSH_DELAY_MS,
  FLUSH_LINES,
} from './access-log.js';

function capture(): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { stream, writes };
}

/** Long enough for a pending batch to be written. */
const turn = () => new Promise<void>((r) => setTimeout(r, FLUSH_DELAY_MS * 3));

const line = (over: Partial<AccessLine> = {}): AccessLine => ({
  method: 'POST',
  path: '/v1/chat/completions',
  status: 200,
  latency_ms: 1.25,
  provider: 'openai',
  model: 'gpt-4o-mini',
  api_key_id: 'k1',
  prompt_tokens: 12,
  completion_tokens: 20,
  total_tokens: 32,
  request_id: '5e0c7f7a-8d0f-4f39-9a2e-1c0b6d3b4a11',
  served_by_model: 'gpt-4o-mini',
  routing_attempt_count: 1,
  routing_fallback_count: 0,
  error_kind: null,
  error: null,
  upstream_latency_ms: 1,
  gateway_latency_ms: 0.25,
  ttft_ms: null,
  usage_estimated: false,
  ...over,
});

const awkward: AccessLine[] = [
  line(),
  line({
    path: '/v1/chat/"x"\\y',
    status: 499,
    provider: null,
    model: 'caf\u00e9 \u2028 \ud83d\ude00 lone:\udc00',
    prompt_tokens: null,
    completion_tokens: null,
    total_tokens: Number.NaN,
    error_kind: 'client_disconnected',
    error: 'line\nbreak\ttab\u0001',
  }),
];

test('each access line is byte-identical to pino.info (bindings, redact configured, child logger)', async () => {
  const opts = {
    base: { pid: 1, role: 'gateway' },
    redact: { paths: ['api_key', '*.api_key'], censor: '[redacted]' },
    timestamp: () => ',"time":"fixed"',
  };
  const a = capture();
  const b = capture();
  const fast = pino(opts, a.stream).child({ worker: 2 });
  fast.info = () => assert.fail('the fast path must not go through pino.info');
  const slow = pino(opts, b.stream).child({ worker: 2 });
  for (const l of awkward) {
    accessLogWriter(fast)(l);
    slow.info(l, ACCESS_LOG_MESSAGE);
  }
  await turn();
  assert.equal(a.writes.join(''), b.writes.join(''));
  for (const text of b.writes) assert.equal(typeof JSON.parse(text), 'object');
});

test('the default iso timestamp is rendered like pino (cached per millisecond)', async () => {
  const a = capture();
  const logger = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, a.stream);
  const before = Date.now();
  accessLogWriter(logger)(line());
  await turn();
  const parsed = JSON.parse(a.writes.join('')) as { time: string; level: number; msg: string };
  const t = Date.parse(parsed.time);
  assert.ok(t >= before && t <= Date.now(), parsed.time);
  assert.equal(new Date(t).toISOString(), parsed.time);
  assert.equal(parsed.level, 30);
  assert.equal(parsed.msg, ACCESS_LOG_MESSAGE);
});

test('lines are batched: one destination write per flush delay, in order; a full batch leaves at once', async () => {
  const a = capture();
  const w = accessLogWriter(pino({ timestamp: false }, a.stream));
  for (let i = 0; i < 50; i++) w(line({ request_id: `r${i}` }));
  assert.equal(a.writes.length, 0, 'nothing is written synchronously');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(a.writes.length, 0, 'the batch waits for the flush delay, not the end of the turn');
  await turn();
  assert.equal(a.writes.length, 1);
  const ids = (a.writes[0] ?? '')
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { request_id: string }).request_id);
  assert.deepEqual(
    ids,
    Array.from({ length: 50 }, (_, i) => `r${i}`),
  );
  w(line({ request_id: 'later' }));
  await turn();
  assert.equal(a.writes.length, 2);
  assert.match(a.writes[1] ?? '', /"request_id":"later"/);
  // A batch that cannot take the next line leaves at once, without waiting for the delay.
  const big = line({ error: 'x'.repeat(1024) });
  const n = Math.ceil((2 * FLUSH_BYTES) / 1024);
  for (let i = 0; i < n; i++) w(big);
  assert.ok(a.writes.length >= 3, 'full batches are written synchronously');
  for (const chunk of a.writes.slice(2)) assert.ok(chunk.length <= FLUSH_BYTES);
  await turn();
  const all = a.writes.join('').trimEnd().split('\n');
  assert.equal(all.length, 51 + n);
  for (const l of all) JSON.parse(l);
  // A line longer than a whole batch is written on its own.
  const before = a.writes.length;
  w(line({ error: 'y'.repeat(FLUSH_BYTES) }));
  await turn();
  assert.equal(a.writes.length, before + 1);
  assert.equal((JSON.parse(a.writes[before] ?? '') as { error: string }).error.length, FLUSH_BYTES);
});

test('lines wait unrendered until the delay or FLUSH_LINES; each keeps the time it was given', async () => {
  const a = capture();
  let clock = -1;
  const w = accessLogWriter(pino({ base: null, timestamp: () => `,"time":${clock}` }, a.stream));
  const given = (from: number, n: number) => {
    for (let i = from; i < from + n; i++) {
      clock = i;
      w(line({ request_id: `t${i}` }));
    }
  };
  const written = () =>
    a.writes
      .join('')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { time: number; request_id: string })
      .map((l) => [l.time, l.request_id]);
  const expected = (n: number) => Array.from({ length: n }, (_, i) => [i, `t${i}`]);
  given(0, FLUSH_LINES - 1);
  assert.equal(a.writes.length, 0, 'fewer than FLUSH_LINES wait for the delay');
  clock = 9999; // the delay renders them now: a line's time must be the one it was given
  await turn();
  assert.deepEqual(written(), expected(FLUSH_LINES - 1));
  a.writes.length = 0;
  clock = -1;
  given(0, FLUSH_LINES);
  assert.ok(a.writes.length >= 1, 'the FLUSH_LINES-th line sends the batch at once');
  assert.deepEqual(written(), expected(FLUSH_LINES));
});

test('a destination that takes bytes gets each batch as UTF-8 it may keep; the text equals the string path', async () => {
  const opts = { base: { pid: 1 }, timestamp: () => ',"time":"fixed"' };
  const strings = capture();
  const held: Buffer[] = [];
  const order: string[] = [];
  const bytes = {
    write(chunk: string) {
      order.push('string');
      held.push(Buffer.from(chunk));
    },
    writeBytes(chunk: Buffer) {
      order.push('bytes');
      held.push(chunk);
    },
  };
  const viaBytes = accessLogWriter(pino(opts, bytes));
  const viaStrings = accessLogWriter(pino(opts, strings.stream));
  for (const l of awkward) {
    viaBytes(l);
    viaStrings(l);
  }
  await turn();
  assert.deepEqual(order, ['bytes'], 'one batch, handed over as bytes');
  const first = Buffer.from(held[0] as Buffer);
  assert.equal(first.toString('utf8'), strings.writes.join(''));
  // The writer reuses its own buffer for the next batch: what it handed over stays as it was.
  for (let i = 0; i < 20; i++) viaBytes(line({ request_id: `next-${i}`, model: '\u00e9\u{1f600}' }));
  await turn();
  assert.deepEqual(held[0], first);
  assert.equal(order.length, 2);
  const next = (held[1] as Buffer).toString('utf8').trimEnd().split('\n');
  assert.deepEqual(
    next.map((l) => (JSON.parse(l) as { request_id: string; model: string }).request_id),
    Array.from({ length: 20 }, (_, i) => `next-${i}`),
  );
  assert.equal((JSON.parse(next[0] as string) as { model: string }).model, '\u00e9\u{1f600}');
  // A line longer than a whole batch still goes out on its own, as text.
  viaBytes(line({ error: 'z'.repeat(FLUSH_BYTES) }));
  await turn();
  assert.equal(order.at(-1), 'string');
});

test('respects the level and falls back to pino for loggers it cannot mirror', async () => {
  const quiet = capture();
  accessLogWriter(pino({ level: 'warn' }, quiet.stream))(line());
  await turn();
  assert.equal(quiet.writes.length, 0);
  const mixed = capture();
  const withMixin = pino({ mixin: () => ({ extra: true }), timestamp: false }, mixed.stream);
  accessLogWriter(withMixin)(line());
  assert.match(mixed.writes[0] ?? '', /"extra":true/);
  const custom = capture();
  const keyed = pino({ messageKey: 'message', timestamp: false }, custom.stream);
  accessLogWriter(keyed)(line());
  assert.match(custom.writes[0] ?? '', /"message":"proxy request completed"/);
});

test('lines still pending when the process exits are written (pino async destination on stdout)', () => {
  const mod = fileURLToPath(new URL('./access-log.js', import.meta.url));
  const script = `
    import { pino } from 'pino';
    import { accessLogWriter } from ${JSON.stringify(mod)};
    const logger = pino({ timestamp: false }, pino.destination({ dest: 1, sync: false }));
    const w = accessLogWriter(logger);
    for (let i = 0; i < 3; i++) w({ method: 'POST', path: '/p', status: 200, latency_ms: 1, provider: null,
      model: null, api_key_id: null, prompt_tokens: null, completion_tokens: null, total_tokens: null,
      request_id: 'exit-' + i, served_by_model: null, routing_attempt_count: 0, routing_fallback_count: 0,
      error_kind: null, error: null });
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    encoding: 'utf8',
  });
  const ids = out
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { request_id: string }).request_id);
  assert.deepEqual(ids, ['exit-0', 'exit-1', 'exit-2']);
});
