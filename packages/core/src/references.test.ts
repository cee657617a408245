import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  brokenReferrers,
  describeUnresolved,
  type RefEntry,
  ReferenceIndex,
  refDotted,
  referencesOf,
  referringKinds,
  refPointer,
  unresolvedReferences,
} from './references.js';

const direct = (id: string, name: string, pk = 'pk-1'): RefEntry => ({
  kind: 'models',
  id,
  value: { display_name: name, provider: 'openai', model_name: 'x', provider_key_id: pk },
});

describe('referencesOf', () => {
  test('models: provider key by id and every alias field of the virtual shapes', () => {
    assert.deepEqual(
      referencesOf('models', direct('m', 'chat').value).map((r) => [refPointer(r.path), r.target, r.by]),
      [['/provider_key_id', 'provider_keys', 'id']],
    );
    const semantic = {
      display_name: 's',
      semantic: {
        embedding_model: 'emb',
        default: 'd',
        routes: [{ name: 'r', target: 't0', examples: ['x'] }],
        on_embedding_failure: { target: 'f' },
        match: { threshold: 0.5 },
      },
    };
    assert.deepEqual(
      referencesOf('models', semantic).map((r) => refPointer(r.path)),
      [
        '/semantic/embedding_model',
        '/semantic/default',
        '/semantic/routes/0/target',
        '/semantic/on_embedding_failure/target',
      ],
    );
    const ensemble = {
      display_name: 'e',
      ensemble: { panel: [{ model: 'a' }, { model: 'b' }], judge: { model: 'j', synthesis_prompt: 'p' } },
    };
    assert.deepEqual(
      referencesOf('models', ensemble).map((r) => refDotted(r.path)),
      ['ensemble.panel[0].model', 'ensemble.panel[1].model', 'ensemble.judge.model'],
    );
  });

  test('alias patterns (any `*`) are not references: they may match a model created later', () => {
    const refs = referencesOf('api_keys', {
      allowed_models: ['chat', '*', 'openai/*', 'a*b*'],
      key_hash: 'h',
    });
    assert.deepEqual(
      refs.map((r) => r.value),
      ['chat'],
    );
    const group = { display_name: 'g', routing: { targets: [{ model: 'gpt-*' }, { model: 'm' }] } };
    assert.deepEqual(
      referencesOf('models', group).map((r) => refPointer(r.path)),
      ['/routing/targets/1/model'],
    );
  });

  test('api keys, policies, attachments, cache policies', () => {
    assert.deepEqual(
      referencesOf('api_keys', { allowed_models: [], jwt_provider: 'okta' }).map((r) => [r.target, r.by]),
      [['oidc_providers', 'name']],
    );
    const policy = {
      name: 'p',
      limits: { rpm: 1 },
      conditions: [
        { dimension: 'model', operator: 'in', value: ['m1', 'm2'] },
        {
          logic: 'or',
          children: [
            { dimension: 'api_key', operator: '==', value: 'k1' },
            { dimension: 'team', operator: '==', value: 't' },
          ],
        },
      ],
    };
    assert.deepEqual(
      referencesOf('rate_limit_policies', policy).map((r) => [refPointer(r.path), r.target]),
      [
        ['/conditions/0/value/0', 'models'],
        ['/conditions/0/value/1', 'models'],
        ['/conditions/1/children/0/value', 'api_keys'],
      ],
    );
    const classic = { name: 'c', scope: 'model', scope_ref: 'm1', window: 'minute', max_requests: 1 };
    assert.deepEqual(
      referencesOf('rate_limit_policies', classic).map((r) => [r.target, r.value]),
      [['models', 'm1']],
    );
    assert.deepEqual(referencesOf('rate_limit_policies', { ...classic, scope: 'team' }), []);
    assert.deepEqual(
      referencesOf('guardrail_attachments', { guardrail_id: 'g', scope_type: 'api_key', scope_id: 'k' }).map(
        (r) => [refPointer(r.path), r.target],
      ),
      [
        ['/guardrail_id', 'guardrails'],
        ['/scope_id', 'api_keys'],
      ],
    );
    assert.deepEqual(
      referencesOf('guardrail_attachments', { guardrail_id: 'g', scope_type: 'team', scope_id: 't' }).length,
      1,
    );
    assert.deepEqual(
      referencesOf('cache_policies', {
        name: 'c',
        applies_to: 'model:chat',
        semantic: { embedding_model: 'e' },
      }).map((r) => [r.target, r.by, r.value]),
      [
        ['models', 'alias', 'chat'],
        ['models', 'alias', 'e'],
      ],
    );
    assert.deepEqual(referencesOf('cache_policies', { name: 'c', applies_to: 'api_key:k9' })[0]?.value, 'k9');
    assert.deepEqual(referencesOf('cache_policies', { name: 'c', applies_to: 'all' }), []);
    assert.deepEqual(referencesOf('mcp_policies', { mode: 'all', scope: 'team', scope_ref: 't' }), []);
  });

  test('malformed documents give no references instead of throwing', () => {
    assert.deepEqual(referencesOf('models', { routing: 'x', provider_key_id: 7 }), []);
    assert.deepEqual(referencesOf('api_keys', { allowed_models: 'chat' }), []);
  });
});

