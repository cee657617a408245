/**
 * Reading a request body however its bytes arrive: with the headers in one write (taken from
 * the stream's buffer at once), trickling in after them, pipelined behind another request,
 * chunked, and over the cap. What reaches the upstream is the caller's body, whole.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, test } from 'node:test';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { chatJson, type MockUpstream, sleep, startMockUpstream } from '../test/mock-upstream.js';
import { packetParsed, takeBufferedBody } from './body.js';

let up: MockUpstream;
let g: Started;
const LIMIT = 400;

before(async () => {
  up = await startMockUpstream(chatJson());
  g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: LIMIT } }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const body = (marker: string) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: marker }] });

const head = (length: number | 'chunked') =>
  'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
  `authorization: Bearer ${CALLER_KEY}\r\n` +
  (length === 'chunked' ? 'transfer-encoding: chunked\r\n' : `content-length: ${length}\r\n`) +
  '\r\n';

/** Writes `parts` (a number: a pause in ms) and collects the answer until `statuses` are in. */
async function exchange(parts: (string | Buffer | number)[], statuses: number): Promise<number[]> {
  const sock = connect(Number(new URL(g.base).port), '127.0.0.1');
  let got = '';
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      got += d.toString();
      if ((got.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= statuses && got.endsWith('}')) resolve();
    });
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  for (const p of parts) {
    if (typeof p === 'number') await sleep(p);
    else sock.write(p);
  }
  await done;
  sock.destroy();
  return [...got.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

const seenMarkers = (from: number) =>
  up.requests.slice(from).map((r) => (r.json?.messages as { content: string }[] | undefined)?.[0]?.content);

test('a body written with its headers reaches the upstream whole', async () => {
  const n = up.requests.length;
  const b = body('one-write');
  assert.deepEqual(await exchange([head(Buffer.byteLength(b)) + b], 1), [200]);
  assert.deepEqual(seenMarkers(n), ['one-write']);
});

test('a body trickling in after its headers is waited for', async () => {
  const n = up.requests.length;
  const bytes = Buffer.from(body('trickled-é'));
  // Part of the body comes with the headers; the second cut falls inside the two-byte é.
  const cut = bytes.indexOf(Buffer.from('é')) + 1;
  const statuses = await exchange(
    [
      Buffer.concat([Buffer.from(head(bytes.length)), bytes.subarray(0, 20)]),
      40,
      bytes.subarray(20, cut),
      40,
      bytes.subarray(cut),
    ],
    1,
  );
  assert.deepEqual(statuses, [200]);
  assert.deepEqual(seenMarkers(n), ['trickled-é']);
});

test('Expect: 100-continue: the gateway says continue, then reads the body sent after it', async () => {
  const n = up.requests.length;
  const b = body('after-continue');
  const h = head(Buffer.byteLength(b)).replace(/\r\n\r\n$/, '\r\nexpect: 100-continue\r\n\r\n');
  assert.deepEqual(await exchange([h, 60, b], 2), [100, 200]);
  assert.deepEqual(seenMarkers(n), ['after-continue']);
});

test('two requests pipelined in one write are both answered, in order', async () => {
  const n = up.requests.length;
  const a = body('first');
  const b = body('second');
  const statuses = await exchange([head(a.length) + a + head(b.length) + b], 2);
  assert.deepEqual(statuses, [200, 200]);
  assert.deepEqual(seenMarkers(n), ['first', 'second']);
});

test('a chunked body is read whole', async () => {
  const n = up.requests.length;
  const b = body('chunked');
  const chunked = `${(10).toString(16)}\r\n${b.slice(0, 10)}\r\n${(b.length - 10).toString(16)}\r\n${b.slice(10)}\r\n0\r\n\r\n`;
  assert.deepEqual(await exchange([head('chunked') + chunked], 1), [200]);
  assert.deepEqual(seenMarkers(n), ['chunked']);
});

test('a chunked body over request_body_limit_bytes is refused with 413, in one write or trickled', async () => {
  const n = up.requests.length;
  const b = body('x'.repeat(LIMIT));
  const chunked = `${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`;
  assert.deepEqual(await exchange([head('chunked') + chunked], 1), [413]);
  assert.deepEqual(await exchange([head('chunked'), 30, chunked], 1), [413]);
  assert.equal(up.requests.length, n);
});

test('an empty body with Content-Length: 0 is a 400, not a hang', async () => {
  assert.deepEqual(await exchange([head(0)], 1), [400]);
});

test('a body sent with its headers is buffered once the packet is parsed: taken without a read', async () => {
  // The pipeline relies on it: the first microtask after `request` finds the body whole.
  const seen: { sync: boolean; afterParse: string | undefined }[] = [];
  const server = createServer(async (req, res) => {
    const sync = takeBufferedBody(req, 0) !== undefined;
    await packetParsed;
    const b = takeBufferedBody(req, 0);
    seen.push({ sync, afterParse: b instanceof Buffer ? b.toString() : undefined });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const b = body('packet');
  const sock = connect(port, '127.0.0.1');
  sock.end(head(Buffer.byteLength(b)) + b);
  await new Promise<void>((r) => sock.on('close', r).resume());
  await new Promise<void>((r) => server.close(() => r()));
  assert.deepEqual(seen, [{ sync: false, afterParse: b }]);
});
