import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  effectivePrefix,
  isAddressableResourceId,
  isValidResourceId,
  kindPrefix,
  parseKey,
  resourceKey,
  watchPrefix,
} from './keys.js';

describe('effectivePrefix', () => {
  test('trims trailing slashes', () => {
    assert.equal(effectivePrefix('/aisix/'), '/aisix');
    assert.equal(effectivePrefix('/aisix//'), '/aisix');
    assert.equal(effectivePrefix('/aisix'), '/aisix');
  });
  test('appends a non-empty env_id', () => {
    assert.equal(effectivePrefix('/aisix/', 'prod'), '/aisix/prod');
    assert.equal(effectivePrefix('/aisix', ''), '/aisix');
  });
});

describe('building keys', () => {
  test('resource key is <prefix>/<kind>/<id>', () => {
    assert.equal(resourceKey('/aisix', 'models', 'abc'), '/aisix/models/abc');
    assert.equal(resourceKey('/aisix/', 'api_keys', 'k'), '/aisix/api_keys/k');
  });
  test('kind and watch prefixes end with /', () => {
    assert.equal(kindPrefix('/aisix', 'models'), '/aisix/models/');
    assert.equal(watchPrefix('/aisix'), '/aisix/');
    assert.equal(watchPrefix('/aisix/'), '/aisix/');
  });
});

describe('parseKey', () => {
  test('parses kind and id', () => {
    assert.deepEqual(parseKey('/aisix', '/aisix/models/123'), { ok: true, kind: 'models', id: '123' });
  });
  test('id may contain /', () => {
    assert.deepEqual(parseKey('/aisix', '/aisix/provider_keys/a/b/c'), {
      ok: true,
      kind: 'provider_keys',
      id: 'a/b/c',
    });
  });
  test('round-trips resourceKey for every kind with an env prefix', () => {
    const p = effectivePrefix('/aisix', 'staging');
    assert.deepEqual(parseKey(p, resourceKey(p, 'mcp_policies', 'x/y')), {
      ok: true,
      kind: 'mcp_policies',
      id: 'x/y',
    });
  });
  test('look-alike prefix is a bad key', () => {
    const r = parseKey('/aisix', '/aisixfoo/models/1');
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.errorKind, 'bad_key');
  });
  test('key of another env is a bad key', () => {
    const r = parseKey('/aisix/prod', '/aisix/staging/models/1');
    assert.equal(!r.ok && r.errorKind, 'bad_key');
  });
  test('missing id or kind is a bad key', () => {
    for (const key of ['/aisix/models/', '/aisix/models', '/aisix/', '/aisix//x', '/aisix']) {
      const r = parseKey('/aisix', key);
      assert.equal(!r.ok && r.errorKind, 'bad_key', key);
    }
  });
  test('unknown kind keeps its segment and id', () => {
    assert.deepEqual(parseKey('/aisix', '/aisix/passthrough_routes/9'), {
      ok: false,
      errorKind: 'unknown_kind',
      kind: 'passthrough_routes',
      id: '9',
    });
  });
  test('apikeys is an admin alias, not an etcd kind', () => {
    const r = parseKey('/aisix', '/aisix/apikeys/1');
    assert.equal(!r.ok && r.errorKind, 'unknown_kind');
  });
  test('prefix given with trailing slash parses the same', () => {
    assert.deepEqual(parseKey('/aisix/', '/aisix/models/1'), { ok: true, kind: 'models', id: '1' });
  });
});

describe('isValidResourceId', () => {
  test('accepts uuids and slugs', () => {
    assert.ok(isValidResourceId('6efd592d-a73b-573d-8e2c-e9e103692f92'));
    assert.ok(isValidResourceId('my_model.v2'));
    assert.ok(isValidResourceId('x'.repeat(256)));
  });
  test('rejects traversal, separators, encodings, whitespace, controls and long ids', () => {
    for (const id of [
      '',
      '.',
      '..',
      'a/b',
      '../x',
      'a\\b',
      'a%2fb',
      'a b',
      'a\tb',
      'a\nb',
      'a\u0000',
      'a\u007f',
      'a\u0085',
      'x'.repeat(257),
    ]) {
      assert.equal(isValidResourceId(id), false, JSON.stringify(id));
    }
  });
});

describe('isAddressableResourceId', () => {
  test('accepts what a direct writer may choose', () => {
    for (const id of ['team/g1', 'a b', 'a%b', 'a%2fb', 'x'.repeat(300), 'a//b', 'v1.2', '...', 'ü']) {
      assert.ok(isAddressableResourceId(id), JSON.stringify(id));
    }
  });
  test('refuses traversal segments, controls, empty and over-long ids', () => {
    for (const id of [
      '',
      '.',
      '..',
      '../x',
      'a/../b',
      'a/.',
      'a\u0000',
      'a\nb',
      'a\u007f',
      'a\u0085',
      'x'.repeat(4097),
    ]) {
      assert.equal(isAddressableResourceId(id), false, JSON.stringify(id));
    }
  });
});
