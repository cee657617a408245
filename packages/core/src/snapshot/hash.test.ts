import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { SnapshotBuilder } from './builder.js';
import { canonicalJson } from './hash.js';
import { apiKey, entry, hashOf, model, P } from './test-helpers.js';

/** The hash spelled out from the spec text, independent of the implementation. */
function specHash(lines: readonly [string, string | Uint8Array][]): string {
  const h = createHash('sha256');
  for (const [key, body] of [...lines].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    h.update(Buffer.from(key, 'utf8'));
    h.update(Buffer.from([0]));
    h.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
    h.update(Buffer.from('\n'));
  }
  return h.digest('hex');
}

describe('config hashes', () => {
  test('canonical JSON sorts keys recursively and drops whitespace', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }),
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    assert.equal(canonicalJson('x\n"'), '"x\\n\\""');
  });

  test('source_hash and config_hash follow the spec formula', () => {
    const m = entry(
      `${P}/models/m`,
      '{ "provider_key_id":"pk1", "display_name":"m","provider":"openai","model_name":"g" }',
    );
    const bad = entry(`${P}/models/x`, new Uint8Array([0xff, 0x00, 0x41]));
    const s = new SnapshotBuilder({ prefix: P }).resync([m, bad], 1);
    const canon = '{"display_name":"m","model_name":"g","provider":"openai","provider_key_id":"pk1"}';
    assert.equal(s.status.config_hash, specHash([[m.key, canon]]));
    assert.equal(
      s.status.source_hash,
      specHash([
        [m.key, canon],
        [bad.key, bad.value],
      ]),
    );
    assert.match(s.status.config_hash, /^[0-9a-f]{64}$/);
  });

  test('a clean load has config_hash == source_hash; the empty hash is SHA-256 of nothing', () => {
    const b = new SnapshotBuilder({ prefix: P });
    const empty = b.resync([], 1);
    assert.equal(empty.status.config_hash, createHash('sha256').digest('hex'));
    const s = b.resync([entry(`${P}/models/m`, model('m'))], 2);
    assert.equal(s.status.config_hash, s.status.source_hash);
  });

  test('hashes do not depend on entry order, key order or whitespace', () => {
    const docs = [
      entry(`${P}/models/a`, model('a')),
      entry(`${P}/models/b`, model('b')),
      entry(`${P}/api_keys/k`, apiKey(hashOf(1))),
      entry(`${P}/models/zz`, 'not json'),
    ];
    const s1 = new SnapshotBuilder({ prefix: P }).resync(docs, 1);
    const shuffled = [
      docs[3]!,
      docs[1]!,
      docs[2]!,
      entry(`${P}/models/a`, JSON.stringify(model('a'), null, 4)),
    ];
    const s2 = new SnapshotBuilder({ prefix: P }).resync(shuffled, 9);
    assert.equal(s1.status.source_hash, s2.status.source_hash);
    assert.equal(s1.status.config_hash, s2.status.config_hash);
    // The same set reached through watch events hashes the same as a full load.
    const b3 = new SnapshotBuilder({ prefix: P });
    b3.resync([], 0);
    for (const e of [...docs].reverse()) b3.put(e);
    assert.equal(b3.current.status.source_hash, s1.status.source_hash);
    assert.equal(b3.current.status.config_hash, s1.status.config_hash);
  });

  test('config_hash covers pinned last-good bytes; source_hash covers the rejected bytes', () => {
    const good = entry(`${P}/models/m`, model('m'), 2);
    const b = new SnapshotBuilder({ prefix: P });
    const before = b.resync([good], 2);
    const bad = entry(`${P}/models/m`, '{oops', 3);
    const after = b.put(bad);
    assert.equal(after.status.config_hash, before.status.config_hash);
    assert.notEqual(after.status.source_hash, before.status.source_hash);
    assert.equal(after.status.source_hash, specHash([[bad.key, bad.value]]));
    assert.equal(after.status.apply_seq, before.status.apply_seq);
  });
});
