import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inertResourceFields } from './inert-resources.js';
import { buildSnapshot, type Docs } from './test/fixtures.js';

test('guardrails the gateway runs are not reported inert; a kind it does not run is', () => {
  const docs = {
    guardrails: {
      a: { name: 'kw', kind: 'keyword', patterns: [] },
      b: { name: 'pii', kind: 'pii' },
      c: { name: 'mod', kind: 'openai_moderation', api_key: 'sk-x' },
      d: {
        name: 'ali',
        kind: 'aliyun_ai_guardrail',
        region: 'cn-shanghai',
        access_key_id: 'a',
        access_key_secret: 's',
      },
    },
    guardrail_attachments: { x: { guardrail_id: 'a', scope_type: 'env', priority: 0 } },
  } as Docs;
  assert.deepEqual(inertResourceFields(buildSnapshot(docs)), ['guardrails.kind: aliyun_ai_guardrail']);
});

test('every observability_exporters kind is delivered: none is reported inert', () => {
  const o = { kind: 'object_store', bucket: 'b', prefix: 'p/', credential_ref: 'r' };
  const docs = {
    observability_exporters: {
      a: { name: 's3', provider: 's3', ...o },
      b: { name: 'gcs', provider: 'gcs', ...o },
      c: { name: 'az', provider: 'azure_blob', ...o },
      d: {
        name: 'sls',
        kind: 'aliyun_sls',
        endpoint: 'https://cn-hangzhou.log.aliyuncs.com',
        project: 'p',
        logstore: 'l',
        credential_ref: 'r',
      },
    },
  } as Docs;
  assert.deepEqual(inertResourceFields(buildSnapshot(docs)), []);
});

test('a2a_agents and api_keys.allowed_agents are served (the A2A gateway): not reported inert', () => {
  const docs = {
    a2a_agents: { a: { name: 'helper', url: 'https://agent.example/rpc' } },
    api_keys: { k: { key_hash: 'a'.repeat(64), allowed_models: [], allowed_agents: ['help*'] } },
  } as Docs;
  assert.deepEqual(inertResourceFields(buildSnapshot(docs)), []);
});

test('provider_keys.tls is applied (its own connection pools): not reported inert', () => {
  const docs: Docs = {
    provider_keys: {
      p: { display_name: 'p', api_key: 'k', provider: 'openai', tls: { verify: false } },
    },
  };
  assert.deepEqual(inertResourceFields(buildSnapshot(docs)), []);
});