describe('ReferenceIndex', () => {
  const idx = new ReferenceIndex([
    { kind: 'provider_keys', id: 'pk-1', value: { display_name: 'oa' } },
    direct('m1', 'chat'),
    direct('m2', 'openai/*'),
    {
      kind: 'models',
      id: 'm3',
      value: { display_name: 'group-*', routing: { targets: [{ model: 'chat' }] } },
    },
    { kind: 'oidc_providers', id: 'o1', value: { name: 'okta' } },
  ]);
  const ref = (
    target: 'models' | 'provider_keys' | 'oidc_providers',
    by: 'id' | 'alias' | 'name',
    value: string,
  ) => ({
    path: ['x'],
    target,
    by,
    value,
  });

  test('ids, names, exact aliases and single-`*` aliases of direct models resolve', () => {
    assert.ok(idx.resolves(ref('provider_keys', 'id', 'pk-1')));
    assert.ok(!idx.resolves(ref('provider_keys', 'id', 'oa')), 'a name is not an id');
    assert.ok(idx.resolves(ref('models', 'alias', 'chat')));
    assert.ok(idx.resolves(ref('models', 'alias', 'openai/gpt-4o')), 'matched by the wildcard alias');
    assert.ok(!idx.resolves(ref('models', 'alias', 'group-x')), 'only direct models are wildcard aliases');
    assert.ok(idx.resolves(ref('models', 'alias', 'group-*')), 'but their exact name resolves');
    assert.ok(!idx.resolves(ref('models', 'alias', 'gpt-4o')));
    assert.ok(idx.resolves(ref('oidc_providers', 'name', 'okta')));
    assert.ok(!idx.resolves(ref('oidc_providers', 'name', 'o1')));
  });

  test('unresolved references come back in document order with a message', () => {
    const bad = unresolvedReferences('models', direct('m9', 'x', 'undefined').value, idx);
    assert.equal(bad.length, 1);
    assert.equal(describeUnresolved(bad[0]!), '"undefined" is not the id of any provider key');
  });

  test('brokenReferrers: what resolves before and not after', () => {
    const entries: RefEntry[] = [
      { kind: 'provider_keys', id: 'pk-1', value: { display_name: 'oa' } },
      direct('m1', 'chat'),
      direct('m2', 'chat-*'),
      { kind: 'api_keys', id: 'k1', value: { allowed_models: ['chat', 'chat-mini', 'gone'] } },
    ];
    const before = new ReferenceIndex(entries);
    const noChat = new ReferenceIndex(entries.filter((e) => e.id !== 'm1'));
    const broken = brokenReferrers(entries, before, noChat);
    assert.deepEqual(
      broken.map((b) => [b.kind, b.id, refPointer(b.path)]),
      [['api_keys', 'k1', '/allowed_models/0']],
      '"chat-mini" still resolves through chat-*, "gone" was already dangling',
    );
    const noPk = new ReferenceIndex(entries.filter((e) => e.id !== 'pk-1'));
    assert.deepEqual(
      brokenReferrers(entries, before, noPk).map((b) => b.id),
      ['m1', 'm2'],
    );
  });

  test('referringKinds lists the kinds a delete must scan', () => {
    assert.deepEqual(referringKinds('provider_keys'), ['models']);
    assert.deepEqual(referringKinds('models').sort(), [
      'api_keys',
      'cache_policies',
      'guardrail_attachments',
      'models',
      'rate_limit_policies',
    ]);
    assert.deepEqual(referringKinds('guardrails'), ['guardrail_attachments']);
    assert.deepEqual(referringKinds('mcp_servers'), []);
  });

  test('pointers escape ~ and /', () => {
    assert.equal(refPointer(['a/b', 'c~d', 0]), '/a~1b/c~0d/0');
    assert.equal(refDotted(['allowed_models', 3]), 'allowed_models[3]');
  });
});
