/**
 * End to end through the real gateway: the official `openai` SDK against our proxy, with one
 * loopback mock playing both Azure OpenAI (deployment URLs, `api-key` or Entra bearer) and the
 * Entra ID token service (`/<tenant>/oauth2/v2.0/token`). Checks deployment routing, both auth
 * modes (token minted once and reused), streams, tool calls, embeddings, Azure error codes and
 * that each credential only reaches its own endpoint.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, type Started, sha256, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  chatJson,
  chatSse,
  json,
  type MockBehaviour,
  type MockUpstream,
  type SeenRequest,
  startMockUpstream,
} from '../test/mock-upstream.js';

const CALLER = 'sk-azure-caller';
const AZURE_KEY = 'azure-api-key-0123456789';
const CLIENT_SECRET = 'entra-client-secret-xyz';
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mock-aad-token';

let up: MockUpstream;
let g: Started;
let client: OpenAI;
let mints = 0;
let azure: MockBehaviour = chatJson();

before(async () => {
  up = await startMockUpstream((req, res) => {
    if (req.url.endsWith('/oauth2/v2.0/token')) {
      mints++;
      return json(res, 200, { token_type: 'Bearer', expires_in: 3599, access_token: TOKEN });
    }
    return azure(req, res);
  });
  const docs = standardDocs(up.url, {
    provider_keys: {
      az: {
        display_name: 'azure',
        api_key: AZURE_KEY,
        adapter: 'azure-openai',
        provider: 'azure',
        api_base: up.url,
      },
      aad: {
        display_name: 'azure-aad',
        adapter: 'azure-openai',
        provider: 'azure',
        api_base: up.url,
        api_key: JSON.stringify({
          tenant_id: '72f988bf-86f1-41af-91ab-2d7cd011db47',
          client_id: 'app-id-1',
          client_secret: CLIENT_SECRET,
          authority_host: up.url,
        }),
      },
      nobase: {
        display_name: 'azure-nobase',
        api_key: AZURE_KEY,
        adapter: 'azure-openai',
        provider: 'azure',
      },
    },
    models: {
      a1: { display_name: 'az-gpt', provider: 'azure', model_name: 'gpt4o-prod', provider_key_id: 'az' },
      a2: { display_name: 'az-aad', provider: 'azure', model_name: 'gpt4o-aad', provider_key_id: 'aad' },
      a3: { display_name: 'az-emb', provider: 'azure', model_name: 'emb-small', provider_key_id: 'az' },
      a4: { display_name: 'az-nobase', provider: 'azure', model_name: 'x', provider_key_id: 'nobase' },
    },
    api_keys: {
      ka: { key_hash: sha256(CALLER), allowed_models: ['az-gpt', 'az-aad', 'az-emb', 'az-nobase'] },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: CALLER, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const azureCalls = () => up.requests.filter((r) => r.url.startsWith('/openai/'));
const tokenCalls = () => up.requests.filter((r) => r.url.endsWith('/token'));

function assertApiKeyOnly(seen: SeenRequest | undefined): void {
  assert.ok(seen);
  assert.equal(seen.headers['api-key'], AZURE_KEY);
  assert.equal(seen.headers.authorization, undefined);
  const all = JSON.stringify(seen.headers) + seen.body;
  assert.ok(!all.includes(CALLER) && !all.includes(CLIENT_SECRET) && !all.includes('sk-upstream-secret'));
}

test('api-key auth: deployment URL with api-version, OpenAI body, model alias, filter fields tolerated', async () => {
  azure = (req, res) =>
    json(res, 200, {
      id: 'chatcmpl-az1',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o-2024-08-06',
      prompt_filter_results: [
        { prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: 'safe' } } },
      ],
      choices: [
        {
          index: 0,
          finish_reason: 'stop',
          message: { role: 'assistant', content: `deployment ${req.url.split('/')[3]}` },
          content_filter_results: { violence: { filtered: false, severity: 'safe' } },
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
  const r = await client.chat.completions.create({
    model: 'az-gpt',
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(r.model, 'az-gpt');
  assert.equal(r.choices[0]?.message.content, 'deployment gpt4o-prod');
  assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
  const seen = azureCalls().at(-1);
  assert.equal(seen?.url, '/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21');
  assert.equal(seen?.json?.stream, false);
  assertApiKeyOnly(seen);
});

test('streaming: content, finish, usage chunk only when asked', async () => {
  azure = chatSse({ words: ['Az', 'ure'] });
  const s = await client.chat.completions.create({
    model: 'az-gpt',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const c of s) {
    text += c.choices[0]?.delta.content ?? '';
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, 'Azure');
  assert.deepEqual(usage, { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
  assertApiKeyOnly(azureCalls().at(-1));
});

test('Entra ID: token minted once with the client credential, reused as Bearer, no api-key sent', async () => {
  azure = chatJson('from aad');
  const before = mints;
  for (let i = 0; i < 3; i++) {
    const r = await client.chat.completions.create({
      model: 'az-aad',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(r.choices[0]?.message.content, 'from aad');
  }
  assert.equal(mints - before, 1);
  const tok = tokenCalls().at(-1);
  assert.equal(tok?.url, '/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token');
  const form = new URLSearchParams(tok?.body ?? '');
  assert.equal(form.get('client_secret'), CLIENT_SECRET);
  assert.equal(form.get('scope'), 'https://cognitiveservices.azure.com/.default');
  assert.ok(!JSON.stringify(tok?.headers).includes(CALLER));
  const seen = azureCalls().at(-1);
  assert.equal(seen?.url, '/openai/deployments/gpt4o-aad/chat/completions?api-version=2024-10-21');
  assert.equal(seen?.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(seen?.headers['api-key'], undefined);
  assert.ok(!(JSON.stringify(seen?.headers) + seen?.body).includes(CLIENT_SECRET));
});

test('tool-call round trip on the OpenAI wire', async () => {
  azure = (req, res) => {
    const msgs = req.json?.messages as { role: string }[];
    if (msgs.at(-1)?.role === 'tool') return chatJson('It is 18C')(req, res);
    json(res, 200, {
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_9', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
            ],
          },
        },
      ],
    });
  };
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'weather', parameters: {} } },
  ];
  const first = await client.chat.completions.create({
    model: 'az-gpt',
    messages: [{ role: 'user', content: 'w?' }],
    tools,
  });
  const call = first.choices[0]?.message.tool_calls?.[0];
  assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
  assert.ok(call && call.type === 'function');
  const second = await client.chat.completions.create({
    model: 'az-gpt',
    tools,
    messages: [
      { role: 'user', content: 'w?' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: '18C' },
    ],
  });
  assert.equal(second.choices[0]?.message.content, 'It is 18C');
  assert.deepEqual((azureCalls().at(-1)?.json?.messages as unknown[] | undefined)?.[2], {
    role: 'tool',
    tool_call_id: 'call_9',
    content: '18C',
  });
});

test('embeddings are served (deployment /embeddings), base64 passes through for the SDK', async () => {
  const b64 = Buffer.from(new Float32Array([0.25, -1]).buffer).toString('base64');
  azure = (req, res) =>
    json(res, 200, {
      object: 'list',
      model: 'text-embedding-3-small',
      data: [
        {
          object: 'embedding',
          index: 0,
          embedding: req.json?.encoding_format === 'base64' ? b64 : [0.25, -1],
        },
      ],
      usage: { prompt_tokens: 2, total_tokens: 2 },
    });
  const r = await client.embeddings.create({ model: 'az-emb', input: 'hi' });
  assert.deepEqual(r.data[0]?.embedding, [0.25, -1]);
  assert.equal(azureCalls().at(-1)?.url, '/openai/deployments/emb-small/embeddings?api-version=2024-10-21');
});

function azureError(status: number, error: object, headers: Record<string, string> = {}): MockBehaviour {
  return (_req, res: ServerResponse) => json(res, status, { error }, headers);
}

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  throw new Error('expected an API error');
}

const ask = () =>
  client.chat.completions.create({ model: 'az-gpt', messages: [{ role: 'user', content: 'x' }] });

test('errors: 401, DeploymentNotFound, content_filter, 429 Retry-After, 5xx → 502, missing api_base → 400', async () => {
  azure = azureError(401, { code: '401', message: 'Access denied due to invalid subscription key.' });
  let e = await apiError(ask());
  assert.equal(e.status, 401);
  assert.equal(e.type, 'upstream_error');
  assert.match(e.message, /invalid subscription key/);

  azure = azureError(404, {
    code: 'DeploymentNotFound',
    message: 'The API deployment for this resource does not exist.',
  });
  e = await apiError(ask());
  assert.equal(e.status, 404);
  assert.equal(e.code, 'model_not_found');

  azure = azureError(400, {
    message: 'The response was filtered due to the prompt triggering content management policy.',
    param: 'prompt',
    code: 'content_filter',
    status: 400,
    innererror: { code: 'ResponsibleAIPolicyViolation' },
  });
  e = await apiError(ask());
  assert.equal(e.status, 400);
  assert.equal(e.code, 'content_policy_violation');
  assert.equal(e.param, 'prompt');

  azure = azureError(
    429,
    { code: '429', message: 'Requests have exceeded the call rate limit.' },
    { 'retry-after': '12' },
  );
  e = await apiError(ask());
  assert.equal(e.status, 429);
  assert.equal(e.headers?.get('retry-after'), '12');

  azure = azureError(500, { code: 'InternalServerError', message: 'internal detail' });
  e = await apiError(ask());
  assert.equal(e.status, 502);
  assert.ok(!e.message.includes('internal detail'));

  const calls = azureCalls().length;
  e = await apiError(
    client.chat.completions.create({ model: 'az-nobase', messages: [{ role: 'user', content: 'x' }] }),
  );
  assert.equal(e.status, 400);
  assert.match(e.message, /no upstream base URL configured/);
  assert.equal(azureCalls().length, calls);
});

test('truncated stream ends with an error event, not [DONE]', async () => {
  azure = chatSse({ words: ['a', 'b', 'c', 'd'], dropAfter: 2 });
  const consume = async () => {
    const s = await client.chat.completions.create({
      model: 'az-gpt',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    for await (const _ of s) {
      // drain
    }
  };
  await assert.rejects(consume(), (err: unknown) => err instanceof OpenAI.APIError);
});
