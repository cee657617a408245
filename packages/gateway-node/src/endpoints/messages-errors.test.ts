/**
 * Every error on `/v1/messages` uses the Anthropic envelope (`{type:"error", error:{type,
 * message}}`): our own auth, body, routing and size refusals, upstream errors on both the bridged
 * and the native path, and failures after the stream was committed (an `event: error` frame,
 * never a `[DONE]`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ALL_KEY, type DialectRig, startDialectRig } from '../test/dialect-fixtures.js';
import { buildSnapshot, standardDocs, startTestGateway, testConfig } from '../test/fixtures.js';
import { anthropicError } from '../test/mock-anthropic.js';
import { chatSse, json } from '../test/mock-upstream.js';

let rig: DialectRig;
let client: Anthropic;

before(async () => {
  rig = await startDialectRig();
  client = new Anthropic({ apiKey: ALL_KEY, baseURL: rig.g.base, maxRetries: 0 });
});

after(() => rig.close());

const hello = { max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] };

async function raw(path: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${rig.g.base}${path}`, init);
  return { status: r.status, body: await r.json() };
}

test('401 from our auth (missing and unknown key) in the Anthropic envelope', async () => {
  const missing = await raw('/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', ...hello }),
  });
  assert.equal(missing.status, 401);
  assert.deepEqual(missing.body, {
    type: 'error',
    error: { type: 'authentication_error', message: 'missing or malformed Authorization header' },
  });
  const bad = new Anthropic({ apiKey: 'sk-nope', baseURL: rig.g.base, maxRetries: 0 });
  await assert.rejects(bad.messages.create({ model: 'gpt-4o-mini', ...hello }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.AuthenticationError);
    assert.equal(e.type, 'authentication_error');
    assert.equal(e.apiMessage, 'invalid API key');
    return true;
  });
});

test('bad JSON, unknown model, wrong method and unknown sub-path use the Anthropic envelope', async () => {
  const headers = { 'content-type': 'application/json', 'x-api-key': ALL_KEY };
  const badJson = await raw('/v1/messages', { method: 'POST', headers, body: '{"model":' });
  assert.equal(badJson.status, 400);
  assert.deepEqual(badJson.body, {
    type: 'error',
    error: {
      type: 'invalid_request_error',
      message: 'request payload is invalid: invalid JSON request body: malformed JSON',
    },
  });
  await assert.rejects(client.messages.create({ model: 'nope', ...hello }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.NotFoundError);
    assert.equal(e.type, 'not_found_error');
    return true;
  });
  const get = await raw('/v1/messages', { method: 'GET', headers });
  assert.equal(get.status, 405);
  assert.equal((get.body as { type: string }).type, 'error');
  const sub = await raw('/v1/messages/batches', { method: 'POST', headers, body: '{}' });
  assert.equal(sub.status, 404);
  assert.equal((sub.body as { error: { type: string } }).error.type, 'not_found_error');
});

test('cross-provider body check: a missing messages array is a 400 invalid Anthropic body', async () => {
  const r = await raw('/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5 }),
  });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, {
    type: 'error',
    error: {
      type: 'invalid_request_error',
      message: 'request payload is invalid: invalid Anthropic body: messages: must be a non-empty array',
    },
  });
});

test('413 body over the cap in the Anthropic envelope', async () => {
  const small = await startTestGateway(
    buildSnapshot(standardDocs(rig.up.url)),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: 256 } }),
  );
  try {
    const r = await fetch(`${small.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
      body: JSON.stringify({ model: 'gpt-4o-mini', ...hello, pad: 'x'.repeat(1000) }),
    });
    assert.equal(r.status, 413);
    assert.deepEqual(await r.json(), {
      type: 'error',
      error: { type: 'request_too_large', message: 'request body exceeds 256-byte limit' },
    });
  } finally {
    await small.gw.close();
  }
});

test('upstream 429 with Retry-After (bridged): status, header and parsed message kept', async () => {
  rig.up.handle((_req, res) =>
    json(
      res,
      429,
      { error: { message: 'slow down', type: 'rate_limit', code: 'rate_limit_exceeded' } },
      {
        'retry-after': '7',
      },
    ),
  );
  await assert.rejects(client.messages.create({ model: 'gpt-4o-mini', ...hello }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.RateLimitError);
    assert.equal(e.type, 'rate_limit_error');
    assert.equal(e.apiMessage, 'slow down');
    assert.equal(e.headers?.get('retry-after'), '7');
    return true;
  });
});

test('upstream 4xx on the native path is parsed with the Anthropic wire parser', async () => {
  rig.anth.handle((_req, res) => anthropicError(res, 400, 'invalid_request_error', 'max_tokens: too large'));
  await assert.rejects(client.messages.create({ model: 'claude', ...hello }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.BadRequestError);
    assert.equal(e.apiMessage, 'max_tokens: too large');
    return true;
  });
});

test('upstream 500 becomes 502 api_error, body not echoed', async () => {
  rig.up.handle((_req, res) => json(res, 500, { error: { message: 'internal secret detail' } }));
  await assert.rejects(client.messages.create({ model: 'gpt-4o-mini', ...hello }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.APIError);
    assert.equal(e.status, 502);
    assert.equal(e.type, 'api_error');
    assert.equal(e.apiMessage, 'upstream returned 500');
    return true;
  });
  rig.anth.handle((_req, res) => anthropicError(res, 529, 'overloaded_error', 'Overloaded'));
  await assert.rejects(client.messages.create({ model: 'claude', ...hello }), (e: unknown) => {
    assert.ok(e instanceof Anthropic.APIError);
    assert.equal(e.status, 502);
    return true;
  });
});

test('truncated upstream stream ends with an Anthropic error event and no [DONE]', async () => {
  rig.up.handle(chatSse({ words: ['a', 'b', 'c'], dropAfter: 1 }));
  const r = await fetch(`${rig.g.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ALL_KEY },
    body: JSON.stringify({ model: 'gpt-4o-mini', ...hello, stream: true }),
  });
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.ok(text.includes('event: content_block_delta'), 'the first delta was delivered');
  assert.ok(!text.includes('[DONE]'));
  assert.ok(!text.includes('message_stop'));
  const last = text.trimEnd().split('\n\n').at(-1) ?? '';
  assert.match(last, /^event: error\ndata: /);
  const frame = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as {
    type: string;
    error: { type: string };
  };
  assert.equal(frame.type, 'error');
  assert.equal(frame.error.type, 'transport_error');

  rig.up.handle(chatSse({ words: ['a', 'b', 'c'], dropAfter: 1 }));
  await assert.rejects(
    client.messages.stream({ model: 'gpt-4o-mini', ...hello }).finalMessage(),
    (e: unknown) => {
      assert.ok(e instanceof Anthropic.APIError);
      return true;
    },
  );
});
