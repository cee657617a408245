/**
 * The raw tunnel's edges: bad input gets the OpenAI envelope (401, unknown provider 404, ACL
 * 403, body over the cap 413 declared or chunked, upstream never contacted); upstream errors are
 * relayed as the provider wrote them (4xx and 429 with `Retry-After` never retried, 5xx retried
 * within the model's budget); the caller key's rate limit applies (429); an unreachable upstream
 * is 502; streamed answers reach the caller
 * before the upstream finished (no buffering); one bounded endpoint label in the metrics.
 */
import assert from 'node:assert/strict';
import { request, type ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { metric } from '../test/cache-rig.js';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { type RawRequest, type RawUpstream, sendJsonBody, startRawUpstream } from '../test/mock-raw.js';

const CALLER = 'sk-edges-all';
const NARROW = 'sk-edges-gpt-only';
const LIMITED = 'sk-edges-one-per-minute';
const LIMIT = 256;

let up: RawUpstream;
let g: Started;

const ok = (_req: RawRequest, res: ServerResponse) => sendJsonBody(res, 200, { ok: true });

function docs(upUrl: string): Docs {
  return {
    provider_keys: {
      oa: { display_name: 'oa', api_key: 'sk-up', provider: 'openai', api_base: `${upUrl}/v1` },
      an: { display_name: 'an', api_key: 'sk-ant', provider: 'anthropic', api_base: upUrl },
      dead: { display_name: 'dead', api_key: 'sk-x', adapter: 'openai', api_base: 'http://127.0.0.1:9/v1' },
    },
    models: {
      m1: {
        display_name: 'gpt',
        provider: 'openai',
        model_name: 'gpt-4o',
        provider_key_id: 'oa',
        retries: 1,
      },
      m2: { display_name: 'claude', provider: 'anthropic', model_name: 'c', provider_key_id: 'an' },
      m3: { display_name: 'dead', provider: 'deadvendor', model_name: 'd', provider_key_id: 'dead' },
    },
    api_keys: {
      k1: { key_hash: sha256(CALLER), allowed_models: ['*'] },
      k2: { key_hash: sha256(NARROW), allowed_models: ['gpt'] },
      k3: { key_hash: sha256(LIMITED), allowed_models: ['*'], rate_limit: { rpm: 1 } },
    },
  };
}

before(async () => {
  up = await startRawUpstream(ok);
  g = await startTestGateway(
    buildSnapshot(docs(up.url)),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: LIMIT } }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

function call(path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set('authorization', `Bearer ${init.key ?? CALLER}`);
  return fetch(`${g.base}${path}`, { ...init, headers });
}

async function envelope(r: Response): Promise<{ type: string; message: string }> {
  const j = (await r.json()) as { error: { type: string; message: string } };
  return j.error;
}

test('bad input: 401, unknown provider 404, ACL 403, body over the cap 413; upstream never called', async () => {
  const before = up.requests.length;
  const anon = await call('/passthrough/openai/v1/models', { key: null });
  assert.equal(anon.status, 401);
  assert.equal((await envelope(anon)).type, 'invalid_api_key');

  const unknown = await call('/passthrough/nosuch/v1/models');
  assert.equal(unknown.status, 404);
  assert.deepEqual(await envelope(unknown), {
    type: 'not_found',
    message: 'no model is configured for provider "nosuch"',
  });

  const denied = await call('/passthrough/anthropic/v1/messages', {
    key: NARROW,
    method: 'POST',
    body: '{}',
  });
  assert.equal(denied.status, 403);
  assert.deepEqual(await envelope(denied), {
    type: 'permission_denied',
    message: 'API key is not allowed to use any model of provider "anthropic"',
  });
  assert.equal((await call('/passthrough/openai/v1/models', { key: NARROW })).status, 200);

  const big = 'x'.repeat(LIMIT + 1);
  const declared = await call('/passthrough/openai/v1/files', { method: 'POST', body: big });
  assert.equal(declared.status, 413);
  assert.equal((await envelope(declared)).message, `request body exceeds ${LIMIT}-byte limit`);
  // No Content-Length: the cap is hit while reading.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(big));
      c.close();
    },
  });
  const chunked = await call('/passthrough/openai/v1/files', {
    method: 'POST',
    body: stream,
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal((await envelope(chunked)).type, 'invalid_request_error');
  assert.equal(up.requests.length, before + 1, 'only the allowed GET reached the upstream');
});

test('malformed path params (%ff in :provider or the rest) are 400 invalid_request_error, after 401 (§13 item 12)', async () => {
  const before = up.requests.length;
  for (const path of [
    '/passthrough/%ff/v1/models',
    '/passthrough/openai/v1/a%ffb',
    '/passthrough/openai/v1/%e2%28',
  ]) {
    const anon = await call(path, { key: null });
    assert.equal(anon.status, 401, `${path}: unauthenticated first`);
    const r = await call(path);
    assert.equal(r.status, 400, path);
    const e = await envelope(r);
    assert.equal(e.type, 'invalid_request_error', path);
    assert.match(e.message, /^malformed path parameter "/, path);
  }
  assert.equal(up.requests.length, before, 'nothing reached the upstream');
  // Well-formed escapes still go out as the caller encoded them.
  assert.equal((await call('/passthrough/openai/v1/models%2Fx')).status, 200);
  assert.equal(up.requests.at(-1)?.url, '/v1/models%2Fx');
});

test('upstream 4xx relayed verbatim; 429 keeps Retry-After and is never retried', async () => {
  up.handle((_req, res) => sendJsonBody(res, 400, { error: { message: 'native shape', type: 'bad' } }));
  const r400 = await call('/passthrough/openai/v1/chat/completions', { method: 'POST', body: '{}' });
  assert.equal(r400.status, 400);
  assert.deepEqual(await r400.json(), { error: { message: 'native shape', type: 'bad' } });

  up.handle((_req, res) => sendJsonBody(res, 429, { error: 'slow down' }, { 'retry-after': '7' }));
  const before = up.requests.length;
  const r429 = await call('/passthrough/openai/v1/chat/completions', { method: 'POST', body: '{}' });
  assert.equal(r429.status, 429);
  assert.equal(r429.headers.get('retry-after'), '7');
  assert.deepEqual(await r429.json(), { error: 'slow down' });
  assert.equal(up.requests.length, before + 1);
  up.handle(ok);
});

test("5xx is retried within the model's budget (retries: 1); the last one is relayed", async () => {
  let n = 0;
  up.handle((_req, res) => (n++ === 0 ? sendJsonBody(res, 503, { error: 'busy' }) : ok(_req, res)));
  const healed = await call('/passthrough/openai/v1/chat/completions', { method: 'POST', body: '{"a":1}' });
  assert.equal(healed.status, 200);
  assert.equal(n, 2);
  assert.deepEqual(up.requests.at(-1)?.raw.toString(), '{"a":1}', 'the same bytes are sent again');

  n = 0;
  up.handle((_req, res) => {
    n++;
    sendJsonBody(res, 503, { error: 'still busy' });
  });
  const failed = await call('/passthrough/openai/v1/chat/completions', { method: 'POST', body: '{}' });
  assert.equal(failed.status, 503);
  assert.deepEqual(await failed.json(), { error: 'still busy' });
  assert.equal(n, 2);
  up.handle(ok);
});

test('an unreachable upstream is 502 transport_error in the gateway envelope', async () => {
  const r = await call('/passthrough/deadvendor/v1/models');
  assert.equal(r.status, 502);
  assert.deepEqual(await envelope(r), {
    type: 'transport_error',
    message: 'transport error: could not reach the upstream',
  });
});

test('a streamed answer is relayed as it arrives (the first event before the upstream ends)', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  up.handle(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"n":1}\n\n');
    await gate;
    res.end('data: [DONE]\n\n');
  });
  const r = await call('/passthrough/openai/v1/chat/completions', {
    method: 'POST',
    body: '{"stream":true}',
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), 'data: {"n":1}\n\n');
  release();
  let rest = '';
  for (let c = await reader.read(); !c.done; c = await reader.read())
    rest += new TextDecoder().decode(c.value);
  assert.equal(rest, 'data: [DONE]\n\n');
  up.handle(ok);
});

