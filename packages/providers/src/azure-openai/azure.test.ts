import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { AdapterHttpClient, PrepareInput, ProviderKeyView } from '../contract.js';
import { createAzureOpenAiAdapter, EntraTokenCache } from './index.js';
import { azureOrigin } from './url.js';

function input(pk: ProviderKeyView, over: Partial<PrepareInput> = {}): PrepareInput {
  return {
    endpoint: 'chat',
    stream: false,
    body: { model: 'alias', messages: [{ role: 'user', content: 'hi' }] },
    upstreamModel: 'gpt4o-prod',
    providerKey: pk,
    requestId: 'req-1',
    inboundHeaders: { 'api-key': 'caller-smuggled', 'x-team': 't1' },
    templateVars: { 'request.id': 'req-1' },
    userAgent: 'aisix/test',
    ...over,
  };
}

/** A real AdapterHttpClient over fetch (the gateway's is over undici; same contract). */
const http: AdapterHttpClient = {
  async request(url, init) {
    const r = await fetch(url, {
      method: init.method,
      headers: init.headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    return { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
  },
};

test('api_base forms: resource URL, bare resource name, verbatim origin; bad forms refused', () => {
  assert.deepEqual(azureOrigin('https://res1.openai.azure.com/', ''), {
    ok: true,
    origin: 'https://res1.openai.azure.com',
  });
  assert.deepEqual(azureOrigin('res_2-x', ''), { ok: true, origin: 'https://res_2-x.openai.azure.com' });
  assert.deepEqual(azureOrigin('https://res1.openai.azure.com/openai', ''), {
    ok: true,
    origin: 'https://res1.openai.azure.com',
  });
  assert.deepEqual(azureOrigin('http://127.0.0.1:8080', ''), { ok: true, origin: 'http://127.0.0.1:8080' });
  for (const bad of [
    'https://u:p@res.openai.azure.com',
    'https://res.openai.azure.com/?x=1',
    'https://res.openai.azure.com/#f',
    'https://res.openai.azure.com/v1/other',
    'ftp://res.openai.azure.com',
    'not a url',
  ]) {
    const r = azureOrigin(bad, '');
    assert.ok(!r.ok, bad);
    assert.match(r.message, /^invalid upstream configuration: /);
  }
  const missing = azureOrigin(undefined, 'azure');
  assert.ok(!missing.ok);
  assert.equal(
    missing.message,
    'invalid upstream configuration: provider_key for vendor "azure" has no upstream base URL configured',
  );
});

test('prepare: deployment URL with api-version per endpoint; api-key header; OpenAI body', () => {
  const a = createAzureOpenAiAdapter();
  const pk: ProviderKeyView = {
    api_key: 'azure-key-1',
    api_base: 'res1',
    request: { forward_client_headers: ['*'] },
  };
  const chat = a.prepare(input(pk, { stream: true }));
  assert.ok(chat.ok);
  assert.equal(
    chat.request.url.href,
    'https://res1.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21',
  );
  assert.equal(chat.request.headers['api-key'], 'azure-key-1');
  assert.equal(chat.request.headers.authorization, undefined);
  assert.equal(chat.request.headers['x-team'], 't1');
  const body = JSON.parse(chat.request.body);
  assert.equal(body.stream, true);
  assert.deepEqual(body.stream_options, { include_usage: true });
  const emb = a.prepare(input(pk, { endpoint: 'embeddings', body: { input: 'x' } }));
  assert.ok(emb.ok);
  assert.match(emb.request.url.pathname, /\/openai\/deployments\/gpt4o-prod\/embeddings$/);
  const comp = a.prepare(input(pk, { endpoint: 'completions', body: { prompt: 'x' } }));
  assert.ok(comp.ok);
  assert.match(comp.request.url.pathname, /\/completions$/);
  const badDeployment = a.prepare(input(pk, { upstreamModel: '../x' }));
  assert.ok(!badDeployment.ok);
  assert.equal(badDeployment.error.kind, 'invalid_config');
  const empty = a.prepare(input({ api_base: 'res1', api_key: '' }));
  assert.ok(!empty.ok);
  assert.equal(empty.error.kind, 'invalid_credentials');
});

test('errors: Azure codes mapped (DeploymentNotFound, content_filter, ResponsibleAIPolicyViolation)', () => {
  const a = createAzureOpenAiAdapter();
  assert.deepEqual(
    a.parseError(
      404,
      '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}',
    ),
    { message: 'The API deployment for this resource does not exist.', code: 'model_not_found' },
  );
  const cf = a.parseError(
    400,
    '{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}',
  );
  assert.equal(cf.code, 'content_policy_violation');
  assert.equal(cf.param, 'prompt');
  assert.equal(
    a.parseError(400, '{"error":{"code":"ResponsibleAIPolicyViolation","message":"m"}}').code,
    'content_policy_violation',
  );
});

test('response: Azure filter fields tolerated, model rewritten, usage read', () => {
  const a = createAzureOpenAiAdapter();
  const text = JSON.stringify({
    id: 'chatcmpl-az',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-2024-08-06',
    prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false } } }],
    choices: [
      {
        index: 0,
        finish_reason: 'stop',
        message: { role: 'assistant', content: 'hi' },
        content_filter_results: { hate: { filtered: false, severity: 'safe' } },
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  });
  const r = a.transformResponse('chat', text, 'my-azure');
  assert.ok(r.ok);
  const body = JSON.parse(r.body);
  assert.equal(body.model, 'my-azure');
  assert.ok(Array.isArray(body.prompt_filter_results));
  assert.equal(r.usage.total_tokens, 4);
});

// --- Entra ID against a mock token service --------------------------------------------------

let mint: { url: string; close: () => Promise<void>; seen: { path: string; form: URLSearchParams }[] };
let behaviour: (res: ServerResponse, n: number) => void;

before(async () => {
  const seen: { path: string; form: URLSearchParams }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let data = '';
    req.on('data', (c) => {
      data += c;
    });
    req.on('end', () => {
      seen.push({ path: req.url ?? '', form: new URLSearchParams(data) });
      // Delay a little so concurrent callers overlap with one in-flight mint.
      setTimeout(() => behaviour(res, seen.length), 30);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  mint = {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
});

after(() => mint.close());

const tokenOk = (res: ServerResponse, n: number) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ token_type: 'Bearer', expires_in: 3599, access_token: `aad-token-${n}` }));
};

