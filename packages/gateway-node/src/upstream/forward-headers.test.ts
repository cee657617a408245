/**
 * `forward_client_headers` (data-plane §5.5): a matching client header reaches the upstream with
 * its first value only, also when the client repeats it (node joins repeats with ", "); a header
 * the caller's `Connection` header lists is hop-by-hop and never forwarded, on every endpoint.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  sha256,
  standardDocs,
  startTestGateway,
} from '../test/fixtures.js';
import { everyEndpoint, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;

/** Operator `default_headers` naming transport headers, next to an ordinary one. */
const TRANSPORT_DEFAULTS = {
  'Transfer-Encoding': 'chunked',
  'content-length': '1',
  connection: 'close',
  upgrade: 'h2c',
  'keep-alive': 'timeout=1',
  expect: '100-continue',
  te: 'gzip',
  trailer: 'x-t',
  'accept-encoding': 'gzip',
  'content-encoding': 'gzip',
  'x-op-tag': 'kept',
};

/** Templates whose rendered value may not be a valid header value, next to ordinary ones. */
const NAME_DEFAULTS = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a default_headers template
  'x-key-name': '${request.api_key.name}',
  'x-emoji': 'tag 😀',
  'x-ctl': 'a\u0007b',
  'x-op-tag': 'kept',
};

before(async () => {
  up = await startMockUpstream(everyEndpoint);
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkf: {
        display_name: 'forwarding',
        api_key: 'sk-upstream-forwarding',
        provider: 'openai',
        api_base: `${up.url}/v1`,
        request: { forward_client_headers: ['x-cl-*'] },
      },
      pkt: {
        display_name: 'transport-defaults',
        api_key: 'sk-upstream-transport',
        provider: 'openai',
        api_base: `${up.url}/v1`,
        request: { default_headers: TRANSPORT_DEFAULTS },
      },
      pkta: {
        display_name: 'transport-defaults-anthropic',
        api_key: 'sk-upstream-transport-a',
        provider: 'anthropic',
        api_base: up.url,
        request: { default_headers: TRANSPORT_DEFAULTS },
      },
      pkn: {
        display_name: 'name-template',
        api_key: 'sk-upstream-name',
        provider: 'openai',
        api_base: `${up.url}/v1`,
        request: { default_headers: NAME_DEFAULTS },
      },
      pkna: {
        display_name: 'name-template-anthropic',
        api_key: 'sk-upstream-name-a',
        provider: 'anthropic',
        api_base: up.url,
        request: { default_headers: NAME_DEFAULTS },
      },
      pka: {
        display_name: 'forwarding-anthropic',
        api_key: 'sk-upstream-anthropic',
        provider: 'anthropic',
        api_base: up.url,
        request: { forward_client_headers: ['x-cl-*'] },
      },
    },
    models: {
      mf: { display_name: 'mock/fwd', provider: 'openai', model_name: 'fwd', provider_key_id: 'pkf' },
      ma: { display_name: 'claude-fwd', provider: 'anthropic', model_name: 'c', provider_key_id: 'pka' },
      mt: { display_name: 'transport', provider: 'openai', model_name: 't', provider_key_id: 'pkt' },
      mta: { display_name: 'transport-a', provider: 'anthropic', model_name: 'c', provider_key_id: 'pkta' },
      mn: { display_name: 'named', provider: 'openai', model_name: 'n', provider_key_id: 'pkn' },
      mna: { display_name: 'named-a', provider: 'anthropic', model_name: 'c', provider_key_id: 'pkna' },
    },
    api_keys: {
      k9: { key_hash: sha256('sk-fwd'), allowed_models: ['mock/fwd', 'claude-fwd'] },
      k10: { key_hash: sha256('sk-transport'), allowed_models: ['transport', 'transport-a'] },
      // A name outside Latin-1 cannot be a header value.
      k11: { display_name: 'équipe 😀', key_hash: sha256('sk-emoji'), allowed_models: ['named', 'named-a'] },
      k12: { display_name: 'équipe', key_hash: sha256('sk-latin'), allowed_models: ['named', 'named-a'] },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('a repeated client header is forwarded with its first value only', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CALLER_KEY}`,
        'content-type': 'application/json',
        // An array value sends the header twice.
        'x-cl-trace': ['first', 'second'],
        'x-cl-single': 'a, b',
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'mock/fwd', messages: [{ role: 'user', content: 'hi' }] }));
  });
  assert.equal(status, 200);
  const seen = up.requests[up.requests.length - 1];
  assert.equal(seen?.headers['x-cl-trace'], 'first');
  // One header whose value holds a comma is one value: forwarded whole.
  assert.equal(seen?.headers['x-cl-single'], 'a, b');
});

/** POSTs `body` with `headers` over node:http (fetch refuses to send `Connection`). */
function post(
  path: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${g.base}${path}`, { method: 'POST', headers });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test("a header named in the caller's Connection header is hop-by-hop: never forwarded, on every endpoint", async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  const calls: [string, string, Record<string, unknown>][] = [
    ['chat', '/v1/chat/completions', { model: 'mock/fwd', messages: msgs }],
    ['chat stream', '/v1/chat/completions', { model: 'mock/fwd', stream: true, messages: msgs }],
    ['completions', '/v1/completions', { model: 'mock/fwd', prompt: 'hi' }],
    ['embeddings', '/v1/embeddings', { model: 'mock/fwd', input: 'hi' }],
    ['responses', '/v1/responses', { model: 'mock/fwd', input: 'hi' }],
    ['responses stream', '/v1/responses', { model: 'mock/fwd', input: 'hi', stream: true }],
    ['messages bridged', '/v1/messages', { model: 'mock/fwd', max_tokens: 5, messages: msgs }],
    ['messages native', '/v1/messages', { model: 'claude-fwd', max_tokens: 5, messages: msgs }],
    [
      'messages native stream',
      '/v1/messages',
      { model: 'claude-fwd', max_tokens: 5, stream: true, messages: msgs },
    ],
    ['chat via Anthropic', '/v1/chat/completions', { model: 'claude-fwd', messages: msgs }],
    ['passthrough', '/passthrough/openai/v1/chat/completions', { model: 'fwd', messages: msgs }],
  ];
  for (const [name, path, body] of calls) {
    const before = up.requests.length;
    const res = await post(
      path,
      {
        authorization: 'Bearer sk-fwd',
        'content-type': 'application/json',
        connection: 'keep-alive, X-Cl-Hop',
        'x-cl-hop': 'per-connection',
        'x-cl-kept': 'end-to-end',
      },
      body,
    );
    assert.equal(res.status, 200, `${name}: ${res.text}`);
    assert.equal(up.requests.length, before + 1, name);
    const seen = up.requests[up.requests.length - 1];
    assert.equal(seen?.headers['x-cl-kept'], 'end-to-end', name);
    assert.equal(seen?.headers['x-cl-hop'], undefined, name);
  }
});

