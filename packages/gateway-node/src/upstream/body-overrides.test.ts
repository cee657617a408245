/**
 * ProviderKey body overrides (data-plane §5.6) never touch the fields the gateway owns: `model`
 * is the resolved upstream id (a rename must not let the caller pick another upstream model) and
 * `stream` is the call mode the gateway reads the answer in (a default or a rename must not turn
 * a unary call into a stream, or a stream into a unary call), on every endpoint. A caller's body
 * that repeats `model` or `stream` never reaches the upstream with the repeat.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildSnapshot, type Started, sha256, standardDocs, startTestGateway } from '../test/fixtures.js';
import { everyEndpoint, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;

const OVERRIDES = {
  param_renames: { upstream_model: 'model', wants_stream: 'stream' },
  default_body_fields: { stream: true, seed: 7 },
};

before(async () => {
  up = await startMockUpstream(everyEndpoint);
  const docs = standardDocs(up.url, {
    provider_keys: {
      pko: {
        display_name: 'overrides',
        api_key: 'sk-upstream-o',
        provider: 'openai',
        api_base: `${up.url}/v1`,
        request: OVERRIDES,
      },
      pkoa: {
        display_name: 'overrides-anthropic',
        api_key: 'sk-upstream-oa',
        provider: 'anthropic',
        api_base: up.url,
        request: OVERRIDES,
      },
    },
    models: {
      mo: { display_name: 'ov', provider: 'openai', model_name: 'up-ov', provider_key_id: 'pko' },
      moa: { display_name: 'ov-a', provider: 'anthropic', model_name: 'up-ov-a', provider_key_id: 'pkoa' },
      // An alias named like its upstream id: the caller's text may go out as it came.
      ms: { display_name: 'gpt-same', provider: 'openai', model_name: 'gpt-same', provider_key_id: 'pk1' },
    },
    api_keys: { ko: { key_hash: sha256('sk-ov'), allowed_models: ['ov', 'ov-a', 'gpt-same'] } },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test("default_body_fields and param_renames never set model or stream: the call mode and the upstream model stay the gateway's", async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  // The caller also sends the fields the renames would move onto `model` / `stream`.
  const extra = { upstream_model: 'caller-picked-model', wants_stream: false };
  const calls: [string, string, boolean, Record<string, unknown>][] = [
    ['chat', '/v1/chat/completions', false, { model: 'ov', messages: msgs }],
    ['chat stream', '/v1/chat/completions', true, { model: 'ov', stream: true, messages: msgs }],
    ['completions', '/v1/completions', false, { model: 'ov', prompt: 'hi' }],
    ['embeddings', '/v1/embeddings', false, { model: 'ov', input: 'hi' }],
    ['responses', '/v1/responses', false, { model: 'ov', input: 'hi' }],
    ['responses stream', '/v1/responses', true, { model: 'ov', input: 'hi', stream: true }],
    ['messages bridged', '/v1/messages', false, { model: 'ov', max_tokens: 5, messages: msgs }],
    ['messages native', '/v1/messages', false, { model: 'ov-a', max_tokens: 5, messages: msgs }],
    [
      'messages native stream',
      '/v1/messages',
      true,
      { model: 'ov-a', max_tokens: 5, stream: true, messages: msgs },
    ],
    ['chat via Anthropic', '/v1/chat/completions', false, { model: 'ov-a', messages: msgs }],
  ];
  for (const [name, path, stream, body] of calls) {
    const before = up.requests.length;
    const res = await fetch(`${g.base}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-ov', 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, ...extra }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${name}: ${text}`);
    assert.equal(up.requests.length, before + 1, name);
    const sent = up.requests[up.requests.length - 1]?.json ?? {};
    assert.equal(sent.model, body.model === 'ov-a' ? 'up-ov-a' : 'up-ov', name);
    assert.equal(sent.stream === true, stream, `${name}: upstream stream flag`);
    if (path !== '/v1/embeddings') assert.equal(sent.seed, 7, name);
  }
});

/** Object-key occurrences of `key` in a JSON text (a `"` inside a string value is escaped). */
const keyCount = (text: string, key: string) => text.split(new RegExp(`"${key}"\\s*:`)).length - 1;

