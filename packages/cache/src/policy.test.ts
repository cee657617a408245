/**
 * Policy selection: most specific match wins (OP-11), lowest id breaks ties, disabled rows are
 * invisible, unparseable `applies_to` behaves as `all`; snapshots built by core's real builder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConfigSnapshot, SnapshotBuilder } from '@aisix/core';
import { compileCachePlan, parseAppliesTo } from './policy.js';

function snapshot(policies: Record<string, Record<string, unknown>>): ConfigSnapshot {
  const enc = new TextEncoder();
  const entries = Object.entries(policies).map(([id, doc]) => ({
    key: `/aisix/cache_policies/${id}`,
    value: enc.encode(JSON.stringify(doc)),
    revision: 1,
  }));
  const snap = new SnapshotBuilder({ prefix: '/aisix' }).resync(entries, 1);
  assert.deepEqual(snap.status.rejected, []);
  return snap;
}

describe('parseAppliesTo', () => {
  it('parses the three documented forms', () => {
    assert.deepEqual(parseAppliesTo('all'), { kind: 'all' });
    assert.deepEqual(parseAppliesTo('model:gpt-4o'), { kind: 'model', alias: 'gpt-4o' });
    assert.deepEqual(parseAppliesTo('model:mock/*'), { kind: 'model', alias: 'mock/*' });
    assert.deepEqual(parseAppliesTo('api_key:k1'), { kind: 'api_key', id: 'k1' });
    assert.deepEqual(parseAppliesTo('api_key:a:b'), { kind: 'api_key', id: 'a:b' });
  });

  it('treats anything else as all', () => {
    for (const raw of [
      '',
      'ALL',
      'model:',
      'model:  ',
      'api_key:',
      'Model:x',
      'key:k1',
      ':x',
      'gpt-4o',
      'model',
    ]) {
      assert.deepEqual(parseAppliesTo(raw), { kind: 'all' }, raw);
    }
  });
});

describe('compileCachePlan', () => {
  it('is undefined without enabled policies', () => {
    assert.equal(compileCachePlan(snapshot({})), undefined);
    assert.equal(compileCachePlan(snapshot({ p1: { name: 'off', enabled: false } })), undefined);
  });

  it('compiles defaults and semantic settings', () => {
    const plan = compileCachePlan(
      snapshot({
        p1: { name: 'defaults' },
        p2: {
          name: 'sem',
          applies_to: 'model:m',
          ttl_seconds: 60,
          scope: 'env',
          purge_generation: 3,
          semantic: { embedding_model: 'emb', threshold: 0.9, embedding_timeout_ms: 0 },
        },
      }),
    );
    assert.ok(plan);
    const [p1, p2] = plan.policies;
    assert.deepEqual(p1, {
      id: 'p1',
      name: 'defaults',
      appliesTo: { kind: 'all' },
      ttlSecs: 3600,
      backend: 'memory',
      scope: 'api_key',
      purgeGeneration: 0,
      semantic: undefined,
    });
    assert.equal(p2?.ttlSecs, 60);
    assert.equal(p2?.scope, 'env');
    assert.equal(p2?.purgeGeneration, 3);
    assert.deepEqual(p2?.semantic, {
      embeddingModel: 'emb',
      threshold: 0.9,
      embeddingTimeoutMs: undefined,
      maxEntries: 1000,
    });
    assert.deepEqual(plan.warnings, []);
  });

  it('picks the most specific match: api_key > model > all', () => {
    const plan = compileCachePlan(
      snapshot({
        a_all: { name: 'all' },
        b_model: { name: 'model', applies_to: 'model:gpt' },
        c_key: { name: 'key', applies_to: 'api_key:k1' },
      }),
    );
    assert.ok(plan);
    assert.equal(plan.select('gpt', 'k1')?.id, 'c_key');
    assert.equal(plan.select('other', 'k1')?.id, 'c_key');
    assert.equal(plan.select('gpt', 'k2')?.id, 'b_model');
    assert.equal(plan.select('other', 'k2')?.id, 'a_all');
  });

  it('returns undefined when nothing matches', () => {
    const plan = compileCachePlan(snapshot({ p: { name: 'model', applies_to: 'model:gpt' } }));
    assert.ok(plan);
    assert.equal(plan.select('claude', 'k1'), undefined);
    assert.equal(plan.select('gpt', 'k1')?.id, 'p');
  });

  it('breaks ties within one specificity by the lowest id, whatever the insertion order', () => {
    const plan = compileCachePlan(
      snapshot({
        zz: { name: 'z all' },
        m2: { name: 'm2', applies_to: 'model:gpt' },
        aa: { name: 'a all' },
        m1: { name: 'm1', applies_to: 'model:gpt' },
        k9: { name: 'k9', applies_to: 'api_key:k' },
        k10: { name: 'k10', applies_to: 'api_key:k' },
      }),
    );
    assert.ok(plan);
    assert.equal(plan.select('x', 'none')?.id, 'aa');
    assert.equal(plan.select('gpt', 'none')?.id, 'm1');
    // Code unit order: "k10" < "k9".
    assert.equal(plan.select('gpt', 'k')?.id, 'k10');
    assert.deepEqual(
      plan.policies.map((p) => p.id),
      ['aa', 'k10', 'k9', 'm1', 'm2', 'zz'],
    );
  });

  it('ignores disabled rows (a disabled specific row does not shadow an enabled broad one)', () => {
    const plan = compileCachePlan(
      snapshot({
        all: { name: 'all' },
        key: { name: 'key', applies_to: 'api_key:k1', enabled: false },
        model: { name: 'model', applies_to: 'model:gpt', enabled: false },
      }),
    );
    assert.ok(plan);
    assert.equal(plan.select('gpt', 'k1')?.id, 'all');
    assert.deepEqual(
      plan.policies.map((p) => p.id),
      ['all'],
    );
  });

  it('treats an unparseable applies_to as all, with a warning', () => {
    const plan = compileCachePlan(
      snapshot({
        b: { name: 'typo', applies_to: 'modle:gpt' },
        c: { name: 'empty alias', applies_to: 'model:' },
      }),
    );
    assert.ok(plan);
    assert.equal(plan.select('anything', 'k')?.id, 'b');
    assert.deepEqual(plan.policies[1]?.appliesTo, { kind: 'all' });
    assert.equal(plan.warnings.length, 2);
    assert.match(plan.warnings[0]!, /cache policy b \(typo\): applies_to "modle:gpt"/);
  });

  it('warns that a semantic block on a redis policy needs vector search', () => {
    const plan = compileCachePlan(
      snapshot({
        p: {
          name: 'r',
          backend: 'redis',
          semantic: { embedding_model: 'e', threshold: 0.95, max_entries: 5 },
        },
      }),
    );
    assert.ok(plan);
    assert.equal(plan.policies[0]?.backend, 'redis');
    assert.equal(plan.policies[0]?.semantic?.maxEntries, 5);
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0]!, /vector search/);
  });

  it('memoises the plan per snapshot', () => {
    const snap = snapshot({ p: { name: 'p' } });
    assert.equal(compileCachePlan(snap), compileCachePlan(snap));
    const empty = snapshot({});
    assert.equal(compileCachePlan(empty), undefined);
    assert.equal(compileCachePlan(empty), undefined);
  });
});
