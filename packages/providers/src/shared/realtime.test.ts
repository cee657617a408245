import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProviderKeyView, RealtimeInput, RealtimeResult } from '../contract.js';
import { defaultRegistry } from '../index.js';

function prep(pk: ProviderKeyView, upstreamModel = 'gpt-4o-realtime-preview'): RealtimeResult {
  const adapter = defaultRegistry.resolve(pk);
  assert.ok(adapter?.prepareRealtime, `adapter ${adapter?.id} serves realtime`);
  const input: RealtimeInput = {
    providerKey: pk,
    upstreamModel,
    templateVars: { 'request.id': 'r1', 'model.name': 'rt' },
    userAgent: 'aisix/test',
  };
  return adapter.prepareRealtime(input);
}

const ok = (r: RealtimeResult) => {
  assert.ok(r.ok, JSON.stringify(r));
  return r.request;
};

test('openai: api_base joined with /realtime, scheme to ws(s), model percent-encoded, PK bearer + beta header', () => {
  const r = ok(prep({ provider: 'openai', api_key: 'sk-up' }, 'gpt 4o/rt'));
  assert.equal(r.url.href, 'wss://api.openai.com/v1/realtime?model=gpt%204o%2Frt');
  assert.equal(r.headers.authorization, 'Bearer sk-up');
  assert.equal(r.headers['openai-beta'], 'realtime=v1');
  const local = ok(
    prep({ adapter: 'openai', provider: 'local', api_key: 'k', api_base: 'http://127.0.0.1:9/v1' }),
  );
  assert.equal(local.url.href, 'ws://127.0.0.1:9/v1/realtime?model=gpt-4o-realtime-preview');
  // A bare host gets /v1 (the non-chat rule of data-plane §5.3); a ws(s) base is taken as is.
  assert.equal(
    ok(prep({ adapter: 'openai', provider: 'x', api_key: 'k', api_base: 'https://gw.example' })).url.href,
    'wss://gw.example/v1/realtime?model=gpt-4o-realtime-preview',
  );
  assert.equal(
    ok(prep({ adapter: 'openai', provider: 'x', api_key: 'k', api_base: 'wss://gw.example/v1?t=a' })).url
      .href,
    'wss://gw.example/v1/realtime?t=a&model=gpt-4o-realtime-preview',
  );
});

test('openai: default_headers apply, but never over the gateway-owned credential', () => {
  const r = ok(
    prep({
      adapter: 'openai',
      provider: 'x',
      api_key: 'k',
      api_base: 'http://h/v1',
      request: {
        default_headers: { 'x-model': ['$', '{model.name}'].join(''), authorization: 'Bearer other' },
      },
    }),
  );
  assert.equal(r.headers['x-model'], 'rt');
  assert.equal(r.headers.authorization, 'Bearer k');
});

test('openai: refusals before any I/O (bad scheme, empty secret); no secret in messages', () => {
  const bad = prep({ adapter: 'openai', provider: 'x', api_key: 'k', api_base: 'ftp://h/v1' });
  assert.ok(!bad.ok && bad.error.kind === 'invalid_config' && bad.error.message.includes('ws(s)'));
  const empty = prep({ adapter: 'openai', provider: 'x', api_key: ' ', api_base: 'http://h/v1' });
  assert.ok(!empty.ok && empty.error.kind === 'invalid_credentials');
});

test('azure-openai: deployment URL with the realtime api-version and the api-key header', () => {
  const r = ok(
    prep({ adapter: 'azure-openai', api_key: 'az-key', api_base: 'https://res1.openai.azure.com' }, 'dep-1'),
  );
  assert.equal(
    r.url.href,
    'wss://res1.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=dep-1',
  );
  assert.equal(r.headers['api-key'], 'az-key');
  assert.equal(r.headers.authorization, undefined);
  const entra = prep(
    {
      adapter: 'azure-openai',
      api_key: JSON.stringify({ tenant_id: 'contoso.com', client_id: 'c', client_secret: 's' }),
      api_base: 'res1',
    },
    'dep-1',
  );
  assert.ok(!entra.ok && entra.error.message.includes('api-key credential'));
  assert.ok(!prep({ adapter: 'azure-openai', api_key: 'k', api_base: 'res1' }, 'a/b').ok);
});

test('adapters of other wires do not serve realtime', () => {
  for (const pk of [
    { provider: 'anthropic' },
    { provider: 'deepseek', adapter: 'openai' },
    { adapter: 'bedrock' },
  ]) {
    assert.equal(defaultRegistry.resolve(pk)?.prepareRealtime, undefined, JSON.stringify(pk));
  }
});
