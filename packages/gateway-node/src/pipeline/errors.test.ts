import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { chatJson, json, type MockUpstream, sleep, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

before(async () => {
  up = await startMockUpstream();
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkdead: { display_name: 'dead', api_key: 'k', provider: 'openai', api_base: 'http://127.0.0.1:1/v1' },
      pknobase: { display_name: 'nobase', api_key: 'k', provider: 'groq', adapter: 'openai' },
      pknoadapter: { display_name: 'noadapter', api_key: 'k', provider: 'mystery', api_base: 'http://x/v1' },
    },
    models: {
      dead: { display_name: 'dead-model', provider: 'openai', model_name: 'x', provider_key_id: 'pkdead' },
      slow: {
        display_name: 'slow-model',
        provider: 'openai',
        model_name: 'x',
        provider_key_id: 'pk1',
        timeout: 300,
      },
      nobase: { display_name: 'nobase', provider: 'groq', model_name: 'x', provider_key_id: 'pknobase' },
      noadapter: {
        display_name: 'noadapter',
        provider: 'mystery',
        model_name: 'x',
        provider_key_id: 'pknoadapter',
      },
      dangling: {
        display_name: 'dangling',
        provider: 'openai',
        model_name: 'x',
        provider_key_id: 'missing-pk',
      },
      iponly: {
        display_name: 'ip-only',
        provider: 'openai',
        model_name: 'x',
        provider_key_id: 'pk1',
        allowed_cidrs: ['10.0.0.0/8'],
      },
    },
  });
  g = await startTestGateway(
    buildSnapshot(docs),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: 4096 } }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

