/**
 * `/passthrough/:provider/*rest` against real local upstreams that record the raw bytes they
 * get: URL rules (base, repeated `vN/`, query), header rules both ways, the provider key's
 * credential per family (Bearer, Anthropic `x-api-key` + version, Google `x-goog-api-key`,
 * Azure `api-key`, Bedrock SigV4 checked by a server-side verifier), any method and binary
 * bodies, and the relayed answer (status, headers, bytes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { verifySigV4 } from '../test/mock-bedrock.js';
import { type RawRequest, type RawUpstream, sendJsonBody, startRawUpstream } from '../test/mock-raw.js';

const CALLER = 'sk-pt-caller';
const AWS = {
  access_key_id: 'AKIDPASSTHROUGH',
  secret_access_key: 'pt-secret-key-0123456789',
  region: 'us-west-2',
};

let up: RawUpstream;
let g: Started;

const echo = (req: RawRequest, res: import('node:http').ServerResponse) =>
  req.url.endsWith('/oauth2/v2.0/token')
    ? sendJsonBody(res, 200, { token_type: 'Bearer', expires_in: 3599, access_token: 'aad-token-1' })
    : sendJsonBody(
        res,
        201,
        { seen: req.url, method: req.method, bytes: req.raw.length },
        {
          'x-upstream-request-id': 'req_123',
          'set-cookie': 'session=upstream',
          server: 'upstream-server/1.0',
        },
      );

function docs(upUrl: string): Docs {
  const pk = (extra: Record<string, unknown>) => ({ display_name: String(extra.display_name), ...extra });
  return {
    provider_keys: {
      oa: pk({
        display_name: 'oa',
        api_key: 'sk-upstream-openai',
        provider: 'openai',
        api_base: `${upUrl}/v1`,
      }),
      an: pk({ display_name: 'an', api_key: 'sk-ant-upstream', provider: 'anthropic', api_base: upUrl }),
      gm: pk({
        display_name: 'gm',
        api_key: 'AIza-upstream',
        provider: 'gemini',
        api_base: `${upUrl}/v1beta`,
      }),
      az: pk({
        display_name: 'az',
        api_key: 'azure-upstream-key',
        adapter: 'azure-openai',
        api_base: upUrl,
        strip_headers: ['authorization', 'x-api-key', 'x-drop-me'],
      }),
      br: pk({ display_name: 'br', api_key: JSON.stringify(AWS), adapter: 'bedrock', api_base: upUrl }),
      ae: pk({
        display_name: 'ae',
        adapter: 'azure-openai',
        api_base: upUrl,
        api_key: JSON.stringify({
          tenant_id: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          client_id: 'app-1',
          client_secret: 'entra-secret',
          authority_host: upUrl,
        }),
      }),
      nb: pk({ display_name: 'nb', api_key: 'sk-groq', provider: 'groq', adapter: 'openai' }),
    },
    models: {
      m1: { display_name: 'gpt', provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'oa' },
      m2: { display_name: 'claude', provider: 'anthropic', model_name: 'claude-x', provider_key_id: 'an' },
      m3: { display_name: 'gem', provider: 'gemini', model_name: 'gemini-2.0', provider_key_id: 'gm' },
      m4: { display_name: 'az', provider: 'azure', model_name: 'dep', provider_key_id: 'az' },
      m5: { display_name: 'br', provider: 'bedrock', model_name: 'x', provider_key_id: 'br' },
      m7: { display_name: 'ae', provider: 'azure-entra', model_name: 'dep', provider_key_id: 'ae' },
      m6: { display_name: 'groq', provider: 'groq', model_name: 'llama', provider_key_id: 'nb' },
    },
    api_keys: { k1: { key_hash: sha256(CALLER), allowed_models: ['*'] } },
  };
}

before(async () => {
  up = await startRawUpstream(echo);
  g = await startTestGateway(buildSnapshot(docs(up.url)));
});

after(async () => {
  await g.gw.close();
  await up.close();
});

function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has('authorization') && !headers.has('x-api-key'))
    headers.set('authorization', `Bearer ${CALLER}`);
  return fetch(`${g.base}${path}`, { ...init, headers });
}

const last = () => up.requests.at(-1) as RawRequest;

describe('OpenAI family', () => {
  test('URL, query, headers both ways, Bearer of the key; the answer relayed as it is', async () => {
    const body = JSON.stringify({ model: 'gpt-4o', messages: [] });
    const r = await call('/passthrough/openai/v1/chat/completions?trace=1&x=a%20b', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: 'c=1',
        'x-custom': 'kept',
        'x-aisix-request-id': 'spoofed',
        'openai-organization': 'org-1',
      },
      body,
    });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('x-upstream-request-id'), 'req_123');
    assert.equal(r.headers.get('set-cookie'), null, 'set-cookie is in the default strip list');
    assert.match(String(r.headers.get('server')), /^AISIX\//);
    const id = r.headers.get('x-aisix-request-id');
    assert.ok(id && id !== 'spoofed');
    assert.deepEqual(await r.json(), {
      seen: '/v1/chat/completions?trace=1&x=a%20b',
      method: 'POST',
      bytes: Buffer.byteLength(body),
    });
    const seen = last();
    assert.equal(seen.headers.authorization, 'Bearer sk-upstream-openai');
    assert.equal(seen.headers.cookie, undefined);
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['openai-organization'], 'org-1');
    assert.equal(seen.headers['x-aisix-request-id'], id, "the gateway's id, never the caller's");
    assert.ok(!JSON.stringify(seen.headers).includes(CALLER), 'the gateway key never goes upstream');
  });

  test('any method; binary bodies byte for byte; HEAD and DELETE; provider case-insensitive', async () => {
    const bytes = Buffer.from([0, 255, 1, 254, 10, 13, 0]);
    up.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(req.raw);
    });
    const put = await call('/passthrough/OpenAI/v1/files/f1', {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(put.status, 200);
    assert.deepEqual(Buffer.from(await put.arrayBuffer()), bytes);
    assert.equal(last().method, 'PUT');
    assert.equal(last().url, '/v1/files/f1');
    const del = await call('/passthrough/openai/v1/files/f1', { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal(last().method, 'DELETE');
    const get = await call('/passthrough/openai/models', { method: 'GET' });
    assert.equal(get.status, 200);
    assert.equal(last().url, '/v1/models', 'a rest without vN is appended to the base');
    up.handle(echo);
  });

  test('a key of another vendor without api_base is never sent to a default host: 400', async () => {
    const r = await call('/passthrough/groq/v1/models');
    assert.equal(r.status, 400);
    const e = (await r.json()) as { error: { type: string; message: string } };
    assert.equal(e.error.type, 'invalid_request_error');
    assert.match(e.error.message, /no upstream base URL configured/);
  });
});

describe('credentials per provider family', () => {
  test('Anthropic: x-api-key and the caller anthropic-version (else the default)', async () => {
    await call('/passthrough/anthropic/v1/messages', {
      method: 'POST',
      headers: { 'x-api-key': CALLER, 'anthropic-version': '2024-01-01', 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(last().headers['x-api-key'], 'sk-ant-upstream');
    assert.equal(last().headers['anthropic-version'], '2024-01-01');
    assert.equal(last().url, '/v1/messages');
    await call('/passthrough/anthropic/v1/messages', { method: 'POST', body: '{}' });
    assert.equal(last().headers['anthropic-version'], '2023-06-01');
    assert.equal(last().headers.authorization, undefined);
  });

  test('Gemini: x-goog-api-key; Azure: api-key and the key strip_headers', async () => {
    await call('/passthrough/gemini/v1beta/models/gemini-2.0:generateContent', {
      method: 'POST',
      body: '{}',
    });
    assert.equal(last().url, '/v1beta/models/gemini-2.0:generateContent');
    assert.equal(last().headers['x-goog-api-key'], 'AIza-upstream');
    assert.equal(last().headers.authorization, undefined);
    await call('/passthrough/azure/openai/deployments/dep/chat/completions?api-version=2024-10-21', {
      method: 'POST',
      headers: { 'x-drop-me': '1', cookie: 'kept-here' },
      body: '{}',
    });
    assert.equal(last().url, '/openai/deployments/dep/chat/completions?api-version=2024-10-21');
    assert.equal(last().headers['api-key'], 'azure-upstream-key');
    assert.equal(last().headers['x-drop-me'], undefined);
    assert.equal(last().headers.cookie, 'kept-here', 'this key strips its own list only');
  });

  test('Azure Entra ID: the token minted through the key pools is sent as Bearer, no api-key', async () => {
    const r = await call('/passthrough/azure-entra/openai/deployments/dep/files?api-version=1', {
      method: 'GET',
    });
    assert.equal(r.status, 201);
    assert.equal(up.requests.at(-2)?.url, '/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token');
    assert.equal(last().url, '/openai/deployments/dep/files?api-version=1');
    assert.equal(last().headers.authorization, 'Bearer aad-token-1');
    assert.equal(last().headers['api-key'], undefined);
  });

  test('Bedrock: SigV4 over the method, path and bytes, verified server-side', async () => {
    up.handle((req, res) => {
      const v = verifySigV4(
        { ...req, body: req.raw.toString('utf8'), json: undefined },
        {
          [AWS.access_key_id]: AWS.secret_access_key,
        },
      );
      if (!v.ok || v.region !== AWS.region || v.service !== 'bedrock')
        return sendJsonBody(res, 403, { message: v.reason });
      sendJsonBody(res, 200, { ok: true });
    });
    const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] });
    const r = await call('/passthrough/bedrock/model/anthropic.claude-v2%3A1/converse', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-amz-security-token': 'caller-token',
        'x-amz-date': '20000101T000000Z',
      },
      body,
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(last().url, '/model/anthropic.claude-v2%3A1/converse');
    assert.equal(last().headers['x-amz-security-token'], undefined);
    const get = await call('/passthrough/bedrock/guardrails?maxResults=2', { method: 'GET' });
    assert.equal(get.status, 200);
    up.handle(echo);
  });
});
