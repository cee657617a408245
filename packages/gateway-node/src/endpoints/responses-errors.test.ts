/**
 * Errors on `/v1/responses` use the OpenAI envelope: our own refusals, verbatim-path upstream
 * errors parsed with the OpenAI wire parser, 5xx → 502, and failures after commit as a Responses
 * `error` event (plus `response.failed` once the response had started), never `[DONE]`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { ALL_KEY, type DialectRig, startDialectRig } from '../test/dialect-fixtures.js';
import { responsesSse } from '../test/mock-responses.js';
import { chatSse, json } from '../test/mock-upstream.js';

let rig: DialectRig;
let client: OpenAI;

before(async () => {
  rig = await startDialectRig();
  client = new OpenAI({ apiKey: ALL_KEY, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });
});

after(() => rig.close());

test('401 and unknown model in the OpenAI envelope', async () => {
  const r = await fetch(`${rig.g.base}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'ds', input: 'x' }),
  });
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), {
    error: { message: 'missing or malformed Authorization header', type: 'invalid_api_key' },
  });
  await assert.rejects(client.responses.create({ model: 'nope', input: 'x' }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.type, 'model_not_found');
    return true;
  });
});

test('verbatim upstream 4xx: status kept, message and code parsed from the OpenAI body', async () => {
  rig.up.handle((_req, res) =>
    json(res, 400, {
      error: {
        message: 'Unsupported parameter: foo',
        type: 'invalid_request_error',
        code: 'unsupported_parameter',
        param: 'foo',
      },
    }),
  );
  await assert.rejects(client.responses.create({ model: 'mock/fast', input: 'x' }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.message.includes('Unsupported parameter: foo'), true);
    assert.equal(e.type, 'upstream_error');
    assert.equal(e.code, 'unsupported_parameter');
    assert.equal(e.param, 'foo');
    return true;
  });
});

test('bridged body problems are 400 invalid Responses body', async () => {
  await assert.rejects(client.responses.create({ model: 'ds', input: [] }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.match(e.message, /invalid Responses body: input: must not be empty/);
    return true;
  });
});

test('upstream 500 → 502 upstream_error on both paths', async () => {
  rig.up.handle((_req, res) => json(res, 500, { error: { message: 'boom' } }));
  for (const model of ['mock/fast', 'ds']) {
    await assert.rejects(client.responses.create({ model, input: 'x' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 502);
      assert.equal(e.type, 'upstream_error');
      return true;
    });
  }
});

test('truncated bridged stream ends with error + response.failed events, no [DONE]', async () => {
  rig.up.handle(chatSse({ words: ['a', 'b', 'c'], dropAfter: 1 }));
  const r = await fetch(`${rig.g.base}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ALL_KEY}` },
    body: JSON.stringify({ model: 'ds', input: 'x', stream: true }),
  });
  assert.equal(r.status, 200);
  const frames = (await r.text()).trimEnd().split('\n\n');
  assert.ok(!frames.some((f) => f.includes('[DONE]')));
  const names = frames.map((f) => f.slice(7, f.indexOf('\n')));
  assert.deepEqual(names.slice(-2), ['error', 'response.failed']);
  const last = frames.at(-1) ?? '';
  const failed = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as {
    response: { status: string; error: { code: string } };
  };
  assert.equal(failed.response.status, 'failed');
  assert.equal(failed.response.error.code, 'transport_error');
});

test('verbatim stream the upstream ends cleanly before its terminal event: an error event, not a silent cut', async () => {
  // response.created, .in_progress, output_item.added, content_part.added, one delta: then EOF.
  rig.up.handle(responsesSse(['Hel', 'lo'], 0, 5));
  const r = await fetch(`${rig.g.base}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ALL_KEY}` },
    body: JSON.stringify({ model: 'mock/fast', input: 'x', stream: true }),
  });
  assert.equal(r.status, 200);
  const frames = (await r.text()).trimEnd().split('\n\n');
  const names = frames.map((f) => f.slice(7, f.indexOf('\n')));
  assert.ok(names.includes('response.output_text.delta'));
  assert.equal(names.at(-1), 'error');
  const last = frames.at(-1) ?? '';
  const err = JSON.parse(last.slice(last.indexOf('data: ') + 6)) as {
    type: string;
    code: string;
    sequence_number: number;
  };
  assert.equal(err.type, 'error');
  assert.equal(err.code, 'upstream_decode_error');
  assert.equal(err.sequence_number, 5, 'continues the upstream numbering');

  rig.up.handle(responsesSse(['Hel', 'lo'], 0, 5));
  await assert.rejects(client.responses.stream({ model: 'mock/fast', input: 'x' }).finalResponse());
});