interface Reply {
  status: number;
  headers: Headers;
  body: { error?: { message: string; type: string; code?: string; param?: string } };
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const r = await fetch(g.base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CALLER_KEY}`, ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.headers.get('server'), 'AISIX/1.2.3', `Server header on ${r.status}`);
  assert.match(r.headers.get('x-aisix-request-id') ?? '', UUID);
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
}

const chat = (model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user', content: 'hi' }] });

test('caller auth failures: status, envelope, no fallback to x-api-key when Authorization is malformed', async () => {
  const cases: [Record<string, string>, number, string, string | undefined][] = [
    [{ authorization: '' }, 401, 'missing or malformed Authorization header', undefined],
    [{ authorization: 'Basic abc' }, 401, 'missing or malformed Authorization header', undefined],
    [{ authorization: 'Bearer   ' }, 401, 'missing or malformed Authorization header', undefined],
    [
      { authorization: 'sk-caller-1', 'x-api-key': CALLER_KEY },
      401,
      'missing or malformed Authorization header',
      undefined,
    ],
    [{ authorization: 'Bearer sk-unknown' }, 401, 'invalid API key', undefined],
    [{ authorization: 'Bearer sk-disabled' }, 401, 'API key has been disabled', 'api_key_disabled'],
    [{ authorization: 'Bearer sk-expired' }, 401, 'API key has expired', 'api_key_expired'],
  ];
  for (const [headers, status, message, code] of cases) {
    const h: Record<string, string> = { ...headers };
    const r = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...h },
      body: JSON.stringify(chat()),
    });
    const body = (await r.json()) as Reply['body'];
    assert.equal(r.status, status, JSON.stringify(headers));
    assert.deepEqual(body, { error: { message, type: 'invalid_api_key', ...(code ? { code } : {}) } });
    assert.equal(r.headers.get('server'), 'AISIX/1.2.3');
  }
  // x-api-key alone works (Anthropic SDK style).
  up.handle(chatJson());
  const ok = await post('/v1/chat/completions', chat(), { authorization: '', 'x-api-key': CALLER_KEY });
  assert.equal(ok.status, 401, 'empty Authorization header is present and malformed');
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': CALLER_KEY },
    body: JSON.stringify(chat()),
  });
  assert.equal(r.status, 200);
});

test('unauthenticated with a bad body is 401, not 400', async () => {
  const r = await post('/v1/chat/completions', '{not json', { authorization: 'Bearer nope' });
  assert.equal(r.status, 401);
});

test('model resolution and authorization: 404, 403 ACL, 403 ip_restricted', async () => {
  const nf = await post('/v1/chat/completions', chat('no-such'));
  assert.equal(nf.status, 404);
  assert.deepEqual(nf.body, { error: { message: 'model "no-such" not found', type: 'model_not_found' } });
  // An empty name is present and a string: it resolves to nothing (§2 steps 1 and 3).
  const empty = await post('/v1/chat/completions', chat(''));
  assert.equal(empty.status, 404);
  assert.deepEqual(empty.body, { error: { message: 'model "" not found', type: 'model_not_found' } });
  const acl = await post('/v1/chat/completions', chat('secret-model'));
  assert.equal(acl.status, 403);
  assert.deepEqual(acl.body, {
    error: { message: 'API key is not allowed to use model "secret-model"', type: 'permission_denied' },
  });
  const ip = await post('/v1/chat/completions', chat('ip-only'));
  assert.equal(ip.status, 403);
  assert.equal(ip.body.error?.code, 'ip_restricted');
  assert.ok(!ip.body.error?.message.includes('10.0.0.0'));
});

test('bad input: malformed JSON, non-UTF-8, wrong types, missing model, empty messages, wrong content type', async () => {
  // The reference's text, then which field and why (docs/decisions.md); never the caller's values.
  const bad: [string | Uint8Array, Record<string, string>, string][] = [
    ['{"model": "gpt-4o-mini", "messages": [', {}, 'malformed JSON'],
    [new Uint8Array([0x7b, 0x22, 0x6d, 0xff, 0xfe, 0x22, 0x7d]), {}, 'the body is not valid UTF-8'],
    [JSON.stringify({ model: 'gpt-4o-mini', messages: 'hi' }), {}, '`messages` must be an array'],
    [JSON.stringify({ model: 'gpt-4o-mini' }), {}, 'missing field `messages`'],
    [JSON.stringify({ model: 42, messages: [] }), {}, '`model` must be a string'],
    [JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }), {}, 'missing field `model`'],
    [JSON.stringify({ ...chat(), stream: 'yes' }), {}, '`stream` must be a boolean'],
    [JSON.stringify({ ...chat(), temperature: 'hot' }), {}, '`temperature` must be a number'],
    [
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'a' }, { role: 'wizard' }],
      }),
      {},
      '`messages[1].role` must be one of system, developer, user, assistant, tool',
    ],
    [JSON.stringify(chat()), { 'content-type': 'text/plain' }, 'Content-Type must be application/json'],
    ['[]', {}, 'the body must be a JSON object'],
  ];
  for (const [body, headers, what] of bad) {
    const r = await post('/v1/chat/completions', body, headers);
    assert.equal(r.status, 400, String(body));
    assert.deepEqual(r.body, {
      error: {
        message: `request payload is invalid: invalid JSON request body: ${what}`,
        type: 'invalid_request_error',
      },
    });
  }
  // No Content-Type at all.
  const bare = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}` },
    body: new Blob([JSON.stringify(chat())]),
  });
  assert.equal(bare.status, 400);
  assert.equal(
    ((await bare.json()) as { error: { message: string } }).error.message,
    'request payload is invalid: invalid JSON request body: missing Content-Type: application/json',
  );
  const empty = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] });
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error?.message, 'request payload is invalid: messages array must not be empty');
  const tokens = await post('/v1/embeddings', { model: 'emb', input: [[1, 2, 3]] });
  assert.equal(tokens.status, 400);
});

