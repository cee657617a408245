import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCapability, type PrepareInput, type ProviderKeyView } from '../contract.js';
import { defaultRegistry } from '../index.js';
import { anthropicAdapter } from './index.js';

function input(pk: ProviderKeyView, over: Partial<PrepareInput> = {}): PrepareInput {
  return {
    endpoint: 'chat',
    stream: false,
    body: { model: 'alias', messages: [{ role: 'user', content: 'hi' }], temperature: 1.5, user: 'u' },
    upstreamModel: 'claude-sonnet-4-20250514',
    providerKey: pk,
    requestId: 'req-1',
    inboundHeaders: { 'x-trace': 't1', authorization: 'Bearer sk-caller', 'x-api-key': 'sk-caller' },
    templateVars: { 'request.id': 'req-1', 'model.name': 'alias' },
    userAgent: 'aisix/test',
    ...over,
  };
}

test('credentials: x-api-key + anthropic-version, never Authorization; caller credentials not forwarded', () => {
  const r = anthropicAdapter.prepare(
    input({
      api_key: 'sk-ant-secret',
      provider: 'anthropic',
      request: {
        forward_client_headers: ['*'],
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a header template, not a JS template
        default_headers: { 'x-model': '${model.name}', 'x-api-key': 'evil', 'anthropic-version': 'old' },
      },
    }),
  );
  assert.ok(r.ok);
  const h = r.request.headers;
  assert.equal(h['x-api-key'], 'sk-ant-secret');
  assert.equal(h['anthropic-version'], '2023-06-01');
  assert.equal(h.authorization, undefined);
  assert.equal(h['content-type'], 'application/json');
  assert.equal(h.accept, 'application/json');
  assert.equal(h['x-aisix-request-id'], 'req-1');
  assert.equal(h['user-agent'], 'aisix/test');
  assert.equal(h['x-model'], 'alias');
  assert.equal(h['x-trace'], 't1');
  assert.equal(r.request.url.href, 'https://api.anthropic.com/v1/messages');
  const body = JSON.parse(r.request.body);
  assert.equal(body.model, 'claude-sonnet-4-20250514');
  assert.equal(body.stream, false);
  assert.equal(body.user, undefined);
});

test('api_base rules: suffix tolerance, mounted path, missing base only for vendor anthropic/empty', () => {
  const url = (pk: ProviderKeyView) => {
    const r = anthropicAdapter.prepare(input({ api_key: 'k', ...pk }));
    return r.ok ? r.request.url.href : r.error;
  };
  assert.equal(
    url({ api_base: 'https://gw.example/anthropic/' }),
    'https://gw.example/anthropic/v1/messages',
  );
  assert.equal(url({ api_base: 'https://gw.example/v1' }), 'https://gw.example/v1/messages');
  assert.equal(url({ api_base: ' https://gw.example/v1/messages ' }), 'https://gw.example/v1/messages');
  assert.equal(url({ adapter: 'anthropic' }), 'https://api.anthropic.com/v1/messages');
  assert.deepEqual(url({ provider: 'minimax', adapter: 'anthropic' }), {
    kind: 'invalid_config',
    message:
      'invalid upstream configuration: provider_key for vendor "minimax" has no upstream base URL configured',
  });
});

test('unusable credentials are refused before I/O without echoing the key', () => {
  const empty = anthropicAdapter.prepare(input({ api_key: ' ' }));
  assert.equal(!empty.ok && empty.error.kind, 'invalid_credentials');
  const bad = anthropicAdapter.prepare(input({ api_key: 'sk-ant\nX-Evil: 1' }));
  assert.ok(!bad.ok);
  assert.equal(bad.error.kind, 'invalid_credentials');
  assert.ok(!bad.error.message.includes('sk-ant'));
});

test('body overrides apply to the translated body; streaming sets stream and Accept', () => {
  const r = anthropicAdapter.prepare(
    input(
      {
        api_key: 'k',
        request: {
          param_constraints: { temperature_max: 1 },
          default_body_fields: { top_k: 5, max_tokens: 1 },
          param_renames: { top_p: 'nucleus' },
        },
      },
      { stream: true, body: { messages: [{ role: 'user', content: 'x' }], temperature: 1.7, top_p: 0.5 } },
    ),
  );
  assert.ok(r.ok);
  const body = JSON.parse(r.request.body);
  assert.equal(body.temperature, 1);
  assert.equal(body.top_k, 5);
  assert.equal(body.max_tokens, 4096, 'default_body_fields never overwrites a present field');
  assert.equal(body.nucleus, 0.5);
  assert.equal(body.stream, true);
  assert.equal(r.request.headers.accept, 'text/event-stream');
});

test('tool message without tool_call_id: invalid_config (400)', () => {
  const r = anthropicAdapter.prepare(
    input({ api_key: 'k' }, { body: { messages: [{ role: 'tool', content: 'x' }] } }),
  );
  assert.deepEqual(!r.ok && r.error, {
    kind: 'invalid_config',
    message: 'invalid upstream configuration: tool message missing tool_call_id field',
  });
});

test('registry: vendor anthropic and family anthropic resolve here; chat only', () => {
  assert.equal(defaultRegistry.resolve({ provider: 'anthropic' }), anthropicAdapter);
  assert.equal(defaultRegistry.resolve({ provider: 'anthropic', adapter: 'openai' }), anthropicAdapter);
  assert.equal(defaultRegistry.resolve({ provider: 'kimi', adapter: 'anthropic' }), anthropicAdapter);
  assert.equal(checkCapability(anthropicAdapter, 'chat', true), undefined);
  assert.equal(checkCapability(anthropicAdapter, 'embeddings', false)?.kind, 'not_implemented');
  assert.equal(checkCapability(anthropicAdapter, 'completions', false)?.kind, 'not_implemented');
});
