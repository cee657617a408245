import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { accessLogWriter } from './access-log.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { stream, lines };
}

const fields = {
  method: 'POST',
  path: '/v1/chat/"x"',
  status: 200,
  latency_ms: 1.25,
  provider: null,
  prompt_tokens: 12,
  error: 'line\nbreak',
};

test('the access line is byte-identical to pino.info (iso time, bindings, redact configured)', () => {
  const opts = {
    base: { pid: 1, role: 'gateway' },
    redact: { paths: ['api_key', '*.api_key'], censor: '[redacted]' },
    timestamp: () => ',"time":"fixed"',
  };
  const a = capture();
  const b = capture();
  const fast = pino(opts, a.stream).child({ worker: 2 });
  fast.info = () => assert.fail('the fast path must not go through pino.info');
  accessLogWriter(fast)(fields, 'proxy request completed');
  pino(opts, b.stream).child({ worker: 2 }).info(fields, 'proxy request completed');
  assert.equal(a.lines.length, 1);
  assert.equal(a.lines[0], b.lines[0]);
});

test('respects the level and falls back to pino for loggers it cannot mirror', () => {
  const quiet = capture();
  accessLogWriter(pino({ level: 'warn' }, quiet.stream))(fields, 'm');
  assert.equal(quiet.lines.length, 0);
  const mixed = capture();
  const withMixin = pino({ mixin: () => ({ extra: true }), timestamp: false }, mixed.stream);
  accessLogWriter(withMixin)(fields, 'm');
  assert.match(mixed.lines[0] ?? '', /"extra":true/);
  const custom = capture();
  const keyed = pino({ messageKey: 'message', timestamp: false }, custom.stream);
  accessLogWriter(keyed)(fields, 'm');
  assert.match(custom.lines[0] ?? '', /"message":"m"/);
});