test('a caller that goes away mid-stream aborts the upstream request', { timeout: 5000 }, async () => {
  let upstreamClosed: () => void = () => {};
  const closed = new Promise<void>((r) => {
    upstreamClosed = r;
  });
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"n":1}\n\n');
    res.on('close', () => upstreamClosed());
  });
  const ac = new AbortController();
  const r = await call('/passthrough/openai/v1/chat/completions', {
    method: 'POST',
    body: '{"stream":true}',
    signal: ac.signal,
  });
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  ac.abort();
  await closed;
  up.handle(ok);
});

test('HEAD and OPTIONS are tunnelled; a method outside the set is 405 with Allow', async () => {
  const head = await call('/passthrough/openai/v1/models', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(up.requests.at(-1)?.method, 'HEAD');
  assert.equal((await call('/passthrough/openai/v1/models', { method: 'OPTIONS' })).status, 200);
  const r = await new Promise<{ status: number; allow: string | undefined; body: string }>(
    (resolve, reject) => {
      const req = request(`${g.base}/passthrough/openai/v1/models`, {
        method: 'PROPFIND',
        headers: { authorization: `Bearer ${CALLER}` },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body }));
      });
      req.on('error', reject);
      req.end();
    },
  );
  assert.equal(r.status, 405);
  assert.equal(r.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  assert.equal((JSON.parse(r.body) as { error: { type: string } }).error.type, 'method_not_allowed');
});

test("the caller key's rate limit applies to the tunnel: 429 in the envelope, upstream not called", async () => {
  assert.equal((await call('/passthrough/openai/v1/models', { key: LIMITED })).status, 200);
  const before = up.requests.length;
  const r = await call('/passthrough/openai/v1/models', { key: LIMITED });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get('retry-after')) > 0);
  assert.equal((await envelope(r)).type, 'rate_limit_exceeded');
  assert.equal(up.requests.length, before);
});

test('metrics: every passthrough path shares one bounded endpoint label', async () => {
  await call('/passthrough/openai/v1/a/b/c');
  await call('/passthrough/openai/v1/x/y');
  const n = await metric(g, 'aisix_proxy_requests_total', { endpoint: '/passthrough/:provider/*rest' });
  assert.ok(n >= 2, `counted ${n}`);
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  assert.ok(!text.includes('/v1/a/b/c'), 'raw paths never become label values');
});

test('a non-ASCII Content-Disposition after Content-Length is relayed byte for byte, not a reset', async () => {
  const disposition = Buffer.from('attachment; filename="données €.jsonl"', 'utf8');
  up.handle((_req, res) => {
    res.socket?.end(
      Buffer.concat([
        Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/jsonl\r\ncontent-length: 8\r\n'),
        Buffer.from('content-disposition: '),
        disposition,
        Buffer.from('\r\n\r\n{"a":1}\n'),
      ]),
    );
  });
  try {
    const r = await fetch(`${g.base}/passthrough/openai/v1/files/file-1/content`, {
      headers: { authorization: `Bearer ${CALLER}` },
    });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '{"a":1}\n');
    assert.deepEqual(Buffer.from(String(r.headers.get('content-disposition')), 'latin1'), disposition);
  } finally {
    up.handle(ok);
  }
});
