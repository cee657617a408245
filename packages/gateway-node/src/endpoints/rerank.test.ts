import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, startTestGateway } from '../test/fixtures.js';
import { EXT_KEY, extendedDocs, type RawUpstream, sendJsonBody, startRawUpstream } from '../test/mock-raw.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const RERANKED = {
  id: 'rr-1',
  model: 'rerank-v3-2025',
  results: [
    { index: 1, relevance_score: 0.9 },
    { index: 0, relevance_score: 0.1 },
  ],
  usage: { total_tokens: 17 },
};

let up: RawUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startRawUpstream((_req, res) => sendJsonBody(res, 200, RERANKED));
  g = await startTestGateway(buildSnapshot(extendedDocs(up.url)));
  client = new OpenAI({ apiKey: EXT_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const rerankBody = (model: string) => ({
  model,
  query: 'which is a fruit?',
  documents: ['a car', 'an apple'],
  top_n: 2,
  return_documents: false,
  vendor_extra: { keep: true },
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

test('rerank: verbatim forward to <base>/rerank, model rewritten, provider key only, answer untouched', async () => {
  up.handle((_req, res) => sendJsonBody(res, 200, RERANKED, { server: 'upstream/9', 'x-upstream': 'y' }));
  const before = up.requests.length;
  const { data, response } = await client
    .post('/rerank', { body: rerankBody('rr'), headers: { 'x-aisix-request-id': 'spoofed' } })
    .withResponse();
  assert.deepEqual(data, RERANKED);
  assert.equal(response.headers.get('server'), 'AISIX/1.2.3');
  const rid = response.headers.get('x-aisix-request-id') ?? '';
  assert.match(rid, UUID);
  assert.equal(response.headers.get('x-upstream'), null);
  assert.equal(up.requests.length, before + 1);
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/v1/rerank');
  assert.equal(seen?.headers.authorization, 'Bearer sk-upstream-secret');
  assert.equal(seen?.headers['x-aisix-request-id'], rid);
  assert.equal(seen?.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(seen?.raw.toString() ?? ''), { ...rerankBody('rr'), model: 'rerank-v3' });
});

test('rerank: unauthenticated → 401 before the body is read, with Server and request id', async () => {
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${g.base}/v1`, maxRetries: 0 });
  const e = await apiError(bad.post('/rerank', { body: rerankBody('rr') }));
  assert.equal(e.status, 401);
  assert.equal((e.error as { type?: string }).type, 'invalid_api_key');
  assert.equal(e.headers?.get('server'), 'AISIX/1.2.3');
  assert.match(e.headers?.get('x-aisix-request-id') ?? '', UUID);
});

test('rerank: model outside allowed_models → 403, unknown model → 404, neither reaches upstream', async () => {
  const n = up.requests.length;
  const denied = await apiError(client.post('/rerank', { body: rerankBody('secret-model') }));
  assert.equal(denied.status, 403);
  assert.equal((denied.error as { type?: string }).type, 'permission_denied');
  const missing = await apiError(client.post('/rerank', { body: rerankBody('nope') }));
  assert.equal(missing.status, 404);
  assert.equal((missing.error as { type?: string }).type, 'model_not_found');
  assert.equal(up.requests.length, n);
});

test('rerank: allowed_cidrs excluding the caller → 403 ip_restricted', async () => {
  const e = await apiError(client.post('/rerank', { body: rerankBody('ip-model') }));
  assert.equal(e.status, 403);
  assert.equal(e.code, 'ip_restricted');
});

test('rerank: a family without the capability → 501 not_implemented, upstream untouched', async () => {
  const n = up.requests.length;
  const e = await apiError(client.post('/rerank', { body: rerankBody('claude') }));
  assert.equal(e.status, 501);
  assert.equal((e.error as { type?: string }).type, 'not_implemented');
  assert.equal(e.message.includes('does not support rerank'), true);
  assert.equal(up.requests.length, n);
});

test('rerank: a routing group is refused (single-model endpoint) → 400', async () => {
  const e = await apiError(client.post('/rerank', { body: rerankBody('ext-grp') }));
  assert.equal(e.status, 400);
  assert.equal((e.error as { type?: string }).type, 'invalid_request_error');
});

test('rerank: missing query/documents → 400 invalid_request_error', async () => {
  const e = await apiError(client.post('/rerank', { body: { model: 'rr', query: 'x' } }));
  assert.equal(e.status, 400);
  assert.equal((e.error as { type?: string }).type, 'invalid_request_error');
});

test('rerank: upstream 4xx passes through typed upstream_error with its code, not retried', async () => {
  up.handle((_req, res) =>
    sendJsonBody(res, 400, {
      error: { message: 'documents too long', type: 'invalid_request_error', code: 'too_long' },
    }),
  );
  const n = up.requests.length;
  const e = await apiError(client.post('/rerank', { body: rerankBody('rr-retry') }));
  assert.equal(e.status, 400);
  assert.equal((e.error as { type?: string }).type, 'upstream_error');
  assert.equal(e.code, 'too_long');
  assert.match(e.message, /documents too long/);
  assert.equal(up.requests.length, n + 1);
});

test('rerank: upstream 429 is never retried on a single model and keeps Retry-After', async () => {
  up.handle((_req, res) =>
    sendJsonBody(
      res,
      429,
      { error: { message: 'slow down', code: 'rate_limit_exceeded' } },
      { 'retry-after': '1' },
    ),
  );
  const n = up.requests.length;
  const e = await apiError(client.post('/rerank', { body: rerankBody('rr-retry') }));
  assert.equal(e.status, 429);
  assert.equal(e.headers?.get('retry-after'), '1');
  assert.equal(up.requests.length, n + 1);
});

test('rerank: upstream 5xx → 502 after the model retry budget (same target, no body echo)', async () => {
  up.handle((_req, res) => sendJsonBody(res, 503, { error: { message: 'internal secret detail' } }));
  const n = up.requests.length;
  const e = await apiError(client.post('/rerank', { body: rerankBody('rr-retry') }));
  assert.equal(e.status, 502);
  assert.equal((e.error as { type?: string }).type, 'upstream_error');
  assert.doesNotMatch(e.message, /secret detail/);
  assert.equal(up.requests.length, n + 2);
});

test('rerank: a retry that succeeds answers 200', async () => {
  let calls = 0;
  up.handle((_req, res) => {
    calls++;
    if (calls === 1) sendJsonBody(res, 500, { error: { message: 'boom' } });
    else sendJsonBody(res, 200, RERANKED);
  });
  const data = await client.post('/rerank', { body: rerankBody('rr-retry') });
  assert.deepEqual(data, RERANKED);
  assert.equal(calls, 2);
});

test('rerank: upstream slower than the model timeout → 504 timeout', async () => {
  up.handle(async (_req, res) => {
    await new Promise((r) => setTimeout(r, 1500));
    if (!res.destroyed) sendJsonBody(res, 200, RERANKED);
  });
  const e = await apiError(client.post('/rerank', { body: rerankBody('rr-slow') }));
  assert.equal(e.status, 504);
  assert.equal((e.error as { type?: string }).type, 'timeout');
});
