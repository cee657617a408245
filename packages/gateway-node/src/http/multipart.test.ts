import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError } from '../errors.js';
import { multipartBoundary, multipartPayload, parseMultipart } from './multipart.js';

const B = 'b0undary';
const CT = `multipart/form-data; boundary=${B}`;
const BIN = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2d, 0x2d, 0xfe, 0x80]);

function part(name: string, value: Buffer | string, extra = ''): Buffer {
  return Buffer.concat([
    Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n`),
    Buffer.isBuffer(value) ? value : Buffer.from(value),
    Buffer.from('\r\n'),
  ]);
}
const close = Buffer.from(`--${B}--\r\n`);

function body(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, close]);
}

test('boundary: plain, quoted, case-insensitive type; others refused', () => {
  assert.equal(multipartBoundary(CT), B);
  assert.equal(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'), 'a b:c');
  assert.equal(multipartBoundary('application/json'), undefined);
  assert.equal(multipartBoundary('multipart/form-data'), undefined);
  assert.equal(multipartBoundary('multipart/mixed; boundary=x'), undefined);
  assert.equal(multipartBoundary(`multipart/form-data; boundary=${'x'.repeat(71)}`), undefined);
  assert.equal(multipartBoundary(undefined), undefined);
});

test('parse: model and text fields read, file parts not copied, rewrite touches only the model value', () => {
  const raw = body(part('file', BIN, '; filename="a.wav"'), part('model', 'stt'), part('language', 'en'));
  const parsed = parseMultipart(CT, raw);
  assert.ok(!(parsed instanceof GatewayError));
  assert.deepEqual(parsed, { model: 'stt', language: 'en' });
  const out = multipartPayload(parsed, 'whisper-1');
  const expected = body(
    part('file', BIN, '; filename="a.wav"'),
    part('model', 'whisper-1'),
    part('language', 'en'),
  );
  assert.deepEqual(out, expected);
});

test('parse: a preamble before the first boundary is allowed', () => {
  const raw = Buffer.concat([Buffer.from('preamble text\r\n'), body(part('model', 'm'))]);
  const parsed = parseMultipart(CT, raw);
  assert.ok(!(parsed instanceof GatewayError));
  assert.equal(parsed.model, 'm');
});

test('parse: refusals are 400 invalid_request_error', () => {
  const cases: [string, string | undefined, Buffer][] = [
    ['JSON content type', 'application/json', Buffer.from('{"model":"m"}')],
    ['no model', CT, body(part('file', BIN, '; filename="a"'))],
    ['empty model', CT, body(part('model', ''))],
    ['two models', CT, body(part('model', 'a'), part('model', 'b'))],
    ['model as a file', CT, body(part('model', 'a', '; filename="m"'))],
    [
      'RFC 5987 name',
      CT,
      body(Buffer.from(`--${B}\r\nContent-Disposition: form-data; name*=utf-8''model\r\n\r\nx\r\n`)),
    ],
    ['no disposition', CT, body(Buffer.from(`--${B}\r\nContent-Type: text/plain\r\n\r\nx\r\n`))],
    ['truncated', CT, part('model', 'a')],
    ['no boundary at all', CT, Buffer.from('hello')],
    ['bad utf-8 model', CT, body(part('model', Buffer.from([0xc3, 0x28])))],
  ];
  for (const [label, ct, raw] of cases) {
    const r = parseMultipart(ct, raw);
    assert.ok(r instanceof GatewayError, label);
    assert.equal(r.status, 400, label);
    assert.equal(r.type, 'invalid_request_error', label);
  }
});

test('payload: refuses a value that would break the framing, and bodies it did not parse', () => {
  const parsed = parseMultipart(CT, body(part('model', 'm')));
  assert.ok(!(parsed instanceof GatewayError));
  assert.equal(multipartPayload(parsed, `x\r\n--${B}`), undefined);
  assert.equal(multipartPayload(parsed, `has-${B}-inside`), undefined);
  assert.equal(multipartPayload({ model: 'm' }, 'x'), undefined);
});