test('body over the cap: 413 before auth, also for chunked bodies; upstream untouched', async () => {
  const before = up.requests.length;
  const big = JSON.stringify({ ...chat(), pad: 'x'.repeat(10_000) });
  const declared = await post('/v1/chat/completions', big, { authorization: 'Bearer nope' });
  assert.equal(declared.status, 413);
  assert.deepEqual(declared.body, {
    error: { message: 'request body exceeds 4096-byte limit', type: 'invalid_request_error' },
  });
  const chunked = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CALLER_KEY}` },
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1000)));
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal(up.requests.length, before);
});

test('upstream 4xx pass through with derived code; 5xx → 502; 429 keeps Retry-After', async () => {
  const cases: [number, unknown, Record<string, string>, number, Reply['body']][] = [
    [
      400,
      {
        error: {
          message: 'bad param',
          type: 'invalid_request_error',
          code: 'bad_param',
          param: 'temperature',
        },
      },
      {},
      400,
      { error: { message: 'bad param', type: 'upstream_error', code: 'bad_param', param: 'temperature' } },
    ],
    [
      401,
      '{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}',
      { 'content-type': 'text/plain' },
      401,
      { error: { message: 'Incorrect API key', type: 'upstream_error', code: 'invalid_api_key' } },
    ],
    [
      404,
      'model missing upstream',
      { 'content-type': 'text/html' },
      404,
      { error: { message: 'model missing upstream', type: 'upstream_error' } },
    ],
    [
      429,
      { error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } },
      { 'retry-after': '7' },
      429,
      { error: { message: 'slow down', type: 'upstream_error', code: 'rate_limit_exceeded' } },
    ],
    [
      500,
      { error: { message: 'secret upstream detail' } },
      {},
      502,
      { error: { message: 'upstream returned 500', type: 'upstream_error' } },
    ],
    [503, 'x', {}, 502, { error: { message: 'upstream returned 503', type: 'upstream_error' } }],
  ];
  for (const [status, body, headers, expStatus, expBody] of cases) {
    up.handle((_req, res) => json(res, status, body, headers));
    const r = await post('/v1/chat/completions', chat());
    assert.equal(r.status, expStatus, `upstream ${status}`);
    assert.deepEqual(r.body, expBody, `upstream ${status}`);
    if (status === 429) assert.equal(r.headers.get('retry-after'), '7');
  }
});

test('an OpenAI-family 2xx whose body is an error object is a failed call, not a success', async () => {
  // Some OpenAI-compatible upstreams answer 200 with `{"error": {...}}`: §6.2 reads that payload
  // as an in-band error (an embedded 400–599 code is the status), never as a completion.
  const cases: [unknown, number, Reply['body']][] = [
    [
      { error: { message: 'quota gone', type: 'insufficient_quota' } },
      502,
      { error: { message: 'quota gone', type: 'upstream_error' } },
    ],
    [
      { error: { message: 'slow down', code: 429 } },
      429,
      { error: { message: 'slow down', type: 'upstream_error' } },
    ],
    [{ error: 'plain failure' }, 502, { error: { message: 'plain failure', type: 'upstream_error' } }],
    [
      { error: { message: 'no credit', code: 'insufficient_quota' } },
      502,
      { error: { message: 'no credit', type: 'upstream_error', code: 'insufficient_quota' } },
    ],
  ];
  for (const [body, status, expected] of cases) {
    up.handle((_req, res) => json(res, 200, body));
    const r = await post('/v1/chat/completions', chat());
    assert.equal(r.status, status, JSON.stringify(body));
    assert.deepEqual(r.body, expected);
    const emb = await post('/v1/embeddings', { model: 'emb', input: 'x' });
    assert.equal(emb.status, status, `embeddings ${JSON.stringify(body)}`);
    assert.deepEqual(emb.body, expected);
    const msg = await post('/v1/messages', {
      model: 'gpt-4o-mini',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(msg.status, status, `messages ${JSON.stringify(body)}`);
    assert.equal((msg.body as unknown as { type: string }).type, 'error');
  }
});

test('an upstream redirect (3xx) is a bad gateway answer, not relayed as a 3xx to the caller', async () => {
  // The gateway follows no redirect (the provider key names the upstream) and the caller cannot
  // either: §7.3 carries 4xx through and makes every other non-2xx a 502 `upstream_error`.
  for (const status of [301, 302, 307, 308]) {
    up.handle((_req, res) => {
      res.writeHead(status, { location: 'http://127.0.0.1:1/elsewhere', 'content-length': 0 });
      res.end();
    });
    const expected = { error: { message: `upstream returned ${status}`, type: 'upstream_error' } };
    const unary = await post('/v1/chat/completions', chat());
    assert.equal(unary.status, 502, `chat ${status}`);
    assert.deepEqual(unary.body, expected);
    assert.equal(unary.headers.get('location'), null);
    const stream = await post('/v1/chat/completions', { ...chat(), stream: true });
    assert.equal(stream.status, 502, `stream ${status}`);
    assert.deepEqual(stream.body, expected);
    const emb = await post('/v1/embeddings', { model: 'emb', input: 'x' });
    assert.equal(emb.status, 502, `embeddings ${status}`);
    assert.deepEqual(emb.body, expected);
    const msg = await post('/v1/messages', {
      model: 'gpt-4o-mini',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(msg.status, 502, `messages ${status}`);
    assert.deepEqual(msg.body, {
      type: 'error',
      error: { type: 'api_error', message: `upstream returned ${status}` },
    });
  }
});

test('upstream timeout → 504 quickly; connection refused → 502 generic message', async () => {
  up.handle(async (req, res) => {
    await sleep(2000);
    chatJson()(req, res);
  });
  const t0 = Date.now();
  const slow = await post('/v1/chat/completions', chat('slow-model'), { authorization: 'Bearer sk-all' });
  assert.equal(slow.status, 504);
  assert.deepEqual(slow.body, {
    error: { message: 'upstream request timed out after 300ms', type: 'timeout' },
  });
  assert.ok(Date.now() - t0 < 1500);
  const dead = await post('/v1/chat/completions', chat('dead-model'), { authorization: 'Bearer sk-all' });
  assert.equal(dead.status, 502);
  assert.deepEqual(dead.body, {
    error: { message: 'transport error: could not reach the upstream', type: 'transport_error' },
  });
});

test('configuration faults: missing base for a vendor 400, no adapter 503, dangling provider key 400', async () => {
  const nb = await post('/v1/chat/completions', chat('nobase'), { authorization: 'Bearer sk-all' });
  assert.equal(nb.status, 400);
  assert.match(
    nb.body.error?.message ?? '',
    /^invalid upstream configuration: provider_key for vendor "groq"/,
  );
  const na = await post('/v1/chat/completions', chat('noadapter'), { authorization: 'Bearer sk-all' });
  assert.equal(na.status, 503);
  assert.deepEqual(na.body, {
    error: { message: 'no bridge registered for provider', type: 'provider_unavailable' },
  });
  const d = await post('/v1/chat/completions', chat('dangling'));
  assert.equal(d.status, 400);
  assert.equal(
    d.body.error?.message,
    'request payload is invalid: model "dangling" references unknown provider_key_id "missing-pk"',
  );
});

test('unknown route 404 and wrong method 405 in the OpenAI envelope; /health does not exist', async () => {
  for (const path of ['/health', '/v1/nope', '/v1/models/gpt-4o-mini', '/v1/chat/completions/']) {
    const r = await fetch(g.base + path);
    assert.equal(r.status, 404, path);
    assert.equal(((await r.json()) as Reply['body']).error?.type, 'not_found');
    assert.equal(r.headers.get('server'), 'AISIX/1.2.3');
    assert.match(r.headers.get('x-aisix-request-id') ?? '', UUID);
  }
  const m = await fetch(`${g.base}/v1/chat/completions`);
  assert.equal(m.status, 405);
  assert.equal(((await m.json()) as Reply['body']).error?.type, 'method_not_allowed');
  const anth = await fetch(`${g.base}/v1/messages/nope`);
  assert.deepEqual(await anth.json(), {
    type: 'error',
    error: { type: 'not_found_error', message: 'the requested resource does not exist' },
  });
});

test('HEAD on a GET route is that GET without a body; a wrong method names GET, HEAD in Allow', async () => {
  for (const path of ['/livez', '/readyz']) {
    const r = await fetch(g.base + path, { method: 'HEAD' });
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8', path);
    assert.equal(await r.text(), '', path);
    assert.equal(r.headers.get('server'), 'AISIX/1.2.3');
    assert.match(r.headers.get('x-aisix-request-id') ?? '', UUID);
  }
  const models = await fetch(`${g.base}/v1/models`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${CALLER_KEY}` },
  });
  assert.equal(models.status, 200);
  assert.equal(models.headers.get('content-type'), 'application/json');
  assert.equal(await models.text(), '');
  // Authentication still applies.
  assert.equal((await fetch(`${g.base}/v1/models`, { method: 'HEAD' })).status, 401);
  const wrong = await fetch(`${g.base}/livez`, { method: 'POST' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
  // A POST route stays POST only.
  const head = await fetch(`${g.base}/v1/chat/completions`, { method: 'HEAD' });
  assert.equal(head.status, 405);
  assert.equal(head.headers.get('allow'), 'POST');
});

test('the official client surfaces gateway errors as typed API errors', async () => {
  const client = new OpenAI({ apiKey: 'sk-unknown', baseURL: `${g.base}/v1`, maxRetries: 0 });
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    (e: unknown) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      return true;
    },
  );
});