test("operator default_headers never set transport headers: the call goes through with the gateway's own framing", async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  const calls: [string, string, Record<string, unknown>][] = [
    ['chat', '/v1/chat/completions', { model: 'transport', messages: msgs }],
    ['chat stream', '/v1/chat/completions', { model: 'transport', stream: true, messages: msgs }],
    ['completions', '/v1/completions', { model: 'transport', prompt: 'hi' }],
    ['embeddings', '/v1/embeddings', { model: 'transport', input: 'hi' }],
    ['responses', '/v1/responses', { model: 'transport', input: 'hi' }],
    ['responses stream', '/v1/responses', { model: 'transport', input: 'hi', stream: true }],
    ['messages bridged', '/v1/messages', { model: 'transport', max_tokens: 5, messages: msgs }],
    ['messages native', '/v1/messages', { model: 'transport-a', max_tokens: 5, messages: msgs }],
    ['chat via Anthropic', '/v1/chat/completions', { model: 'transport-a', messages: msgs }],
  ];
  for (const [name, path, body] of calls) {
    const before = up.requests.length;
    const res = await post(
      path,
      { authorization: 'Bearer sk-transport', 'content-type': 'application/json' },
      body,
    );
    assert.equal(res.status, 200, `${name}: ${res.text}`);
    assert.equal(up.requests.length, before + 1, name);
    const seen = up.requests[up.requests.length - 1];
    assert.equal(seen?.headers['x-op-tag'], 'kept', name);
    assert.equal(seen?.headers['content-length'], String(Buffer.byteLength(seen?.body ?? '')), name);
    for (const h of ['transfer-encoding', 'upgrade', 'keep-alive', 'expect', 'te', 'trailer']) {
      assert.equal(seen?.headers[h], undefined, `${name}: ${h}`);
    }
    assert.notEqual(seen?.headers.connection, 'close', name);
    assert.equal(seen?.headers['accept-encoding'], undefined, name);
    assert.equal(seen?.headers['content-encoding'], undefined, name);
  }
});

test('a default_headers value that cannot be a header value is dropped, never the call', async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  const calls: [string, string, Record<string, unknown>][] = [
    ['chat', '/v1/chat/completions', { model: 'named', messages: msgs }],
    ['chat stream', '/v1/chat/completions', { model: 'named', stream: true, messages: msgs }],
    ['completions', '/v1/completions', { model: 'named', prompt: 'hi' }],
    ['embeddings', '/v1/embeddings', { model: 'named', input: 'hi' }],
    ['responses', '/v1/responses', { model: 'named', input: 'hi' }],
    ['messages bridged', '/v1/messages', { model: 'named', max_tokens: 5, messages: msgs }],
    ['messages native', '/v1/messages', { model: 'named-a', max_tokens: 5, messages: msgs }],
    ['chat via Anthropic', '/v1/chat/completions', { model: 'named-a', messages: msgs }],
  ];
  for (const [key, name] of [
    ['sk-emoji', undefined],
    ['sk-latin', 'équipe'],
  ] as const) {
    for (const [what, path, body] of calls) {
      const before = up.requests.length;
      const res = await post(
        path,
        { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body,
      );
      assert.equal(res.status, 200, `${key} ${what}: ${res.text}`);
      assert.equal(up.requests.length, before + 1, what);
      const seen = up.requests[up.requests.length - 1]?.headers;
      assert.equal(seen?.['x-op-tag'], 'kept', what);
      assert.equal(seen?.['x-emoji'], undefined, what);
      assert.equal(seen?.['x-ctl'], undefined, what);
      // Latin-1 travels as Latin-1 bytes (node reads header bytes as Latin-1).
      assert.equal(seen?.['x-key-name'], name, `${key} ${what}`);
    }
  }
});
