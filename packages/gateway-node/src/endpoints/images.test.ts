import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, startTestGateway } from '../test/fixtures.js';
import { EXT_KEY, extendedDocs, type RawUpstream, sendJsonBody, startRawUpstream } from '../test/mock-raw.js';

const IMAGE = {
  created: 1700000000,
  data: [{ b64_json: Buffer.from('not really a png').toString('base64'), revised_prompt: 'a red cat' }],
  usage: { input_tokens: 7, output_tokens: 100, total_tokens: 107 },
};

let up: RawUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startRawUpstream((_req, res) => sendJsonBody(res, 200, IMAGE));
  g = await startTestGateway(buildSnapshot(extendedDocs(up.url)));
  client = new OpenAI({ apiKey: EXT_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  assert.fail('expected an API error');
}

test('images.generate: JSON passthrough with model rewritten, answer untouched', async () => {
  up.handle((_req, res) => sendJsonBody(res, 200, IMAGE));
  const { data, response } = await client.images
    .generate({ model: 'img', prompt: 'a cat', size: '1024x1024', response_format: 'b64_json', n: 1 })
    .withResponse();
  assert.deepEqual(data, IMAGE);
  assert.equal(response.headers.get('server'), 'AISIX/1.2.3');
  const rid = response.headers.get('x-aisix-request-id');
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/v1/images/generations');
  assert.equal(seen?.headers.authorization, 'Bearer sk-upstream-secret');
  assert.equal(seen?.headers['x-aisix-request-id'], rid);
  assert.deepEqual(JSON.parse(seen?.raw.toString() ?? ''), {
    model: 'dall-e-3',
    prompt: 'a cat',
    size: '1024x1024',
    response_format: 'b64_json',
    n: 1,
  });
});

test('images: upstream usage reaches the token metrics', async () => {
  const tokens = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(name) && l.includes('endpoint="/v1/images/generations"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const input = await tokens('aisix_llm_input_tokens_total');
  const output = await tokens('aisix_llm_output_tokens_total');
  up.handle((_req, res) => sendJsonBody(res, 200, IMAGE));
  await client.images.generate({ model: 'img', prompt: 'a dog' });
  assert.equal((await tokens('aisix_llm_input_tokens_total')) - input, 7);
  assert.equal((await tokens('aisix_llm_output_tokens_total')) - output, 100);
});

test('images: missing prompt → 400; unauthenticated → 401; unknown model → 404', async () => {
  const n = up.requests.length;
  const noPrompt = await apiError(client.post('/images/generations', { body: { model: 'img' } }));
  assert.equal(noPrompt.status, 400);
  const bad = new OpenAI({ apiKey: 'sk-nobody', baseURL: `${g.base}/v1`, maxRetries: 0 });
  const unauth = await apiError(bad.images.generate({ model: 'img', prompt: 'x' }));
  assert.equal(unauth.status, 401);
  const missing = await apiError(client.images.generate({ model: 'nope', prompt: 'x' }));
  assert.equal(missing.status, 404);
  const denied = await apiError(client.images.generate({ model: 'secret-model', prompt: 'x' }));
  assert.equal(denied.status, 403);
  assert.equal(up.requests.length, n);
});

test('images: a family without the capability → 501', async () => {
  const e = await apiError(client.images.generate({ model: 'claude', prompt: 'x' }));
  assert.equal(e.status, 501);
  assert.equal((e.error as { type?: string }).type, 'not_implemented');
});

test('images: upstream 4xx passthrough (content policy), 5xx → 502', async () => {
  up.handle((_req, res) =>
    sendJsonBody(res, 400, {
      error: { message: 'Your request was rejected by the safety system', code: 'content_policy_violation' },
    }),
  );
  const policy = await apiError(client.images.generate({ model: 'img', prompt: 'x' }));
  assert.equal(policy.status, 400);
  assert.equal(policy.code, 'content_policy_violation');
  assert.equal((policy.error as { type?: string }).type, 'upstream_error');
  up.handle((_req, res) => sendJsonBody(res, 500, { error: { message: 'oops' } }));
  const five = await apiError(client.images.generate({ model: 'img', prompt: 'x' }));
  assert.equal(five.status, 502);
});
