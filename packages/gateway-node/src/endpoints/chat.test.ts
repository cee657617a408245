import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import {
  chatJson,
  chatSse,
  json,
  type MockUpstream,
  startMockUpstream,
  USAGE,
} from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
let client: OpenAI;

before(async () => {
  up = await startMockUpstream();
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('non-streaming chat: whole body passes through, model rewritten to the alias', async () => {
  up.handle(chatJson('Hi there'));
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], temperature: 0.2 })
    .withResponse();
  assert.equal(data.model, 'gpt-4o-mini');
  assert.equal(data.choices.length, 2);
  assert.equal(data.choices[0]?.message.content, 'Hi there');
  assert.equal(data.system_fingerprint, 'fp_mock');
  assert.deepEqual(data.usage, USAGE);
  assert.match(response.headers.get('server') ?? '', /^AISIX\/1\.2\.3$/);
  const rid = response.headers.get('x-aisix-request-id') ?? '';
  assert.match(rid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(response.headers.get('x-aisix-call-id'), rid);
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/v1/chat/completions');
  assert.equal(seen?.headers.authorization, 'Bearer sk-upstream-secret');
  assert.equal(seen?.headers['x-aisix-request-id'], rid);
  assert.equal(seen?.json?.model, 'gpt-4o-mini');
  assert.equal(seen?.json?.stream, false);
  assert.equal(seen?.json?.temperature, 0.2);
});

test('wildcard alias: upstream id from the template, caller sees the requested name', async () => {
  up.handle(chatJson());
  const r = await client.chat.completions.create({
    model: 'mock/fast',
    messages: [{ role: 'user', content: 'x' }],
  });
  assert.equal(r.model, 'mock/fast');
  assert.equal(up.requests.at(-1)?.json?.model, 'up-fast');
});

test('streaming chat: content arrives, include_usage injected and the usage chunk hidden', async () => {
  up.handle(chatSse({ words: ['Hel', 'lo', '!'] }));
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hello' }],
    stream: true,
  });
  let text = '';
  let finish: string | null | undefined;
  let sawUsage = false;
  for await (const c of stream) {
    assert.equal(c.model, 'gpt-4o-mini');
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) sawUsage = true;
  }
  assert.equal(text, 'Hello!');
  assert.equal(finish, 'stop');
  assert.equal(sawUsage, false);
  assert.deepEqual(up.requests.at(-1)?.json?.stream_options, { include_usage: true });
  assert.equal(up.requests.at(-1)?.headers.accept, 'text/event-stream');
});

test('streaming chat: the usage chunk is forwarded when the caller asked for it', async () => {
  up.handle(chatSse());
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hello' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let usage: unknown;
  for await (const c of stream) if (c.usage) usage = c.usage;
  assert.deepEqual(usage, USAGE);
});

test('raw SSE framing: headers, data frames and [DONE]', async () => {
  up.handle(chatSse({ words: ['a'] }));
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.ok(r.headers.get('x-aisix-request-id'));
  const body = await r.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  assert.ok(!body.includes('gpt-4o-mini-2024'));
});

test('completions: forwarded with model rewrite, streams too (OP-16)', async () => {
  up.handle((_req, res) =>
    json(res, 200, {
      id: 'cmpl-1',
      object: 'text_completion',
      model: 'x',
      choices: [{ text: 'ok', index: 0 }],
      usage: USAGE,
    }),
  );
  const r = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'Say ok' });
  assert.equal(r.model, 'gpt-4o-mini');
  assert.equal(r.choices[0]?.text, 'ok');
  assert.equal(up.requests.at(-1)?.url, '/v1/completions');
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      `data: ${JSON.stringify({ id: 'c', object: 'text_completion', model: 'x', choices: [{ text: 'o', index: 0 }] })}\n\n`,
    );
    res.write(
      `data: ${JSON.stringify({ id: 'c', object: 'text_completion', model: 'x', choices: [{ text: 'k', index: 0, finish_reason: 'stop' }] })}\n\n`,
    );
    res.end('data: [DONE]\n\n');
  });
  const s = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'Say ok', stream: true });
  let text = '';
  for await (const c of s) {
    assert.equal(c.model, 'gpt-4o-mini');
    text += c.choices[0]?.text ?? '';
  }
  assert.equal(text, 'ok');
});

