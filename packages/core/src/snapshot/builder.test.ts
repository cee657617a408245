import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KIND_NAMES } from '../kinds.js';
import { SnapshotBuilder } from './builder.js';
import { emptySnapshot } from './snapshot.js';
import { apiKey, clock, entry, hashOf, model, P, providerKey, T0 } from './test-helpers.js';
import type { ObservedEntry, RejectKind } from './types.js';

// kind null: the spec fixes only the id (empty) for keys that do not parse.
type Expect = 'green' | 'yellow' | { red: readonly RejectKind[]; kind: string | null; id: string };

// Characterization table: one labelled row per read-path outcome (control-plane §2.6).
const ROWS: readonly { label: string; e: ObservedEntry; expect: Expect }[] = [
  { label: 'valid direct model', e: entry(`${P}/models/m1`, model('m1')), expect: 'green' },
  { label: 'valid api key', e: entry(`${P}/api_keys/k1`, apiKey(hashOf(1))), expect: 'green' },
  { label: 'valid provider key', e: entry(`${P}/provider_keys/p1`, providerKey('p1')), expect: 'green' },
  {
    label: 'model with an unknown top-level field',
    e: entry(`${P}/models/m2`, model('m2', { quota_profile: 'gold' })),
    expect: 'yellow',
  },
  {
    label: 'not JSON',
    e: entry(`${P}/models/m3`, 'display_name: m3'),
    expect: { red: ['non_json'], kind: 'models', id: 'm3' },
  },
  {
    label: 'invalid UTF-8',
    e: entry(`${P}/models/m4`, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    expect: { red: ['non_json'], kind: 'models', id: 'm4' },
  },
  {
    label: 'JSON array instead of object',
    e: entry(`${P}/models/m5`, '[1,2]'),
    expect: { red: ['schema_failed', 'parse_failed'], kind: 'models', id: 'm5' },
  },
  {
    label: 'wrong type: display_name is a number',
    e: entry(`${P}/models/m6`, model('x', { display_name: 42 })),
    expect: { red: ['schema_failed', 'parse_failed'], kind: 'models', id: 'm6' },
  },
  {
    label: 'direct model without provider_key_id',
    e: entry(`${P}/models/m7`, { display_name: 'm7', provider: 'openai', model_name: 'x' }),
    expect: { red: ['schema_failed', 'parse_failed'], kind: 'models', id: 'm7' },
  },
  {
    // Any non-empty key_hash loads (control-plane §3.3: string ≥1); an empty one does not.
    label: 'api key hash empty',
    e: entry(`${P}/api_keys/k2`, apiKey('')),
    expect: { red: ['schema_failed', 'parse_failed'], kind: 'api_keys', id: 'k2' },
  },
  {
    // As both stores decode it (a GET answers 409): nothing could walk it without overflowing.
    label: 'document nested thousands of levels deep (in an unknown field)',
    e: entry(
      `${P}/guardrails/g1`,
      `{"name":"g1","kind":"keyword","patterns":[],"zz":${'{"a":['.repeat(5000)}1${']}'.repeat(5000)}}`,
    ),
    expect: { red: ['non_json'], kind: 'guardrails', id: 'g1' },
  },
  {
    label: 'unknown kind segment',
    e: entry(`${P}/teams/t1`, { name: 't1' }),
    expect: { red: ['unknown_kind'], kind: 'teams', id: 't1' },
  },
  {
    label: 'look-alike prefix without the delimiter',
    e: entry(`${P}models/m8`, model('m8')),
    expect: { red: ['bad_key'], kind: '', id: '' },
  },
  {
    label: 'empty id',
    e: entry(`${P}/models/`, model('m9')),
    expect: { red: ['bad_key'], kind: null, id: '' },
  },
];

describe('SnapshotBuilder: per-row outcomes', () => {
  for (const row of ROWS) {
    test(row.label, () => {
      const b = new SnapshotBuilder({ prefix: P, now: () => T0 });
      // One good row next to the row under test: a bad row must not take it down.
      const good = entry(`${P}/models/anchor`, model('anchor'));
      const s = b.resync([good, row.e], 7);
      assert.equal(s.byId('models').get('anchor')?.value.display_name, 'anchor');
      const served = [...KIND_NAMES].some((k) => [...s.byId(k).values()].some((r) => r.key === row.e.key));
      if (row.expect === 'green' || row.expect === 'yellow') {
        assert.equal(served, true);
        assert.deepEqual(s.status.rejected, []);
        const partial = s.status.partially_compatible;
        if (row.expect === 'green') assert.deepEqual(partial, []);
        else assert.deepEqual(partial, [{ resource_kind: 'models', field: 'quota_profile', count: 1 }]);
        assert.equal(s.status.state, 'synced');
        return;
      }
      assert.equal(served, false, 'a RED row is never served');
      assert.equal(s.status.rejected.length, 1);
      const r = s.status.rejected[0]!;
      assert.ok(row.expect.red.includes(r.last_error_kind), `got ${r.last_error_kind}`);
      if (row.expect.kind !== null) assert.equal(r.resource_kind, row.expect.kind);
      assert.equal(r.resource_id, row.expect.id);
      assert.equal(r.first_seen_at, '2026-08-11T10:00:00Z');
      assert.equal(r.last_seen_at, '2026-08-11T10:00:00Z');
      assert.equal(r.serving_stale_since, undefined);
      assert.equal(s.status.state, 'degraded');
    });
  }

  test('garbage never throws and is never served', () => {
    const b = new SnapshotBuilder({ prefix: P });
    const junk = ['', 'null', '"str"', '42', 'true', '{', '{"display_name":', '\u0000', '{}'.repeat(3)];
    const es = junk.map((j, i) => entry(`${P}/models/j${i}`, j));
    es.push(entry(`${P}/models/deep`, `${'['.repeat(5000)}${']'.repeat(5000)}`));
    es.push(entry('', '{}'), entry('/', '{}'), entry(P, '{}'), entry(`${P}/`, '{}'));
    const s = b.resync(es, 1);
    assert.equal(s.byId('models').size, 0);
    assert.equal(s.status.rejected.length, es.length);
    assert.equal(s.status.state, 'out_of_sync');
  });

  test('rejection messages never quote the value (it may be a secret)', () => {
    const secret = 'sk-live-DO-NOT-LEAK-123456';
    const b = new SnapshotBuilder({ prefix: P });
    const s = b.resync(
      [
        entry(`${P}/provider_keys/a`, `{"api_key":"${secret}",`),
        entry(`${P}/provider_keys/b`, providerKey('b', { api_key: secret, api_base: 12 })),
        entry(`${P}/provider_keys/c`, { display_name: secret }),
        entry(`${P}/provider_keys/d`, secret),
      ],
      1,
    );
    assert.ok(s.status.rejected.length >= 3);
    assert.doesNotMatch(JSON.stringify(s.status), /DO-NOT-LEAK/);
  });

  test('unknown fields aggregate per (kind, field) with counts, array indices as []', () => {
    const b = new SnapshotBuilder({ prefix: P });
    const s = b.resync(
      [
        entry(`${P}/api_keys/a`, apiKey(hashOf(1), { quota_profile: 'x' })),
        entry(`${P}/api_keys/b`, apiKey(hashOf(2), { quota_profile: 'y', tier: 1 })),
        entry(`${P}/models/m`, model('m')),
        entry(`${P}/models/g`, {
          display_name: 'g',
          routing: {
            targets: [
              { model: 'm', zz: 1 },
              { model: 'm', zz: 2 },
            ],
          },
        }),
      ],
      1,
    );
    assert.deepEqual(s.status.partially_compatible, [
      { resource_kind: 'api_keys', field: 'quota_profile', count: 2 },
      { resource_kind: 'api_keys', field: 'tier', count: 1 },
      { resource_kind: 'models', field: 'routing.targets[].zz', count: 1 },
    ]);
    assert.deepEqual(s.status.partially_compatible_resources, { api_keys: 2, models: 1 });
    const s2 = b.delete(`${P}/api_keys/b`, 2);
    assert.deepEqual(s2.status.partially_compatible, [
      { resource_kind: 'api_keys', field: 'quota_profile', count: 1 },
      { resource_kind: 'models', field: 'routing.targets[].zz', count: 1 },
    ]);
  });

  test('at most 64 unknown fields are recorded per row', () => {
    const extra: Record<string, number> = {};
    for (let i = 0; i < 100; i++) extra[`f${String(i).padStart(3, '0')}`] = i;
    const s = new SnapshotBuilder({ prefix: P }).resync([entry(`${P}/models/m`, model('m', extra))], 1);
    assert.equal(s.status.partially_compatible.length, 64);
  });
});

describe('SnapshotBuilder: last-known-good', () => {
  const good = (rev: number) => entry(`${P}/models/m1`, model('m1', { timeout: rev }), rev);
  const bad = (rev: number) => entry(`${P}/models/m1`, '{broken', rev);

  test('a served key receiving a RED value keeps serving its previous value', () => {
    const c = clock();
    const b = new SnapshotBuilder({ prefix: P, now: c.now });
    b.resync([good(2)], 2);
    c.advance(5_000);
    const s = b.put(bad(5));
    const served = s.byId('models').get('m1');
    assert.equal(served?.revision, 2);
    assert.equal(served?.value.timeout, 2);
    assert.equal(s.revision, 5);
    assert.equal(s.status.state, 'degraded');
    const row = s.status.rejected[0]!;
    assert.equal(row.last_error_kind, 'non_json');
    assert.equal(row.serving_stale_since, '2026-08-11T10:00:05Z');
    assert.equal(row.serving_stale_age_seconds, 0);
    assert.equal(s.status.resource_counts.models, 1);
    c.advance(12_000);
    const s2 = b.put(entry(`${P}/models/m1`, 'still broken', 6));
    const row2 = s2.status.rejected[0]!;
    assert.equal(row2.serving_stale_since, '2026-08-11T10:00:05Z', 'the pin keeps its start');
    assert.equal(row2.serving_stale_age_seconds, 12);
    assert.equal(row2.first_seen_at, '2026-08-11T10:00:05Z');
    assert.equal(row2.last_seen_at, '2026-08-11T10:00:17Z');
    assert.equal(s2.byId('models').get('m1')?.revision, 2);
    assert.deepEqual(
      b.observed().stale.map((x) => [x.key, x.revision, x.sinceUnixSecs]),
      [[`${P}/models/m1`, 2, T0 / 1000 + 5]],
    );
  });

  test('the pin ends on a clean load', () => {
    const b = new SnapshotBuilder({ prefix: P });
    b.resync([good(2)], 2);
    b.put(bad(3));
    const s = b.put(good(4));
    assert.equal(s.byId('models').get('m1')?.revision, 4);
    assert.deepEqual(s.status.rejected, []);
    assert.equal(s.status.state, 'synced');
    assert.deepEqual(b.observed().stale, []);
  });

  test('the pin ends on delete', () => {
    const b = new SnapshotBuilder({ prefix: P });
    b.resync([good(2)], 2);
    b.put(bad(3));
    const s = b.delete(`${P}/models/m1`, 4);
    assert.equal(s.byId('models').size, 0);
    assert.deepEqual(s.status.rejected, []);
    assert.equal(s.status.state, 'empty');
  });

  test('the pin ends when the key is absent from a resync, and survives a resync that still rejects it', () => {
    const c = clock();
    const b = new SnapshotBuilder({ prefix: P, now: c.now });
    b.resync([good(2)], 2);
    b.put(bad(3));
    c.advance(3_000);
    const kept = b.resync([bad(3)], 9);
    assert.equal(kept.byId('models').get('m1')?.revision, 2);
    assert.equal(kept.status.rejected[0]?.serving_stale_since, '2026-08-11T10:00:00Z');
    const gone = b.resync([], 10);
    assert.equal(gone.byId('models').size, 0);
    assert.deepEqual(gone.status.rejected, []);
  });

  test('a RED value for a key that never served is not served and shows no stale fields', () => {
    const b = new SnapshotBuilder({ prefix: P });
    b.resync([], 1);
    const s = b.put(bad(2));
    assert.equal(s.byId('models').size, 0);
    assert.equal(s.status.rejected[0]?.serving_stale_since, undefined);
    assert.equal(s.status.rejected[0]?.serving_stale_age_seconds, undefined);
    assert.equal(s.status.state, 'out_of_sync');
  });

  test('a resync can re-establish pins from cached stale values', () => {
    const b = new SnapshotBuilder({ prefix: P, now: () => T0 + 60_000 });
    const since = T0 / 1000;
    const s = b.resync([bad(3)], 3, [{ ...good(2), sinceUnixSecs: since }]);
    assert.equal(s.byId('models').get('m1')?.revision, 2);
    assert.equal(s.status.rejected[0]?.serving_stale_since, '2026-08-11T10:00:00Z');
    assert.equal(s.status.rejected[0]?.serving_stale_age_seconds, 60);
  });
});

describe('SnapshotBuilder: status', () => {
  test('state rules in order: never_loaded, out_of_sync, degraded, empty, synced', () => {
    assert.equal(emptySnapshot().status.state, 'never_loaded');
    assert.equal(emptySnapshot().loaded, false);
    const b = new SnapshotBuilder({ prefix: P });
    assert.equal(b.current.status.state, 'never_loaded');
    assert.equal(b.resync([], 1).status.state, 'empty');
    assert.equal(b.put(entry(`${P}/models/x`, 'nope', 2)).status.state, 'out_of_sync');
    assert.equal(b.put(entry(`${P}/models/m`, model('m'), 3)).status.state, 'degraded');
    assert.equal(b.delete(`${P}/models/x`, 4).status.state, 'synced');
    assert.equal(b.delete(`${P}/models/m`, 5).status.state, 'empty');
    assert.equal(b.current.loaded, true);
  });

  test('resource_counts lists every kind, zeros included', () => {
    const s = new SnapshotBuilder({ prefix: P }).resync(
      [entry(`${P}/models/m`, model('m')), entry(`${P}/api_keys/a`, apiKey(hashOf(1)))],
      1,
    );
    assert.deepEqual(Object.keys(s.status.resource_counts).sort(), [...KIND_NAMES].sort());
    for (const k of KIND_NAMES) {
      const want = k === 'models' || k === 'api_keys' ? 1 : 0;
      assert.equal(s.status.resource_counts[k], want, k);
    }
  });

  test('applied revision, applied_at and apply_seq (bumps only when served bytes change)', () => {
    const c = clock();
    const b = new SnapshotBuilder({ prefix: P, now: c.now });
    assert.equal(b.current.status.apply_seq, 0);
    assert.equal(b.current.status.applied_at, null);
    const s1 = b.resync([entry(`${P}/models/m`, model('m'), 3)], 3);
    assert.equal(s1.status.apply_seq, 1);
    assert.equal(s1.status.applied_revision, 3);
    assert.equal(s1.status.applied_at, '2026-08-11T10:00:00Z');
    c.advance(1_500);
    assert.equal(b.resync([entry(`${P}/models/m`, model('m'), 3)], 4).status.apply_seq, 1);
    const reformatted = entry(`${P}/models/m`, JSON.stringify(model('m'), null, 2), 5);
    assert.equal(b.put(reformatted).status.apply_seq, 1, 'same canonical JSON, same hash');
    assert.equal(
      b.put(entry(`${P}/models/z`, 'bad', 6)).status.apply_seq,
      1,
      'rejected, nothing served changed',
    );
    const s2 = b.put(entry(`${P}/models/m`, model('m', { timeout: 5 }), 7));
    assert.equal(s2.status.apply_seq, 2);
    assert.equal(s2.status.applied_revision, 7);
    assert.equal(s2.status.applied_at, '2026-08-11T10:00:01Z');
    assert.equal(b.delete(`${P}/models/m`, 8).status.apply_seq, 3);
    assert.equal(b.delete(`${P}/models/none`, 9).status.applied_revision, 9);
  });
});
