/** The streamed multipart parser against every chunking of one body, and its refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MultipartEncoder, MultipartError, MultipartParser, type PartEvent } from './multipart-stream.js';

const B = 'XyZ123';
const BODY = Buffer.from(
  `preamble\r\n--${B}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
    `--${B}  \r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n` +
    `line1\r\n--XyZ12 almost a delimiter\r\nline2\r\n--${B}--\r\nepilogue`,
);

interface Part {
  name: string;
  filename?: string | undefined;
  contentType?: string | undefined;
  data: string;
}

function collect(events: PartEvent[], into: Part[]): void {
  for (const e of events) {
    if (e.type === 'part')
      into.push({ name: e.head.name, filename: e.head.filename, contentType: e.head.contentType, data: '' });
    else if (e.type === 'data') (into[into.length - 1] as Part).data += e.bytes.toString('latin1');
  }
}

const EXPECTED: Part[] = [
  { name: 'purpose', filename: undefined, contentType: undefined, data: 'batch' },
  {
    name: 'file',
    filename: 'a.jsonl',
    contentType: 'application/jsonl',
    data: 'line1\r\n--XyZ12 almost a delimiter\r\nline2',
  },
];

test('every split of the body into two chunks parses to the same parts', () => {
  for (let i = 0; i <= BODY.length; i++) {
    const p = new MultipartParser(B);
    const parts: Part[] = [];
    collect(p.push(BODY.subarray(0, i)), parts);
    collect(p.push(BODY.subarray(i)), parts);
    p.end();
    assert.deepEqual(parts, EXPECTED, `split at ${i}`);
  }
});

test('byte-at-a-time parsing gives the same parts', () => {
  const p = new MultipartParser(B);
  const parts: Part[] = [];
  for (let i = 0; i < BODY.length; i++) collect(p.push(BODY.subarray(i, i + 1)), parts);
  p.end();
  assert.deepEqual(parts, EXPECTED);
});

test('malformed bodies are refused', () => {
  const refuse = (body: string, atEnd = false) => {
    const p = new MultipartParser(B);
    if (atEnd) {
      p.push(Buffer.from(body));
      assert.throws(() => p.end(), MultipartError, body);
    } else assert.throws(() => p.push(Buffer.from(body)), MultipartError, body);
  };
  refuse(`--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end`, true);
  refuse(`--${B}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${B}--`);
  refuse(`--${B}\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\nx\r\n--${B}--`);
  refuse(`--${B}garbage\r\n`);
  refuse('no delimiter at all', true);
});

test('the encoder writes parts the parser (and a WHATWG FormData reader) reads back', async () => {
  const enc = new MultipartEncoder();
  const body = Buffer.concat([
    enc.field('purpose', 'fine-tune'),
    enc.field('we"ird\r\nname', 'v'),
    enc.fileHead('file', 'x"y.jsonl', 'bad\r\ntype'),
    Buffer.from('{"a":1}\n'),
    enc.fileEnd(),
    enc.close(),
  ]);
  const form = await new Response(body, { headers: { 'content-type': enc.contentType } }).formData();
  assert.equal(form.get('purpose'), 'fine-tune');
  // Escaped on the wire (no header or part of its own), decoded back by the reader.
  assert.ok(!body.toString('latin1').includes('we"ird'));
  assert.equal(form.get('we"ird\r\nname'), 'v');
  const file = form.get('file') as File;
  assert.equal(file.name, 'x"y.jsonl');
  assert.equal(file.type, 'application/octet-stream');
  assert.equal(await file.text(), '{"a":1}\n');
});