test('embeddings: input shape kept, base64 passed through, model echoed from upstream', async () => {
  up.handle((_req, res) =>
    json(res, 200, {
      object: 'list',
      model: 'text-embedding-3-small',
      data: [{ index: 0, object: 'embedding', embedding: 'AAAAAA==' }],
      usage: { prompt_tokens: 2, total_tokens: 2 },
    }),
  );
  const r = await fetch(`${g.base}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'emb', input: 'hello', encoding_format: 'base64' }),
  });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { model: string; data: { embedding: string }[] };
  assert.equal(body.model, 'text-embedding-3-small');
  assert.equal(body.data[0]?.embedding, 'AAAAAA==');
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/v1/embeddings');
  assert.equal(seen?.json?.input, 'hello');
  assert.equal(seen?.json?.model, 'text-embedding-3-small');
  assert.equal(seen?.json?.stream, undefined);
  const sdk = await client.embeddings.create({ model: 'emb', input: ['a', 'b'], encoding_format: 'float' });
  assert.equal(sdk.data.length, 1);
  assert.deepEqual(up.requests.at(-1)?.json?.input, ['a', 'b']);
});

test('embeddings: usage counters the upstream left out are 0 in the answer (data-plane §4.3)', async () => {
  const vec = [0.5, -1.25, 3];
  const b64 = Buffer.from(new Float32Array(vec).buffer).toString('base64');
  for (const [usage, want] of [
    [undefined, { prompt_tokens: 0, total_tokens: 0 }],
    [null, { prompt_tokens: 0, total_tokens: 0 }],
    [{ prompt_tokens: 4 }, { prompt_tokens: 4, total_tokens: 0 }],
    [
      { prompt_tokens: 4, total_tokens: 4 },
      { prompt_tokens: 4, total_tokens: 4 },
    ],
  ] as const) {
    up.handle((_req, res) =>
      json(res, 200, {
        object: 'list',
        model: 'text-embedding-3-small',
        data: [{ index: 0, object: 'embedding', embedding: b64 }],
        ...(usage === undefined ? {} : { usage }),
      }),
    );
    // The SDK asks for base64 by default and decodes it: the vector arrives intact.
    const r = await client.embeddings.create({ model: 'emb', input: 'hello' });
    assert.equal(up.requests.at(-1)?.json?.encoding_format, 'base64');
    assert.deepEqual(r.data[0]?.embedding, vec);
    assert.equal(r.model, 'text-embedding-3-small');
    assert.deepEqual(r.usage, want, JSON.stringify(usage));
  }
});

test('models list is filtered by the caller key, sorted, without wildcard aliases', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.deepEqual(ids, ['emb', 'gpt-4o-mini']);
  assert.equal(list.data[0]?.owned_by, 'openai');
  const all = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
  const allIds = (await all.models.list()).data.map((m) => m.id);
  assert.deepEqual(allIds, ['emb', 'gpt-4o-mini', 'secret-model']);
});

test('the developer role (current OpenAI SDKs) is accepted and forwarded; an unknown role is 400', async () => {
  up.handle(chatJson('ok'));
  const messages = [
    { role: 'developer' as const, content: 'be brief' },
    { role: 'user' as const, content: 'hi' },
  ];
  const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  assert.equal(r.choices[0]?.message.content, 'ok');
  assert.deepEqual(up.requests.at(-1)?.json?.messages, messages);
  const before = up.requests.length;
  const res = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'robot', content: 'x' }] }),
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { type: string } };
  assert.equal(body.error.type, 'invalid_request_error');
  assert.equal(up.requests.length, before);
});