test('a body that repeats model or stream reaches the upstream with one of each: the one the gateway resolved', async () => {
  const msgs = '[{"role":"user","content":"hi"}]';
  const calls: [string, string, string, boolean][] = [
    ['chat', '/v1/chat/completions', `{"model":"secret-model","model":"gpt-same","messages":${msgs}}`, false],
    ['completions', '/v1/completions', '{"model":"secret-model","model":"gpt-same","prompt":"hi"}', false],
    ['embeddings', '/v1/embeddings', '{"model":"secret-model","model":"gpt-same","input":"hi"}', false],
    [
      'chat stream',
      '/v1/chat/completions',
      `{"model":"gpt-same","stream":false,"stream":true,"messages":${msgs}}`,
      true,
    ],
    [
      'chat unary',
      '/v1/chat/completions',
      `{"model":"gpt-same","stream":true,"stream":false,"messages":${msgs}}`,
      false,
    ],
  ];
  for (const [name, path, text, stream] of calls) {
    const before = up.requests.length;
    const res = await fetch(`${g.base}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-ov', 'content-type': 'application/json' },
      body: text,
    });
    const answer = await res.text();
    assert.equal(res.status, 200, `${name}: ${answer}`);
    assert.equal(up.requests.length, before + 1, name);
    const sent = up.requests[up.requests.length - 1]?.body ?? '';
    assert.equal(keyCount(sent, 'model'), 1, `${name}: ${sent}`);
    assert.ok(keyCount(sent, 'stream') <= 1, `${name}: ${sent}`);
    const parsed = JSON.parse(sent) as Record<string, unknown>;
    assert.equal(parsed.model, 'gpt-same', name);
    if (path !== '/v1/embeddings') assert.equal(parsed.stream, stream, name);
  }
});

/** Decoded object keys of a JSON text (keys may spell letters as `\u00XX` escapes). */
const decodedKeys = (text: string) =>
  [...text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);

test('a repeat of model or stream spelled with \\u escapes never reaches the upstream either', async () => {
  const msgs = '[{"role":"user","content":"hi"}]';
  const calls: [string, string, string, boolean][] = [
    [
      'chat',
      '/v1/chat/completions',
      `{"model":"secret-model","mod\\u0065l":"gpt-same","messages":${msgs}}`,
      false,
    ],
    [
      'chat upper hex',
      '/v1/chat/completions',
      `{"model":"secret-model","\\u006Dodel":"gpt-same","messages":${msgs}}`,
      false,
    ],
    [
      'completions',
      '/v1/completions',
      '{"model":"secret-model","mod\\u0065l":"gpt-same","prompt":"hi"}',
      false,
    ],
    ['embeddings', '/v1/embeddings', '{"model":"secret-model","mod\\u0065l":"gpt-same","input":"hi"}', false],
    [
      'chat stream',
      '/v1/chat/completions',
      `{"model":"gpt-same","stream":false,"str\\u0065am":true,"messages":${msgs}}`,
      true,
    ],
  ];
  for (const [name, path, text, stream] of calls) {
    const before = up.requests.length;
    const res = await fetch(`${g.base}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-ov', 'content-type': 'application/json' },
      body: text,
    });
    const answer = await res.text();
    assert.equal(res.status, 200, `${name}: ${answer}`);
    assert.equal(up.requests.length, before + 1, name);
    const sent = up.requests[up.requests.length - 1]?.body ?? '';
    const keys = decodedKeys(sent);
    // An upstream whose parser keeps the first of two keys must still read the resolved model.
    assert.equal(keys.filter((k) => k === 'model').length, 1, `${name}: ${sent}`);
    assert.ok(keys.filter((k) => k === 'stream').length <= 1, `${name}: ${sent}`);
    assert.ok(!sent.includes('secret-model'), `${name}: ${sent}`);
    const parsed = JSON.parse(sent) as Record<string, unknown>;
    assert.equal(parsed.model, 'gpt-same', name);
    if (path !== '/v1/embeddings') assert.equal(parsed.stream, stream, name);
  }
});
