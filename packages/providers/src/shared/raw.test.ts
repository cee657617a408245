// The raw tunnel's URL and credential rules per adapter (`prepareRaw`), without I/O.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProviderKeyView, RawInput, RawResult } from '../contract.js';
import { defaultRegistry } from '../index.js';
import { prepareRaw } from './raw.js';

function input(pk: ProviderKeyView, provider: string, rest: string, extra: Partial<RawInput> = {}): RawInput {
  return {
    providerKey: pk,
    provider,
    method: 'POST',
    rest,
    query: '',
    headers: { 'x-caller': 'c' },
    body: Buffer.from('{}'),
    requestId: 'rid-1',
    now: Date.UTC(2026, 0, 2, 3, 4, 5),
    ...extra,
  };
}

const raw = (pk: ProviderKeyView, provider: string, rest: string, extra?: Partial<RawInput>): RawResult =>
  prepareRaw(defaultRegistry.resolve(pk), input(pk, provider, rest, extra));

function ok(r: RawResult): Extract<RawResult, { ok: true }> {
  assert.ok(r.ok, JSON.stringify(r));
  return r;
}

test('base: api_base, or the default of the path provider; a repeated version segment is dropped', () => {
  const openai = { api_key: 'sk-1', provider: 'openai' };
  assert.equal(ok(raw(openai, 'openai', 'v1/models')).url.href, 'https://api.openai.com/v1/models');
  assert.equal(ok(raw(openai, 'openai', 'models')).url.href, 'https://api.openai.com/v1/models');
  const q = ok(raw({ ...openai, api_base: 'http://h:1/v2/' }, 'openai', 'v2/x', { query: '?a=1' }));
  assert.equal(q.url.href, 'http://h:1/v2/x?a=1');
  assert.equal(ok(raw(openai, 'openai', 'v1beta/x')).url.href, 'https://api.openai.com/v1/v1beta/x');
  const gem = ok(
    raw({ api_key: 'AIza', provider: 'gemini', api_base: 'https://g/v1beta' }, 'gemini', 'v1beta/m'),
  );
  assert.equal(gem.url.href, 'https://g/v1beta/m');
  assert.equal(
    ok(raw({ api_key: 'k', provider: 'anthropic' }, 'anthropic', 'v1/messages')).url.href,
    'https://api.anthropic.com/v1/messages',
  );
  assert.equal(
    ok(raw({ api_key: 'k', provider: 'deepseek', adapter: 'openai' }, 'deepseek', 'chat/completions')).url
      .href,
    'https://api.deepseek.com/chat/completions',
  );
});

test("no default base for an unknown provider, nor for another vendor's key", () => {
  for (const r of [
    raw({ api_key: 'k', adapter: 'openai', provider: 'groq' }, 'groq', 'x'),
    raw({ api_key: 'k', adapter: 'openai', provider: 'groq' }, 'openai', 'x'),
  ]) {
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.kind, 'invalid_config');
  }
});

test('credentials per family; the caller headers kept; the request id set', () => {
  const bearer = ok(raw({ api_key: 'sk-1', provider: 'openai' }, 'openai', 'x'));
  assert.equal(bearer.headers.authorization, 'Bearer sk-1');
  assert.equal(bearer.headers['x-caller'], 'c');
  assert.equal(bearer.headers['x-aisix-request-id'], 'rid-1');
  const ant = ok(raw({ api_key: 'sk-ant', provider: 'anthropic' }, 'anthropic', 'v1/messages'));
  assert.equal(ant.headers['x-api-key'], 'sk-ant');
  assert.equal(ant.headers['anthropic-version'], '2023-06-01');
  const goog = ok(raw({ api_key: 'AIza', provider: 'gemini' }, 'gemini', 'v1beta/models'));
  assert.equal(goog.headers['x-goog-api-key'], 'AIza');
  // A key no adapter serves: the path provider's credential style.
  const generic = ok(raw({ api_key: 'AIza2', provider: 'google', api_base: 'https://g' }, 'google', 'x'));
  assert.equal(generic.headers['x-goog-api-key'], 'AIza2');
  const empty = raw({ api_key: ' ', provider: 'openai' }, 'openai', 'x');
  assert.equal(empty.ok ? '' : empty.error.kind, 'invalid_credentials');
});

test('Azure: api-key, or an Entra credential left to authorize', () => {
  const az = { adapter: 'azure-openai', api_base: 'https://res.openai.azure.com' };
  const key = ok(raw({ ...az, api_key: 'azk' }, 'azure', 'openai/deployments/d/chat/completions'));
  assert.equal(key.headers['api-key'], 'azk');
  assert.equal(key.authorize, undefined);
  const entra = JSON.stringify({ tenant_id: 'contoso.com', client_id: 'c', client_secret: 's' });
  const e = ok(raw({ ...az, api_key: entra }, 'azure', 'openai/x'));
  assert.equal(e.authorize, true);
  assert.equal(e.headers['api-key'], undefined);
});

test('Vertex: the regional host; a static token as Bearer, a service account left to authorize', () => {
  const tok = JSON.stringify({ project: 'p', region: 'us-central1', access_token: 'ya29.x' });
  const r = ok(raw({ adapter: 'vertex', api_key: tok }, 'vertex', 'v1/projects/p/locations/us-central1/x'));
  assert.equal(r.url.origin, 'https://us-central1-aiplatform.googleapis.com');
  assert.equal(r.headers.authorization, 'Bearer ya29.x');
  assert.equal(r.authorize, undefined);
});

test('Bedrock: SigV4 over the method and bytes; the caller x-amz-* headers dropped', () => {
  const pk = {
    adapter: 'bedrock',
    api_key: JSON.stringify({ access_key_id: 'AKID', secret_access_key: 'sec', region: 'eu-west-1' }),
  };
  const r = ok(raw(pk, 'bedrock', 'model/m/converse', { headers: { 'x-amz-security-token': 'caller' } }));
  assert.equal(r.url.href, 'https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse');
  assert.match(
    String(r.headers.authorization),
    /^AWS4-HMAC-SHA256 Credential=AKID\/20260102\/eu-west-1\/bedrock\//,
  );
  assert.equal(r.headers['x-amz-date'], '20260102T030405Z');
  assert.equal(r.headers['x-amz-security-token'], undefined);
  const get = ok(raw(pk, 'bedrock', 'guardrails', { method: 'GET', body: Buffer.alloc(0) }));
  assert.notEqual(get.headers.authorization, r.headers.authorization);
});
