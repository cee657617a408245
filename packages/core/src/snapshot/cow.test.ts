import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SnapshotBuilder } from './builder.js';
import { apiKey, entry, hashOf, model, P } from './test-helpers.js';
import type { ObservedEntry } from './types.js';

describe('copy-on-write', () => {
  test('a published snapshot is unchanged by later puts and deletes', () => {
    const b = new SnapshotBuilder({ prefix: P });
    const s1 = b.resync([entry(`${P}/models/a`, model('a')), entry(`${P}/api_keys/k`, apiKey(hashOf(1)))], 1);
    const models1 = s1.byId('models');
    const status1 = JSON.stringify(s1.status);
    b.put(entry(`${P}/models/b`, model('b'), 2));
    b.put(entry(`${P}/models/a`, model('a', { timeout: 9 }), 3));
    b.delete(`${P}/api_keys/k`, 4);
    b.put(entry(`${P}/models/a`, 'broken', 5));
    assert.equal(s1.byId('models'), models1);
    assert.deepEqual([...models1.keys()], ['a']);
    assert.equal(models1.get('a')?.value.timeout, undefined);
    assert.equal(s1.apiKeysByHash.get(hashOf(1))?.id, 'k');
    assert.equal(s1.revision, 1);
    assert.equal(JSON.stringify(s1.status), status1);
    const s5 = b.current;
    assert.deepEqual([...s5.byId('models').keys()].sort(), ['a', 'b']);
    assert.equal(s5.byId('models').get('a')?.value.timeout, 9, 'pinned last good');
  });

  test('kinds not touched by a put are shared, not copied', () => {
    const b = new SnapshotBuilder({ prefix: P });
    const s1 = b.resync([entry(`${P}/models/a`, model('a')), entry(`${P}/api_keys/k`, apiKey(hashOf(1)))], 1);
    const s2 = b.put(entry(`${P}/api_keys/k2`, apiKey(hashOf(2)), 2));
    assert.equal(s2.byId('models'), s1.byId('models'));
    assert.equal(s2.modelsByAlias, s1.modelsByAlias);
    assert.notEqual(s2.byId('api_keys'), s1.byId('api_keys'));
  });

  test('published structures are read-only', () => {
    const s = new SnapshotBuilder({ prefix: P }).resync([entry(`${P}/models/a`, model('a'))], 1);
    const map = s.byId('models') as Map<string, unknown>;
    assert.throws(() => map.set('x', 1), TypeError);
    assert.throws(() => map.delete('a'), TypeError);
    assert.throws(() => (s.modelsByAlias as Map<string, unknown>).clear(), TypeError);
    const r = s.byId('models').get('a')!;
    assert.ok(
      Object.isFrozen(r) && Object.isFrozen(r.value) && Object.isFrozen(s) && Object.isFrozen(s.status),
    );
    assert.throws(() => {
      (r.value as Record<string, unknown>).display_name = 'hijack';
    }, TypeError);
    assert.ok(Object.isFrozen(s.wildcardModels) && Object.isFrozen(s.status.rejected));
  });
});

describe('scale (diagnostics only; speed is asserted in bench/)', () => {
  test('10,000 models + 100,000 api keys: resync, then incremental puts', (t) => {
    const es: ObservedEntry[] = [];
    for (let i = 0; i < 10_000; i++) es.push(entry(`${P}/models/m${i}`, model(`model-${i}`), i + 1));
    for (let i = 0; i < 100_000; i++) es.push(entry(`${P}/api_keys/k${i}`, apiKey(hashOf(i)), i + 1));
    const b = new SnapshotBuilder({ prefix: P });
    let t0 = performance.now();
    const s = b.resync(es, 200_000);
    t.diagnostic(`resync 110k entries: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(s.status.resource_counts.models, 10_000);
    assert.equal(s.status.resource_counts.api_keys, 100_000);
    t0 = performance.now();
    void s.status.config_hash;
    t.diagnostic(`first config_hash: ${(performance.now() - t0).toFixed(0)} ms`);
    const n = 20;
    t0 = performance.now();
    for (let i = 0; i < n; i++)
      b.put(entry(`${P}/api_keys/new${i}`, apiKey(hashOf(500_000 + i)), 200_001 + i));
    t.diagnostic(`api-key put (100k-entry kind): ${((performance.now() - t0) / n).toFixed(1)} ms each`);
    t0 = performance.now();
    for (let i = 0; i < n; i++) b.put(entry(`${P}/models/new${i}`, model(`new-${i}`), 300_001 + i));
    t.diagnostic(`model put (10k-entry kind): ${((performance.now() - t0) / n).toFixed(1)} ms each`);
    assert.equal(b.current.apiKeysByHash.get(hashOf(500_000))?.id, 'new0');
    assert.equal(b.current.status.resource_counts.api_keys, 100_000 + n);
    assert.equal(s.status.resource_counts.api_keys, 100_000, 'the old snapshot is untouched');
  });
});
