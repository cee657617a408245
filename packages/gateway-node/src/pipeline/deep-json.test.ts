/**
 * Bad input is a clear 4xx, never a 500 (data-plane §2 step 1): a body nested deeper than the
 * reference's JSON parser accepts (serde_json's 128 levels) is `invalid JSON request body` on every
 * model endpoint, in the route's envelope, before any upstream is called. A body nested as deep
 * as that limit still goes through.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

/** serde_json's default recursion limit (the reference's JSON parser). */
const MAX_JSON_DEPTH = 128;

let up: MockUpstream;
let g: Started;

before(async () => {
  up = await startMockUpstream();
  const docs = standardDocs(up.url, {
    provider_keys: {
      pka: { display_name: 'anthropic', api_key: 'sk-a', provider: 'anthropic', api_base: up.url },
    },
    models: {
      ma: { display_name: 'claude', provider: 'anthropic', model_name: 'c', provider_key_id: 'pka' },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  await up.close();
});

/** `levels` nested arrays: `[[...]]`. */
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

function post(path: string, text: string): Promise<Response> {
  return fetch(g.base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-all' },
    body: text,
  });
}

const MSGS = '"messages":[{"role":"user","content":"hi"}]';
const BODIES: [string, string, (extra: string) => string][] = [
  ['/v1/chat/completions', 'openai', (x) => `{"model":"gpt-4o-mini",${MSGS},"x":${x}}`],
  ['/v1/chat/completions', 'openai', (x) => `{"model":"gpt-4o-mini","stream":true,${MSGS},"x":${x}}`],
  ['/v1/chat/completions', 'openai', (x) => `{"model":"claude",${MSGS},"x":${x}}`],
  ['/v1/completions', 'openai', (x) => `{"model":"gpt-4o-mini","prompt":"hi","x":${x}}`],
  ['/v1/embeddings', 'openai', (x) => `{"model":"emb","input":"hi","x":${x}}`],
  ['/v1/responses', 'openai', (x) => `{"model":"gpt-4o-mini","input":"hi","x":${x}}`],
  ['/v1/responses', 'openai', (x) => `{"model":"claude","input":"hi","x":${x}}`],
  ['/v1/messages', 'anthropic', (x) => `{"model":"claude","max_tokens":5,${MSGS},"x":${x}}`],
  ['/v1/messages', 'anthropic', (x) => `{"model":"gpt-4o-mini","max_tokens":5,${MSGS},"x":${x}}`],
  ['/v1/messages/count_tokens', 'anthropic', (x) => `{"model":"claude",${MSGS},"x":${x}}`],
];

test('a body nested deeper than the limit is a 400 in the route envelope on every endpoint, upstream untouched', async () => {
  for (const [path, envelope, body] of BODIES) {
    const before = up.requests.length;
    // 20000 levels: deep enough to overflow a recursive JSON.stringify.
    const r = await post(path, body(nested(20_000)));
    const text = await r.text();
    assert.equal(r.status, 400, `${path}: ${text}`);
    const message = `request payload is invalid: invalid JSON request body: nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (envelope === 'anthropic') {
      assert.deepEqual(JSON.parse(text), {
        type: 'error',
        error: { type: 'invalid_request_error', message },
      });
    } else {
      assert.deepEqual(JSON.parse(text), { error: { message, type: 'invalid_request_error' } });
    }
    assert.equal(up.requests.length, before, path);
  }
  // Just past the limit (the body object is level 1, `x` adds the rest) is refused as well.
  const r = await post('/v1/chat/completions', BODIES[0]?.[2](nested(MAX_JSON_DEPTH)) ?? '');
  assert.equal(r.status, 400, await r.text());
});

test('a body nested exactly as deep as the limit reaches the upstream', async () => {
  const r = await post('/v1/chat/completions', BODIES[0]?.[2](nested(MAX_JSON_DEPTH - 1)) ?? '');
  assert.equal(r.status, 200, await r.text());
});
