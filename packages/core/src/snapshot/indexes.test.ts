import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SnapshotBuilder } from './builder.js';
import { resolveModel } from './resolve.js';
import { emptySnapshot } from './snapshot.js';
import { apiKey, entry, hashOf, model, P, providerKey } from './test-helpers.js';
import type { ConfigSnapshot, Resource } from './types.js';

const routing = (name: string) => ({ display_name: name, routing: { targets: [{ model: 'm1' }] } });

function build(...docs: [string, string, Record<string, unknown>][]): ConfigSnapshot {
  const b = new SnapshotBuilder({ prefix: P });
  return b.resync(
    docs.map(([kind, id, doc]) => entry(`${P}/${kind}/${id}`, doc)),
    1,
  );
}

describe('snapshot indexes', () => {
  test('byId, byName, apiKeysByHash', () => {
    const s = build(
      ['models', 'id-m1', model('m1')],
      ['provider_keys', 'id-p1', providerKey('p1')],
      ['api_keys', 'id-k1', apiKey(hashOf(1))],
    );
    assert.equal(s.byId('models').get('id-m1')?.value.display_name, 'm1');
    assert.equal(s.byName('models', 'm1')?.id, 'id-m1');
    assert.equal(s.byName('provider_keys', 'p1')?.id, 'id-p1');
    assert.equal(s.byName('models', 'nope'), undefined);
    assert.equal(s.apiKeysByHash.get(hashOf(1))?.id, 'id-k1');
    assert.equal(s.byId('guardrails').size, 0);
    const r = s.byId('models').get('id-m1')!;
    assert.equal(r.kind, 'models');
    assert.equal(r.key, `${P}/models/id-m1`);
    assert.equal(r.revision, 1);
  });

  test('duplicate names: the last inserted wins; removing it hands the name to the other', () => {
    const b = new SnapshotBuilder({ prefix: P });
    b.resync([entry(`${P}/models/a`, model('dup')), entry(`${P}/models/b`, model('dup'))], 1);
    assert.equal(b.current.byName('models', 'dup')?.id, 'b');
    const s = b.delete(`${P}/models/b`, 2);
    assert.equal(s.byName('models', 'dup')?.id, 'a');
    const s2 = b.put(entry(`${P}/models/a`, model('renamed'), 3));
    assert.equal(s2.byName('models', 'dup'), undefined);
    assert.equal(s2.modelsByAlias.get('renamed')?.id, 'a');
  });

  test('rotating an api key moves it in the hash index', () => {
    const b = new SnapshotBuilder({ prefix: P });
    b.resync([entry(`${P}/api_keys/k`, apiKey(hashOf(1)))], 1);
    const s = b.put(entry(`${P}/api_keys/k`, apiKey(hashOf(2)), 2));
    assert.equal(s.apiKeysByHash.get(hashOf(1)), undefined);
    assert.equal(s.apiKeysByHash.get(hashOf(2))?.id, 'k');
  });

  test('modelsByAlias holds names without "*"; wildcardModels holds single-* direct models, most specific first', () => {
    const s = build(
      ['models', '1', model('gpt-4o')],
      ['models', '2', model('openai/*')],
      ['models', '3', model('openai/gpt-*')],
      ['models', '4', model('*')],
      ['models', '5', model('a*b*c')],
      ['models', '6', routing('group-*')],
      ['models', '7', model('other/*')],
    );
    assert.deepEqual([...s.modelsByAlias.keys()], ['gpt-4o']);
    assert.deepEqual(
      s.wildcardModels.map((m) => m.value.display_name),
      ['openai/gpt-*', 'openai/*', 'other/*', '*'],
    );
  });
});

describe('resolveModel', () => {
  const s = build(
    ['models', 'exact', model('openai/gpt-4o', { model_name: 'gpt-4o-2024' })],
    ['models', 'wide', model('openai/*', { model_name: 'vendor-*-latest' })],
    ['models', 'narrow', model('openai/gpt-*', { model_name: 'fixed-id' })],
    ['models', 'tie1', model('x*y')],
    ['models', 'tie2', model('xy*')],
    ['models', 'lit', model('a*b*c', { model_name: 'literal' })],
    ['models', 'grp', routing('group/*')],
    ['models', 'overlap', model('ab*ba')],
  );

  test('an exact alias wins over any wildcard', () => {
    const r = resolveModel(s, 'openai/gpt-4o');
    assert.equal(r?.model.id, 'exact');
    assert.equal(r?.upstreamModel, 'gpt-4o-2024');
    assert.equal(r?.wildcard, false);
  });

  test('the longest literal wins; a template without * is used as-is', () => {
    const r = resolveModel(s, 'openai/gpt-5');
    assert.equal(r?.model.id, 'narrow');
    assert.equal(r?.upstreamModel, 'fixed-id');
    assert.equal(r?.wildcard, true);
  });

  test('the captured segment replaces the first * of model_name', () => {
    const r = resolveModel(s, 'openai/o3-mini');
    assert.equal(r?.model.id, 'wide');
    assert.equal(r?.upstreamModel, 'vendor-o3-mini-latest');
  });

  test('equal literal length: first seen wins', () => {
    assert.equal(resolveModel(s, 'xyy')?.model.id, 'tie1');
  });

  test('two * make a literal; groups never serve wildcard matches; no match is undefined', () => {
    assert.equal(resolveModel(s, 'abbbc'), undefined);
    assert.equal(resolveModel(s, 'a*b*c')?.model.id, 'lit');
    assert.equal(resolveModel(s, 'group/x'), undefined);
    assert.equal(resolveModel(s, 'nothing'), undefined);
    assert.equal(resolveModel(s, 'aba'), undefined, 'prefix and suffix must not overlap');
    assert.equal(resolveModel(s, 'abba')?.model.id, 'overlap');
    assert.equal(resolveModel(emptySnapshot(), 'openai/x'), undefined);
  });

  test('without a model_name the captured segment is the upstream id', () => {
    const bare: Resource<'models'> = Object.freeze({
      kind: 'models',
      id: 'bare',
      key: `${P}/models/bare`,
      revision: 1,
      value: {
        display_name: 'p/*',
        provider: 'openai',
        provider_key_id: 'pk',
      } as Resource<'models'>['value'],
    });
    const fake: ConfigSnapshot = {
      ...emptySnapshot(),
      byName: () => undefined,
      byId: emptySnapshot().byId,
      wildcardModels: [bare],
    };
    assert.equal(resolveModel(fake, 'p/gpt')?.upstreamModel, 'gpt');
  });
});
