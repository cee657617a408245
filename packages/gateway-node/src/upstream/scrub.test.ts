/**
 * An upstream that echoes the credentials it received in its error text: the provider key never
 * reaches the caller (and so neither the access log, usage events nor exporters, which carry the
 * same message). JSON and streamed answers, errors before and after commit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { chunk, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { scrubCredentials } from './scrub.js';

const SECRET = 'sk-upstream-secret';
let up: MockUpstream;
let g: Started;

before(async () => {
  up = await startMockUpstream((_req, res) => json(res, 200, {}));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const post = (stream: boolean) =>
  fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'x' }] }),
  });

test('an upstream 401 that echoes the Authorization it got: the caller sees no provider key', async () => {
  up.handle((req, res) =>
    json(res, 401, {
      error: {
        message: `invalid header ${req.headers.authorization}; key ${SECRET} is revoked`,
        code: 'bad_key',
      },
    }),
  );
  for (const stream of [false, true]) {
    const r = await post(stream);
    assert.equal(r.status, 401);
    const text = await r.text();
    assert.ok(!text.includes(SECRET), text);
    assert.match(text, /invalid header \*\*\*\*; key \*\*\*\* is revoked/);
  }
});

test('an in-band stream error echoing the key, after commit: the error frame carries no key', async () => {
  up.handle((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk('up-model', { role: 'assistant', content: 'hi' }));
    res.end(`data: {"error":{"message":"quota for ${String(req.headers.authorization)} exhausted"}}\n\n`);
  });
  const r = await post(true);
  assert.equal(r.status, 200);
  const raw = await r.text();
  assert.match(raw, /event: error/);
  assert.ok(!raw.includes(SECRET), raw);
  assert.match(raw, /quota for \*\*\*\* exhausted/);
});

test('scrubCredentials: header values, bearer tokens and a `key` query parameter; short values left alone', () => {
  const prepared = {
    url: new URL('https://g.example/v1/x?key=AIzaSyQueryKey123'),
    headers: {
      authorization: 'Bearer tok-12345678',
      'x-api-key': 'anthropic-key-9999',
      'content-type': 'json',
    },
    body: '',
  };
  assert.equal(
    scrubCredentials(
      'a Bearer tok-12345678 b tok-12345678 c anthropic-key-9999 d AIzaSyQueryKey123 json',
      prepared,
    ),
    'a **** b **** c **** d **** json',
  );
});

test('scrubCredentials: a Bedrock session token (x-amz-security-token) is a credential too', () => {
  const prepared = {
    url: new URL('https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse'),
    headers: {
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/aws4_request',
      'x-amz-security-token': 'IQoJb3JpZ2luX2VjCANARY-SESSION-7f3a',
    },
  };
  assert.equal(
    scrubCredentials('security token IQoJb3JpZ2luX2VjCANARY-SESSION-7f3a is expired', prepared),
    'security token **** is expired',
  );
});