function entraKey(secret = 'cs-1'): ProviderKeyView {
  return {
    api_base: 'res1',
    api_key: JSON.stringify({
      tenant_id: 'contoso.onmicrosoft.com',
      client_id: 'app-1',
      client_secret: secret,
      authority_host: mint.url,
    }),
  };
}

test('entra: one in-flight mint for concurrent calls, cached until 60 s before expiry', async () => {
  behaviour = tokenOk;
  mint.seen.length = 0;
  const cache = new EntraTokenCache();
  const a = createAzureOpenAiAdapter(cache);
  const pk = entraKey();
  const prepared = a.prepare(input(pk));
  assert.ok(prepared.ok);
  assert.equal(prepared.request.headers['api-key'], undefined);
  const t0 = 1_000_000;
  const auth = () => a.authorize?.(prepared.request, { providerKey: pk, http, now: t0 });
  const results = await Promise.all([auth(), auth(), auth(), auth(), auth()]);
  assert.equal(mint.seen.length, 1);
  for (const r of results) {
    assert.ok(r?.ok);
    assert.equal(r.request.headers.authorization, 'Bearer aad-token-1');
    assert.equal(r.request.headers['api-key'], undefined);
  }
  const s = mint.seen[0];
  assert.equal(s?.path, '/contoso.onmicrosoft.com/oauth2/v2.0/token');
  assert.equal(s?.form.get('grant_type'), 'client_credentials');
  assert.equal(s?.form.get('client_id'), 'app-1');
  assert.equal(s?.form.get('client_secret'), 'cs-1');
  assert.equal(s?.form.get('scope'), 'https://cognitiveservices.azure.com/.default');
  // Still fresh 58 minutes later; re-minted inside the last minute.
  const later = await a.authorize?.(prepared.request, { providerKey: pk, http, now: t0 + 58 * 60_000 });
  assert.ok(later?.ok);
  assert.equal(mint.seen.length, 1);
  const near = await a.authorize?.(prepared.request, { providerKey: pk, http, now: t0 + 3599_000 - 59_000 });
  assert.ok(near?.ok);
  assert.equal(near.request.headers.authorization, 'Bearer aad-token-2');
  assert.equal(mint.seen.length, 2);
  // A different secret is a different credential.
  const other = entraKey('cs-2');
  await a.authorize?.(prepared.request, { providerKey: other, http, now: t0 });
  assert.equal(mint.seen.length, 3);
  assert.equal(cache.mints, 3);
});

test('entra: refused credential → 401 without secrets; 5xx → rejection (transport class); no caching of failures', async () => {
  const a = createAzureOpenAiAdapter(new EntraTokenCache());
  const pk = entraKey('super-secret-value');
  const prepared = a.prepare(input(pk));
  assert.ok(prepared.ok);
  behaviour = (res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: 'invalid_client',
        error_description: 'AADSTS7000215: Invalid client secret provided: super-secret-value',
      }),
    );
  };
  const r = await a.authorize?.(prepared.request, { providerKey: pk, http, now: 1 });
  assert.ok(r && !r.ok);
  assert.equal(r.error.kind, 'invalid_credentials');
  assert.equal(
    r.error.message,
    'invalid upstream credentials: Entra ID token request was refused (status 401, invalid_client)',
  );
  behaviour = (res) => {
    res.writeHead(503);
    res.end('down');
  };
  await assert.rejects(async () => a.authorize?.(prepared.request, { providerKey: pk, http, now: 1 }), /503/);
  behaviour = tokenOk;
  const ok = await a.authorize?.(prepared.request, { providerKey: pk, http, now: 1 });
  assert.ok(ok?.ok);
});

test('entra: malformed credential JSON → 401 from prepare, secret never echoed', () => {
  const a = createAzureOpenAiAdapter();
  for (const key of [
    '{"tenant_id":"t","client_id":"c"}',
    '{not json secret-xyz',
    '{"tenant_id":"a/b","client_id":"c","client_secret":"s"}',
  ]) {
    const r = a.prepare(input({ api_base: 'res1', api_key: key }));
    assert.ok(!r.ok, key);
    assert.equal(r.error.kind, 'invalid_credentials');
    assert.ok(!r.error.message.includes('secret-xyz'));
  }
});
