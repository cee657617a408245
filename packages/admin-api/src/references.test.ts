/**
 * Reference checks on admin writes and deletes (docs/admin-api.md "References"), over real
 * HTTP on both stores: every reference of control-plane §3.4 must resolve on create and
 * replace (400 naming the field's JSON pointer, nothing stored), patterns are never checked,
 * and a delete or a rename that would leave other entries' references dangling is a 409
 * naming them (kind/id and the field), with nothing changed.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { KindName } from '@aisix/core';
import { createProviderKey, describeOnBothStores, obj } from './testing/harness.js';

const MISSING = '00000000-0000-4000-8000-00000000dead';

describeOnBothStores('reference checks', (s) => {
  let pk: string;
  let chat: string;
  let key: string;
  let guard: string;

  const post = async (kind: string, body: unknown): Promise<string> => {
    const r = await s.admin.call('POST', `/admin/v1/${kind}`, { body });
    assert.equal(r.status, 200, `${kind}: ${r.text}`);
    return String(obj(r.json).id);
  };

  /** 400 in the envelope, naming the pointer; the kind's count is unchanged. */
  const refused = async (
    method: 'POST' | 'PUT',
    path: string,
    body: unknown,
    pointer: string,
    says: string,
  ) => {
    const kind = path.split('/')[3] ?? '';
    const n = await s.h.rawCount(kind as KindName);
    const r = await s.admin.call(method, path, { body });
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(Object.keys(obj(r.json)), ['error_msg']);
    const msg = String(obj(r.json).error_msg);
    assert.ok(msg.startsWith(`reference validation failed at ${pointer}: `), msg);
    assert.ok(msg.includes(says), msg);
    assert.equal(await s.h.rawCount(kind as KindName), n, 'nothing stored');
  };

  before(async () => {
    pk = await createProviderKey(s.admin);
    chat = await post('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-4o',
      provider_key_id: pk,
    });
    await post('models', {
      display_name: 'openai/*',
      provider: 'openai',
      model_name: '*',
      provider_key_id: pk,
    });
    await post('models', {
      display_name: 'embed',
      provider: 'openai',
      model_name: 'e',
      provider_key_id: pk,
      embedding: { dimensions: 8 },
    });
    key = await post('api_keys', { allowed_models: ['chat'] });
    guard = await post('guardrails', {
      name: 'g',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'x' }],
    });
  });

  it('a model whose provider_key_id names nothing is 400 at /provider_key_id (POST and PUT)', async () => {
    const bad = { display_name: 'm', provider: 'openai', model_name: 'x', provider_key_id: 'undefined' };
    await refused(
      'POST',
      '/admin/v1/models',
      bad,
      '/provider_key_id',
      '"undefined" is not the id of any provider key',
    );
    await refused(
      'PUT',
      `/admin/v1/models/${chat}`,
      { ...bad, display_name: 'chat' },
      '/provider_key_id',
      'provider key',
    );
    const stored = await s.h.store.get('models', chat);
    assert.equal(stored?.value.provider_key_id, pk, 'the PUT changed nothing');
    // A provider key's display name is not its id.
    await refused('POST', '/admin/v1/models', { ...bad, provider_key_id: 'pk' }, '/provider_key_id', '"pk"');
  });

  it('routing, ensemble and semantic members must name models; patterns are not checked', async () => {
    await refused(
      'POST',
      '/admin/v1/models',
      { display_name: 'grp', routing: { targets: [{ model: 'chat' }, { model: 'nope' }] } },
      '/routing/targets/1/model',
      '"nope" names no model',
    );
    await refused(
      'POST',
      '/admin/v1/models',
      {
        display_name: 'ens',
        ensemble: { panel: [{ model: 'chat' }], judge: { model: 'ghost', synthesis_prompt: 'p' } },
      },
      '/ensemble/judge/model',
      '"ghost"',
    );
    await refused(
      'POST',
      '/admin/v1/models',
      {
        display_name: 'sem',
        semantic: {
          embedding_model: 'embed',
          match: { threshold: 0.8 },
          routes: [{ name: 'r', target: 'chat', examples: ['hi'] }],
          on_embedding_failure: { target: 'nowhere' },
        },
      },
      '/semantic/on_embedding_failure/target',
      '"nowhere"',
    );
    // Wildcard alias resolution and patterns: all accepted.
    const grp = await post('models', {
      display_name: 'grp',
      routing: { targets: [{ model: 'chat' }, { model: 'openai/gpt-4.1' }, { model: 'anything-*' }] },
    });
    assert.equal((await s.admin.call('DELETE', `/admin/v1/models/${grp}`)).status, 200);
  });

  it('allowed_models: a name that resolves to nothing is 400; globs and wildcard matches pass', async () => {
    await refused(
      'POST',
      '/admin/v1/api_keys',
      { allowed_models: ['chat', 'gpt-5'] },
      '/allowed_models/1',
      '"gpt-5" names no model',
    );
    await refused(
      'PUT',
      `/admin/v1/api_keys/${key}`,
      { allowed_models: ['typo'] },
      '/allowed_models/0',
      '"typo"',
    );
    const ok = await post('api_keys', {
      allowed_models: ['chat', '*', 'openai/gpt-4o-mini', 'team-*', 'a*b*'],
    });
    assert.equal((await s.admin.call('DELETE', `/admin/v1/api_keys/${ok}`)).status, 200);
    await refused(
      'POST',
      '/admin/v1/api_keys',
      { allowed_models: [], jwt_provider: 'okta' },
      '/jwt_provider',
      'oidc provider',
    );
  });

  it('attachments and policies: guardrail, scope and condition ids must exist', async () => {
    await refused(
      'POST',
      '/admin/v1/guardrail_attachments',
      { guardrail_id: MISSING, scope_type: 'env', scope_id: null, priority: 1 },
      '/guardrail_id',
      'guardrail',
    );
    await refused(
      'POST',
      '/admin/v1/guardrail_attachments',
      { guardrail_id: guard, scope_type: 'model', scope_id: 'chat', priority: 1 },
      '/scope_id',
      '"chat" is not the id of any model',
    );
    await refused(
      'POST',
      '/admin/v1/rate_limit_policies',
      { name: 'p', scope: 'api_key', scope_ref: MISSING, window: 'minute', max_requests: 5 },
      '/scope_ref',
      'api key',
    );
    await refused(
      'POST',
      '/admin/v1/rate_limit_policies',
      {
        name: 'p',
        limits: { rpm: 5 },
        conditions: [{ dimension: 'model', operator: 'in', value: [chat, 'gone'] }],
      },
      '/conditions/0/value/1',
      '"gone"',
    );
    await refused(
      'POST',
      '/admin/v1/cache_policies',
      { name: 'c', applies_to: 'model:nochat' },
      '/applies_to',
      '"nochat" names no model',
    );
    await refused(
      'POST',
      '/admin/v1/cache_policies',
      { name: 'c', applies_to: 'all', semantic: { embedding_model: 'nope', threshold: 0.9 } },
      '/semantic/embedding_model',
      '"nope"',
    );
    // Team scopes name no resource; they are not checked.
    const team = await post('rate_limit_policies', {
      name: 'team',
      scope: 'team',
      scope_ref: 'any-team',
      window: 'minute',
      max_requests: 5,
    });
    assert.equal((await s.admin.call('DELETE', `/admin/v1/rate_limit_policies/${team}`)).status, 200);
  });

  it('deleting a referenced resource is 409 naming the referrers; nothing is deleted', async () => {
    const att = await post('guardrail_attachments', {
      guardrail_id: guard,
      scope_type: 'model',
      scope_id: chat,
      priority: 1,
    });
    const pol = await post('rate_limit_policies', {
      name: 'per-key',
      scope: 'api_key',
      scope_ref: key,
      window: 'minute',
      max_requests: 5,
    });
    const del = async (kind: string, id: string) => s.admin.call('DELETE', `/admin/v1/${kind}/${id}`);

    const pkDel = await del('provider_keys', pk);
    assert.equal(pkDel.status, 409, pkDel.text);
    const msg = String(obj(pkDel.json).error_msg);
    assert.deepEqual(Object.keys(obj(pkDel.json)), ['error_msg']);
    assert.match(msg, /^resource is still referenced: referenced by /);
    assert.ok(msg.includes(`models/${chat} ("chat") at /provider_key_id`), msg);
    assert.ok(msg.includes('("openai/*")') && msg.includes('("embed")'), msg);
    assert.ok((await s.h.store.get('provider_keys', pk)) !== null, 'still stored');

    const chatDel = await del('models', chat);
    assert.equal(chatDel.status, 409);
    const cm = String(obj(chatDel.json).error_msg);
    assert.ok(cm.includes(`api_keys/${key} at /allowed_models/0`), cm);
    assert.ok(cm.includes(`guardrail_attachments/${att} at /scope_id`), cm);

    const keyDel = await del('api_keys', key);
    assert.equal(keyDel.status, 409);
    assert.ok(
      String(obj(keyDel.json).error_msg).includes(`rate_limit_policies/${pol} ("per-key") at /scope_ref`),
    );
    const gDel = await del('guardrails', guard);
    assert.equal(gDel.status, 409);
    assert.ok(String(obj(gDel.json).error_msg).includes(`guardrail_attachments/${att} at /guardrail_id`));

    // Renaming a model that others name is the same conflict; keeping the name is fine.
    const rename = await s.admin.call('PUT', `/admin/v1/models/${chat}`, {
      body: { display_name: 'chat-2', provider: 'openai', model_name: 'gpt-4o', provider_key_id: pk },
    });
    assert.equal(rename.status, 409, rename.text);
    assert.match(
      String(obj(rename.json).error_msg),
      /^this change would leave references dangling: .*api_keys\//,
    );
    assert.equal((await s.h.store.get('models', chat))?.value.display_name, 'chat');
    const keep = await s.admin.call('PUT', `/admin/v1/models/${chat}`, {
      body: { display_name: 'chat', provider: 'openai', model_name: 'gpt-4.1', provider_key_id: pk },
    });
    assert.equal(keep.status, 200, keep.text);

    // Removing the referrers first, in order, lets every delete through.
    for (const [kind, id] of [
      ['rate_limit_policies', pol],
      ['guardrail_attachments', att],
      ['guardrails', guard],
      ['api_keys', key],
    ] as const) {
      const r = await del(kind, id);
      assert.equal(r.status, 200, `${kind}: ${r.text}`);
    }
    const models = (await s.h.store.list('models')).map((m) => m.id);
    for (const id of models) assert.equal((await del('models', id)).status, 200);
    assert.equal((await del('provider_keys', pk)).status, 200);
    assert.equal(await s.h.rawCount('provider_keys'), 0);
  });

  it('provider keys: unknown provider and a non-URL api_base are 400 at their pointers', async () => {
    const r1 = await s.admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 'x', api_key: 'sk-1', provider: 'not-a-vendor' },
    });
    assert.equal(r1.status, 400);
    assert.match(
      String(obj(r1.json).error_msg),
      /^schema validation failed at \/provider: unknown provider "not-a-vendor"/,
    );
    const r2 = await s.admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 'x', api_key: 'sk-1', provider: 'openai', api_base: 'not a url' },
    });
    assert.equal(r2.status, 400);
    assert.equal(
      obj(r2.json).error_msg,
      'schema validation failed at /api_base: must be an absolute http(s) URL',
    );
    assert.equal(await s.h.rawCount('provider_keys'), 0);
  });
});
